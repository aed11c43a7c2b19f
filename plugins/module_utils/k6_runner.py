# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One k6 run, start to verdict: validation, inspect, limits, process supervision, parsing.

Private to the loadops.k6 collection: no stability promise outside it. Ansible-free so that it
can be unit-tested and benchmarked directly; plugins/modules/k6_run.py only adapts it.
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
from . import k6_limits as limits
from . import k6_summary as summ

VERDICTS = ("passed", "thresholds_failed", "aborted", "script_failed", "script_error",
            "config_error", "oom_killed", "timeout", "interrupted", "k6_error")

# Rough per-VU memory of a plain HTTP script in k6 1.x plus the process's own base.
MEMORY_PER_VU = 6 * 1024 ** 2
MEMORY_BASE = 80 * 1024 ** 2
LOG_MAX_BYTES = 20 * 1024 ** 2
STOP_GRACE_S = 30
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_SEGMENT = re.compile(r"^\s*(\d+(?:\.\d+)?(?:/\d+)?%?)\s*$")
_INFLUX_WRITE_ERRORS = re.compile(r"(Couldn't write stats|failed to write|write failed|InfluxDB.*error)", re.I)


class RunError(Exception):
    """Bad input or environment; message names the value and what is allowed."""


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
        k6 = p.get("k6_path") or shutil.which("k6")
        if not k6:
            raise RunError("k6 is not installed on the load machine (no k6 on PATH); install it with the "
                           "loadops.k6.k6_runner role or set k6_path")
        if not (os.path.isfile(k6) and os.access(k6, os.X_OK)):
            raise RunError("k6_path %s is not an executable file" % k6)
        self.k6 = k6
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
        if not self.check_mode:
            try:
                os.makedirs(results_dir, exist_ok=True)
            except OSError as exc:
                raise RunError("results_dir %s cannot be created: %s" % (results_dir, exc.strerror))
            if not os.access(results_dir, os.W_OK | os.X_OK):
                raise RunError("results_dir %s is not writable by uid %d" % (results_dir, os.getuid()))
            if os.path.exists(self.run_dir):
                raise RunError("results for testid %s already exist in %s; use a new testid" % (self.testid, self.run_dir))

    # ----------------------------------------------------------------- helpers
    def _env(self, html_report=None):
        env = cmdlib.build_env(os.environ, self.p.get("env"), html_report)
        if html_report and "K6_WEB_DASHBOARD_PERIOD" not in (self.p.get("env") or {}):
            # The export is only written when at least one period has elapsed (measured, k6 1.1.0).
            env["K6_WEB_DASHBOARD_PERIOD"] = "1s"
        return env

    def k6_version(self):
        try:
            out = subprocess.run([self.k6, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r"v(\d+\.\d+\.\d+\S*)", out)
        return match.group(1) if match else out.strip() or None

    def inspect(self):
        argv = cmdlib.build_inspect_argv(self.k6, self.p["script"])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                              env=self._env(), cwd=os.path.dirname(os.path.abspath(self.p["script"])))
        if proc.returncode != 0:
            return proc.returncode, None, (proc.stderr or proc.stdout)
        data = json.loads(proc.stdout)
        info = cmdlib.parse_inspect(proc.stdout)
        info["thresholds"] = data.get("thresholds") or {}
        return 0, info, proc.stderr

    def memory_estimate(self, max_vus):
        return MEMORY_BASE + MEMORY_PER_VU * max(int(max_vus), 1)

    # ----------------------------------------------------------------- the run
    def run(self):
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
        artifacts = {
            "dir": self.run_dir,
            "summary": os.path.join(self.run_dir, "summary.json"),
            "log": os.path.join(self.run_dir, "k6.log"),
            "html_report": os.path.join(self.run_dir, "report.html") if self.p.get("html_report") else None,
        }
        argv = cmdlib.build_run_argv(
            self.k6, os.path.abspath(self.p["script"]), quiet=True,
            address=self.p.get("api_address") if self.p.get("api_address") is not None else "",
            tags=self.tags, outputs=self.p.get("outputs"), summary_export=artifacts["summary"],
            summary_trend_stats=self.p.get("summary_trend_stats"),
            execution_segment=self.p.get("execution_segment"),
            execution_segment_sequence=self.p.get("execution_segment_sequence"))
        result["cmd"] = cmdlib.render_cmd(argv, self.secrets)

        limiter_kind = self.p.get("limiter") or "auto"
        try:
            limiter = limits.select_limiter(limiter_kind, "loadops-k6-" + self.testid, self.memory_limit, self.cpu_limit)
            limiter.create()
        except limits.LimiterError as exc:
            if limiter_kind == "auto" and not self.memory_limit and not self.cpu_limit:
                self.warn("no limiter (%s); memory peak and OOM kills are not measured" % exc)
                limiter = limits.NoLimiter()
            else:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                raise RunError(str(exc))

        timed_out = False
        previous = {}
        try:
            def _forward(signum, frame):
                self.stop_reason = "interrupted"
                self._signal_group(signal.SIGTERM)

            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                previous[sig] = signal.signal(sig, _forward)
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=self._env(artifacts["html_report"]), cwd=os.path.dirname(os.path.abspath(self.p["script"])),
                preexec_fn=limiter.preexec, start_new_session=True)
            pump = _LogPump(self.proc.stdout, artifacts["log"])
            pump.start()
            timeout = self.p.get("timeout")
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._signal_group(signal.SIGTERM)
                try:
                    rc = self.proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    rc = self.proc.wait()
            pump.join(timeout=10)
            evidence = limiter.evidence()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
            leftovers = limiter.cleanup()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if leftovers:
            self.warn("killed %d process(es) k6 left behind: %s" % (len(leftovers), leftovers))

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

    def _signal_group(self, sig):
        if self.proc is None or self.proc.poll() is not None:
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
