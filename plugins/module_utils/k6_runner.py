# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One k6 run, start to verdict: validation, inspect, limits, process supervision, parsing.

Private to the loadops.k6 collection: no stability promise outside it. Ansible-free so that it
can be unit-tested and benchmarked directly; plugins/modules/k6_run.py only adapts it.

Two runners share this flow: `binary` starts k6 (optionally wrapped by a limiter, e.g.
`systemd-run --scope`) as our child; `docker` starts a container (k6_docker.DockerContainer,
which plays the limiter's part) and attaches to it.
"""
from __future__ import annotations

import datetime
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import threading
import time

from . import k6_command as cmdlib
from . import k6_docker as dock
from . import k6_limits as limits
from . import k6_summary as summ

RUNNERS = ("auto", "binary", "docker")
VERDICTS = ("passed", "thresholds_failed", "aborted", "script_failed", "script_error",
            "config_error", "oom_killed", "timeout", "interrupted", "k6_error")

# Rough per-VU memory of a plain HTTP script in k6 1.x plus the process's own base.
MEMORY_PER_VU = 6 * 1024 ** 2
MEMORY_BASE = 80 * 1024 ** 2
LOG_MAX_BYTES = 20 * 1024 ** 2
STOP_GRACE_S = 30
# A systemd scope's keeper outlives k6 by at most this much when the module itself is SIGKILLed.
KEEPER_MARGIN_S = 600
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_SEGMENT = re.compile(r"^\s*(\d+(?:\.\d+)?(?:/\d+)?%?)\s*$")
_INFLUX_WRITE_ERRORS = re.compile(r"(Couldn't write stats|failed to write|write failed|InfluxDB.*error)", re.I)


class RunError(Exception):
    """Bad input or environment; message names the value and what is allowed."""


class Interrupted(RunError):
    """SIGTERM/SIGINT/SIGHUP before k6 started: nothing ran, everything started was removed."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _fraction(text, what):
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise RunError("%s %r is not a fraction (use 0, 1/3, 0.5 or 50%%)" % (what, text))


def validate_segment(segment, sequence):
    """k6 needs the sequence for the parts to add up: demand it and check membership."""
    if not segment:
        if sequence:
            raise RunError("execution_segment_sequence is set but execution_segment is not")
        return
    if ":" not in segment:
        raise RunError("execution_segment %r must look like START:END, e.g. 0:1/3" % segment)
    start, end = (_fraction(p, "execution_segment") for p in segment.split(":", 1))
    if not 0 <= start < end <= 1:
        raise RunError("execution_segment %r must satisfy 0 <= start < end <= 1" % segment)
    if not sequence:
        raise RunError("execution_segment %r needs execution_segment_sequence (e.g. 0,1/3,2/3,1) so "
                       "that the runners' parts add up" % segment)
    points = [_fraction(p, "execution_segment_sequence") for p in sequence.split(",")]
    if points != sorted(points) or points[0] != 0 or points[-1] != 1:
        raise RunError("execution_segment_sequence %r must rise from 0 to 1" % sequence)
    if not any(abs(start - p) < 1e-9 for p in points) or not any(abs(end - p) < 1e-9 for p in points):
        raise RunError("execution_segment %r is not made of points of execution_segment_sequence %r" % (segment, sequence))


def new_testid(script):
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.splitext(os.path.basename(script))[0]).strip("-") or "run"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _i in range(4))
    return "%s-%s-%s" % (base, stamp, suffix)


class _LogPump(threading.Thread):
    """Copies k6's merged stdout/stderr to the log file, capped, keeping a tail in memory."""

    def __init__(self, stream, path, max_bytes=LOG_MAX_BYTES):
        super(_LogPump, self).__init__(daemon=True)
        self.stream, self.path, self.max_bytes = stream, path, max_bytes
        self.written, self.dropped = 0, 0
        self.tail = []

    def run(self):
        with open(self.path, "wb") as out:
            for line in iter(self.stream.readline, b""):
                self.tail.append(line)
                if len(self.tail) > 400:
                    del self.tail[:200]
                if self.written + len(line) <= self.max_bytes:
                    out.write(line)
                    self.written += len(line)
                else:
                    self.dropped += 1
            if self.dropped:
                out.write(b"[loadops.k6: %d further log lines dropped at the %d byte cap]\n" % (self.dropped, self.max_bytes))

    def tail_text(self):
        return b"".join(self.tail).decode("utf-8", "replace")


class K6Run(object):
    """Parameters as the module's argument spec defines them."""

    def __init__(self, params, check_mode=False, warn=None):
        self.p = dict(params)
        self.check_mode = check_mode
        self.warnings = []
        self._warn = warn
        self.proc = None
        self.stop_reason = None
        self.runner = None
        self.auto_runner = False
        self.limiter = None
        self.rusage = None
        self.made_run_dir = False
        self.systemd = None

    def warn(self, text):
        self.warnings.append(text)
        if self._warn:
            self._warn(text)

    # ----------------------------------------------------------------- validation
    def validate(self):
        p = self.p
        script = p["script"]
        if not os.path.isfile(script):
            raise RunError("script %s does not exist on the load machine (give a path to a k6 .js file there)" % script)
        if not os.access(script, os.R_OK):
            raise RunError("script %s is not readable by uid %d" % (script, os.getuid()))
        self.runner = self._pick_runner()
        try:
            limits.check_runner_limiter(self.runner, p.get("limiter") or "auto", p.get("memory_limit"), p.get("cpu_limit"))
        except limits.LimiterError as exc:
            raise RunError(str(exc))
        if self.runner == "binary":
            k6 = p.get("k6_path") or shutil.which("k6")
            if not k6:
                raise RunError("k6 is not installed on the load machine (no k6 on PATH); install it with the "
                               "loadops.k6.k6_runner role or set k6_path"
                               + (", or install docker for runner=docker" if self.auto_runner else ""))
            if not (os.path.isfile(k6) and os.access(k6, os.X_OK)):
                raise RunError("k6_path %s is not an executable file" % k6)
            self.k6 = k6
            if (p.get("limiter") or "auto") in ("auto", "systemd"):
                # Asked once, here, so that check mode also refuses limiter=systemd where it cannot work.
                self.systemd = limits.probe_systemd()
                if p.get("limiter") == "systemd" and not self.systemd[0]:
                    raise RunError("limiter=systemd needs systemd as PID 1 and a working systemd-run: %s; "
                                   "use limiter=cgroup (or auto) on this machine" % self.systemd[1])
        else:
            self.k6 = "k6"  # the image's
            self._validate_docker_inputs()
        try:
            self.memory_limit = cmdlib.parse_size(p["memory_limit"]) if p.get("memory_limit") not in (None, "") else None
            self.cpu_limit = cmdlib.parse_cpus(p["cpu_limit"]) if p.get("cpu_limit") not in (None, "") else None
        except ValueError as exc:
            raise RunError(str(exc))
        if p.get("timeout") is not None and p["timeout"] <= 0:
            raise RunError("timeout %r must be a positive number of seconds" % p["timeout"])
        tags = dict(p.get("tags") or {})
        for key in tags:
            if not _TAG_KEY.match(str(key)):
                raise RunError("tag name %r is not allowed; use letters, digits, '_', '.' and '-'" % key)
        self.testid = str(tags.get("testid") or new_testid(script))
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.testid):
            raise RunError("testid %r may only hold letters, digits, '_', '.' and '-' (it names a directory)" % self.testid)
        tags["testid"] = self.testid
        self.tags = tags
        for key in p.get("env") or {}:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                raise RunError("env name %r is not a valid environment variable name" % key)
        for output in p.get("outputs") or []:
            if not isinstance(output, str) or not re.match(r"^[a-z0-9-]+(=.*)?$", output):
                raise RunError("outputs entry %r must look like TYPE or TYPE=ARG (e.g. influxdb=http://127.0.0.1:8086/k6, json=out.json)" % (output,))
        validate_segment(p.get("execution_segment"), p.get("execution_segment_sequence"))
        self.secrets = cmdlib.secret_values(p.get("env"), p.get("outputs"))
        results_dir = p["results_dir"]
        self.run_dir = os.path.join(results_dir, self.testid)
        if self.runner == "docker":
            try:
                dock.check_file_outputs(p.get("outputs") or [], os.path.abspath(self.run_dir))
            except dock.DockerError as exc:
                raise RunError(str(exc))
        if not self.check_mode:
            try:
                os.makedirs(results_dir, exist_ok=True)
            except OSError as exc:
                raise RunError("results_dir %s cannot be created: %s" % (results_dir, exc.strerror))
            if not os.access(results_dir, os.W_OK | os.X_OK):
                raise RunError("results_dir %s is not writable by uid %d" % (results_dir, os.getuid()))
            if os.path.exists(self.run_dir):
                raise RunError("results for testid %s already exist in %s; use a new testid" % (self.testid, self.run_dir))
        if self.runner == "docker":
            self._validate_docker_machine()

    def _pick_runner(self):
        p = self.p
        runner = p.get("runner") or "auto"
        if runner not in RUNNERS:
            raise RunError("runner %r is not known; use one of %s" % (runner, ", ".join(RUNNERS)))
        if runner == "auto":
            self.auto_runner = True
            if p.get("k6_path") or shutil.which("k6") or not shutil.which("docker"):
                return "binary"
            return "docker"
        if runner == "docker" and p.get("k6_path"):
            raise RunError("k6_path %s is for runner=binary; runner=docker runs the k6 of image %s (drop k6_path, "
                           "or use runner=binary)" % (p["k6_path"], p.get("image") or dock.DEFAULT_IMAGE))
        return runner

    def _docker_prefix(self):
        return "no k6 binary on PATH, so runner=auto chose docker, but " if self.auto_runner else ""

    def _validate_docker_inputs(self):
        """Everything about runner=docker that needs no daemon."""
        p = self.p
        try:
            self.image = dock.validate_image(p.get("image") or dock.DEFAULT_IMAGE)
            script = os.path.realpath(p["script"])
            scripts_dir = os.path.realpath(p.get("scripts_dir") or os.path.dirname(script))
            if not os.path.isdir(scripts_dir):
                raise dock.DockerError("scripts_dir %s does not exist or is not a directory" % p.get("scripts_dir"))
            if not script.startswith(scripts_dir.rstrip("/") + "/"):
                raise dock.DockerError("script %s is outside scripts_dir %s: the container sees only scripts_dir "
                                       "(read-only), so move the script under it or widen scripts_dir" % (p["script"], scripts_dir))
            self.scripts_dir = dock.check_mount_path(scripts_dir, "scripts_dir")
            dock.check_mount_path(os.path.abspath(p["results_dir"]), "results_dir")
            dock.env_file_text(p.get("env") or {})
        except dock.DockerError as exc:
            raise RunError(str(exc))

    def _validate_docker_machine(self):
        """docker present, daemon answering, image here and able to read the script."""
        try:
            self.docker = dock.Docker()
            config = self.docker.image(self.image)
        except dock.DockerError as exc:
            raise RunError(self._docker_prefix() + str(exc))
        self.image_user = dock.parse_image_user(config.get("User"))
        self.docker_user = None
        if self.image_user is None or (self.image_user[0] != 0 and os.geteuid() != 0):
            # A named user we cannot map, or we cannot chown the results for it: run as ourselves.
            self.docker_user = "%d:%d" % (os.getuid(), os.getgid())
            self.image_user = (os.getuid(), os.getgid())
        uid, gid = self.image_user
        script = os.path.realpath(self.p["script"])
        where = os.path.dirname(script)
        unreadable = [] if dock.readable_by(script, uid, gid) else [script]
        while where.startswith(self.scripts_dir) and not unreadable:
            if not dock.readable_by(where, uid, gid, need_exec=True):
                unreadable.append(where)
            if where == self.scripts_dir:
                break
            where = os.path.dirname(where)
        if unreadable:
            raise RunError("script %s is not readable by uid %d, the user k6 runs as in image %s (%s has mode %04o); "
                           "make the scripts world-readable (chmod -R o+rX %s)"
                           % (self.p["script"], uid, self.image, unreadable[0], os.stat(unreadable[0]).st_mode & 0o7777,
                              self.scripts_dir))

    # ----------------------------------------------------------------- helpers
    def _env(self, html_report=None, base=None):
        env = cmdlib.build_env(os.environ if base is None else base, self.p.get("env"), html_report)
        if html_report and "K6_WEB_DASHBOARD_PERIOD" not in (self.p.get("env") or {}):
            # The export is only written when at least one period has elapsed (measured, k6 1.1.0).
            env["K6_WEB_DASHBOARD_PERIOD"] = "1s"
        return env

    def _docker_env(self, html_report=None, extra=None):
        """k6's environment in the container: ours and the user's, never the module's own."""
        env = self._env(html_report, base={})
        env.update(extra or {})
        return env

    def _prep_parent(self):
        """cgroup parent of the throw-away version/inspect containers (removed right after)."""
        if self.docker.cgroup_driver != "cgroupfs":
            return None
        return dock.own_cgroup().rstrip("/") + "/loadops-k6-%s-prep" % self.testid

    def _in_container(self, k6_args, what, timeout):
        parent = self._prep_parent()
        try:
            return dock.run_once(self.docker, self.image, k6_args, "loadops-k6-%s-%s" % (self.testid, what),
                                 self._docker_env(), cgroup_parent=parent, mounts=[(self.scripts_dir, "ro")],
                                 workdir=self.scripts_dir, timeout=timeout, testid=self.testid)
        finally:
            if parent:
                limits.remove_everywhere(parent)

    def k6_version(self):
        if self.runner == "docker":
            _rc, out, _err = self._in_container(["version"], "version", 60)
        else:
            try:
                out = subprocess.run([self.k6, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
            except (OSError, subprocess.TimeoutExpired):
                return None
        match = re.search(r"v(\d+\.\d+\.\d+\S*)", out)
        return match.group(1) if match else out.strip() or None

    def inspect(self):
        argv = cmdlib.build_inspect_argv(self.k6, os.path.abspath(self.p["script"]))
        if self.runner == "docker":
            rc, stdout, stderr = self._in_container(argv[1:], "inspect", 120)
            if rc != 0 and re.search(r"no such file|not found|cannot find", stderr or "", re.I):
                stderr = (stderr or "") + ("\n(runner=docker: the container sees only scripts_dir %s; set scripts_dir "
                                           "to the directory holding every file the script imports)" % self.scripts_dir)
        else:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                                  env=self._env(), cwd=os.path.dirname(os.path.abspath(self.p["script"])))
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        if rc != 0:
            return rc, None, (stderr or stdout)
        data = json.loads(stdout)
        info = cmdlib.parse_inspect(stdout)
        info["thresholds"] = data.get("thresholds") or {}
        return 0, info, stderr

    def memory_estimate(self, max_vus):
        return MEMORY_BASE + MEMORY_PER_VU * max(int(max_vus), 1)

    def _keeper_seconds(self, info):
        budget = self.p.get("timeout") or max(2 * info["total_duration_s"], info["total_duration_s"] + 600)
        return int(budget + STOP_GRACE_S + KEEPER_MARGIN_S)

    # ----------------------------------------------------------------- the run
    def run(self):
        """Until k6 starts, a stop signal unwinds the preparation (so the finally blocks remove any
        container or cgroup already made); once k6 runs, it is forwarded to k6 instead."""
        def _unwind(signum, frame):
            self.stop_reason = "interrupted"
            for sig in STOP_SIGNALS:  # one unwinding: further signals must not cut the cleanup short
                signal.signal(sig, _noted)
            raise Interrupted("interrupted by signal %d before k6 started: nothing ran, nothing was left" % signum)

        def _noted(signum, frame):
            self.stop_reason = "interrupted"

        previous = dict((sig, signal.signal(sig, _unwind)) for sig in STOP_SIGNALS)
        try:
            return self._run()
        except Interrupted:
            if self.made_run_dir and self.proc is None:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self):
        started = time.time()
        self.validate()
        result = {"changed": True, "testid": self.testid, "k6_version": self.k6_version(), "warnings": []}
        rc, info, err = self.inspect()
        if rc != 0:
            verdict = summ.verdict_from(rc, None, err)
            return self._finish(result, started, verdict=verdict, rc=rc, log_tail=err,
                                msg="k6 rejected the script before starting (%s, rc %d): %s" % (verdict, rc, _first_error(err)))
        est = self.memory_estimate(info["max_vus"])
        result["requirements"] = {"max_vus": info["max_vus"], "total_duration_s": info["total_duration_s"],
                                  "memory_estimate_bytes": est}
        if self.memory_limit and est > self.memory_limit:
            self.warn("the script peaks at %d VUs, estimated %d MiB, above memory_limit %d MiB: expect an OOM kill"
                      % (info["max_vus"], est // 2 ** 20, self.memory_limit // 2 ** 20))
        if self.check_mode:
            result["verdict"] = None
            result["msg"] = "check mode: script is valid; %d VUs at most, %.0f s in all, about %d MiB" % (
                info["max_vus"], info["total_duration_s"], est // 2 ** 20)
            result["changed"] = True
            result["warnings"] = self.warnings
            return result

        os.makedirs(self.run_dir)
        self.made_run_dir = True
        artifacts = {
            "dir": self.run_dir,
            "summary": os.path.join(self.run_dir, "summary.json"),
            "log": os.path.join(self.run_dir, "k6.log"),
            "html_report": os.path.join(self.run_dir, "report.html") if self.p.get("html_report") else None,
        }
        outputs, output_env = list(self.p.get("outputs") or []), {}
        if self.runner == "docker":
            # The container's argv is visible to `ps` and `docker inspect`: credentials go by env file.
            outputs, output_env = dock.move_influxdb_credentials(outputs)
        argv = cmdlib.build_run_argv(
            self.k6, os.path.abspath(self.p["script"]), quiet=True,
            address=self.p.get("api_address") if self.p.get("api_address") is not None else "",
            tags=self.tags, outputs=outputs, summary_export=os.path.abspath(artifacts["summary"]),
            summary_trend_stats=self.p.get("summary_trend_stats"),
            execution_segment=self.p.get("execution_segment"),
            execution_segment_sequence=self.p.get("execution_segment_sequence"))

        limiter_kind = self.p.get("limiter") or "auto"
        limiter = None
        if self.runner == "docker":
            container = self._container(argv, artifacts, output_env, limiter_kind)
            result["cmd"] = cmdlib.render_cmd(container.create_argv(), self.secrets)
            env, cwd = None, None
        else:
            result["cmd"] = cmdlib.render_cmd(argv, self.secrets)
            env, cwd = self._env(artifacts["html_report"]), os.path.dirname(os.path.abspath(self.p["script"]))

        timed_out = False
        pump = None
        evidence = {}
        leftovers = []

        def _forward(signum, frame):
            self.stop_reason = "interrupted"
            self._terminate()

        try:
            # Stop signals wait while the limiter (cgroup, scope check, container) comes into being
            # and the handlers change: none can strike between "made" and "known to the finally".
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                if self.runner == "docker":
                    limiter = self.limiter = container
                    try:
                        limiter.create()
                    except dock.DockerError as exc:
                        raise RunError(str(exc))
                else:
                    limiter = self.limiter = self._local_limiter(limiter_kind, info)
                # From here a stop signal reaches k6 (run() restores the caller's handlers at the end).
                for sig in STOP_SIGNALS:
                    signal.signal(sig, _forward)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending one lands in _forward
            if self.stop_reason:
                raise Interrupted("interrupted before k6 started: nothing ran, nothing was left")
            self.proc = subprocess.Popen(
                limiter.wrap(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=cwd, preexec_fn=limiter.preexec, start_new_session=True)
            pump = _LogPump(self.proc.stdout, artifacts["log"])
            pump.start()
            if self.stop_reason:  # the signal came while Popen was starting k6
                self._terminate()
            try:
                rc = self._wait(self.p.get("timeout"))
            except subprocess.TimeoutExpired:
                timed_out = True
                self._terminate()
                try:
                    rc = self._wait(STOP_GRACE_S + 10)
                except subprocess.TimeoutExpired:
                    self._kill()
                    rc = self._wait()
            pump.join(timeout=10)
            evidence = limiter.evidence()
        except RunError:
            if pump is None:  # nothing ran: leave no trace of this run
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self._kill()
                self.proc.wait()
            if limiter is not None:
                leftovers = limiter.cleanup()
                for text in getattr(limiter, "problems", []):
                    self.warn(text)
            if self.runner == "docker":
                self._chown_back()
        if leftovers:
            self.warn("killed %d process(es) k6 left behind: %s" % (len(leftovers), leftovers))
        if self.runner == "docker" and evidence.get("exit_code") is not None:
            rc = evidence["exit_code"]  # k6's, whatever became of the attached CLI
        if evidence.get("cpu_seconds") is None and self.rusage is not None and getattr(limiter, "measures_process", True):
            evidence["cpu_seconds"] = round(self.rusage.ru_utime + self.rusage.ru_stime, 3)

        log_tail = pump.tail_text()
        summary = summ.load_summary_file(artifacts["summary"])
        if summary is None:
            artifacts["summary"] = None
        if artifacts["html_report"] and not os.path.exists(artifacts["html_report"]):
            artifacts["html_report"] = None
        parsed = summ.parse_summary(summary, info["thresholds"]) if summary else {
            "thresholds": [], "checks": [], "metrics": {}, "endpoints": []}
        verdict = summ.verdict_from(rc, parsed["thresholds"], log_tail,
                                    oom_killed=evidence.get("oom_killed", False), timed_out=timed_out,
                                    interrupted=self.stop_reason == "interrupted")
        if _INFLUX_WRITE_ERRORS.search(log_tail) and rc == 0:
            self.warn("k6 could not write some metrics to an output (see %s): dashboards miss data from this run" % artifacts["log"])
        result.update(parsed)
        result["generator"] = self._generator(evidence, parsed.get("metrics", {}), info)
        result["artifacts"] = artifacts
        return self._finish(result, started, verdict=verdict, rc=rc, log_tail=log_tail)

    def _local_limiter(self, limiter_kind, info):
        """The limiter for a local k6; auto without limits falls back to none (with a warning)."""
        try:
            limiter = limits.select_limiter(limiter_kind, "loadops-k6-" + self.testid, self.memory_limit, self.cpu_limit,
                                            keeper_seconds=self._keeper_seconds(info),
                                            systemd_probe=(lambda: self.systemd) if self.systemd else None)
            limiter.create()
            return limiter
        except limits.LimiterError as exc:
            if limiter_kind == "auto" and not self.memory_limit and not self.cpu_limit \
                    and not isinstance(exc, limits.LimiterConflict):
                self.warn("no limiter (%s); memory peak and OOM kills are not measured" % exc)
                return limits.NoLimiter()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise RunError(str(exc))

    def _container(self, argv, artifacts, output_env, limiter_kind):
        run_dir = os.path.abspath(self.run_dir)
        uid, gid = self.image_user
        if self.docker_user is None and (uid, gid) != (os.getuid(), os.getgid()):
            os.chown(run_dir, uid, gid)  # k6 runs as the image's user and writes here
        env = self._docker_env(artifacts["html_report"] and os.path.abspath(artifacts["html_report"]), output_env)
        return dock.DockerContainer(
            self.docker, self.image, "loadops-k6-" + self.testid, argv[1:], env,
            memory_limit=self.memory_limit, cpu_limit=self.cpu_limit, limited=limiter_kind != "none",
            scripts_dir=self.scripts_dir, run_dir=run_dir, workdir=run_dir, user=self.docker_user, testid=self.testid)

    def _chown_back(self):
        """Files k6 wrote as the image's user go back to the module's user."""
        uid, gid = os.getuid(), os.getgid()
        if os.geteuid() != 0 or not os.path.isdir(self.run_dir):
            return
        for dirpath, _dirs, files in os.walk(self.run_dir):
            for path in [dirpath] + [os.path.join(dirpath, name) for name in files]:
                try:
                    os.lchown(path, uid, gid)
                except OSError:
                    pass

    def _wait(self, timeout=None):
        """Wait for k6 like Popen.wait, keeping its resource usage (CPU seconds without a cgroup)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while self.proc.returncode is None:
            try:
                pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by Popen.poll() in a signal handler
                return self.proc.wait()
            if pid:
                self.rusage = rusage
                self.proc.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.proc.args, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.proc.returncode

    def _terminate(self):
        """Ask k6 to stop (it writes its summary): SIGTERM, through docker for a container."""
        if self.proc is None or self.proc.returncode is not None:
            return
        if hasattr(self.limiter, "terminate"):
            self.limiter.terminate(STOP_GRACE_S)
        else:
            self._signal_group(signal.SIGTERM)

    def _kill(self):
        if hasattr(self.limiter, "kill"):
            self.limiter.kill()
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig):
        # returncode, not poll(): poll() would reap k6 and lose its rusage to _wait. An unreaped
        # k6 keeps its pid (and group), so the signal cannot reach a stranger.
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _generator(self, evidence, metrics, info):
        gen = dict(evidence)
        reasons = []
        if gen.get("oom_killed"):
            reasons.append("k6 was OOM-killed at the %s memory limit" % _mib(gen.get("memory_limit_bytes")))
        peak, limit = gen.get("memory_peak_bytes"), gen.get("memory_limit_bytes")
        if peak and limit and peak > 0.9 * limit and not gen.get("oom_killed"):
            reasons.append("memory peaked at %s of the %s limit" % (_mib(peak), _mib(limit)))
        throttled = gen.get("throttled_share")
        if throttled is not None and throttled > 0.2:
            reasons.append("CPU throttled in %d%% of scheduler periods at cpu_limit %s" % (round(throttled * 100), gen.get("cpu_limit")))
        dropped = metrics.get("dropped_iterations") or 0
        if dropped:
            reasons.append("%d iterations dropped: not enough VUs or CPU to keep the arrival rate" % dropped)
        gen["saturated"] = bool(reasons)
        gen["reasons"] = reasons
        return gen

    def _finish(self, result, started, verdict, rc, log_tail="", msg=None):
        result["verdict"] = verdict
        result["rc"] = rc
        result["duration_s"] = round(time.time() - started, 3)
        fail_on_thresholds = self.p.get("fail_on_thresholds", True)
        result["failed"] = verdict != "passed" and not (verdict == "thresholds_failed" and not fail_on_thresholds)
        if msg is None:
            msg = _verdict_sentence(verdict, result, log_tail)
        result["msg"] = cmdlib.mask(msg, self.secrets)
        result["warnings"] = self.warnings
        return result


def _mib(value):
    return "%d MiB" % (value // 2 ** 20) if value else "?"


def _first_error(text):
    for line in (text or "").splitlines():
        if "level=error" in line or "error" in line.lower():
            match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
            return match.group(1) if match else line.strip()
    return (text or "").strip().splitlines()[-1] if (text or "").strip() else "no message"


def _verdict_sentence(verdict, result, log_tail):
    failed = [t for t in result.get("thresholds", []) if not t.get("passed")]
    names = ", ".join("%s %s" % (t["metric"], t["expression"]) for t in failed[:5])
    return {
        "passed": "all %d thresholds held" % len(result.get("thresholds", [])),
        "thresholds_failed": "%d of %d thresholds crossed: %s" % (len(failed), len(result.get("thresholds", [])), names),
        "aborted": "the test was aborted early (abortOnFail threshold or exec.test.abort()): %s" % (names or _first_error(log_tail)),
        "script_failed": "the script called exec.test.fail(): %s" % _first_error(log_tail),
        "script_error": "the script failed to run: %s" % _first_error(log_tail),
        "config_error": "k6 rejected the options or thresholds: %s" % _first_error(log_tail),
        "oom_killed": "k6 was killed by the kernel's OOM killer at the memory limit; raise memory_limit or lower VUs",
        "timeout": "the run exceeded its timeout and was stopped",
        "interrupted": "the run was interrupted (SIGTERM/SIGINT) and stopped",
        "k6_error": "k6 failed (rc %s): %s" % (result.get("rc"), _first_error(log_tail)),
    }.get(verdict, "k6 ended with rc %s" % result.get("rc"))
