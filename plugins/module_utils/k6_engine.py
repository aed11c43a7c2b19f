# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One k6 test run, start to verdict, as stages that hand data forward:

    params --validate--> Plan --prepare--> Runner (checked) --inspect--> requirements
           --supervise--> Outcome --assemble--> result (verdict, thresholds, evidence, artifacts)

Private to the loadops.k6 collection: no stability promise outside it. Ansible-free, so it is
unit-tested with fakes (tests/unit/plugins/module_utils/test_k6_engine.py) and benchmarked
directly; plugins/modules/k6_run.py only adapts it.

  validate   k6_plan.validate: pure parameter checks
  prepare    the script and results_dir on this machine, the Runner (k6_runners / k6_docker) and
             its own checks (k6 installed, docker daemon and image, systemd)
  inspect    `k6 inspect --execution-requirements` through the runner: max VUs, duration
  supervise  k6_supervise.Supervisor: limiter (k6_limits.Limiter), process, signals, timeout, the
             controller's lease; k6_sweep first removes what killed runs left behind; meanwhile
             k6_samples reduces k6's sample stream (a named pipe) into reduction.json
  assemble   k6_summary parses the export; k6_evaluate gives endpoints, errors and its own judgement
             of the thresholds (compared with k6's); k6_result decides the verdict and says it
"""
from __future__ import annotations

import os
import shutil
import signal
import time

from . import k6_command as cmdlib
from . import k6_evaluate as evaluation
from . import k6_plan
from . import k6_result as results
from . import k6_samples as samples
from . import k6_summary as summ
from .k6_plan import RunError
from .k6_process import first_error
from .k6_runners import choose_runner
from .k6_supervise import STOP_SIGNALS, Interrupted, Lease, Supervisor
from .k6_sweep import Registry, sweep

# Rough per-VU memory of a plain HTTP script in k6 1.x plus the process's own base.
MEMORY_PER_VU = 6 * 1024 ** 2
MEMORY_BASE = 80 * 1024 ** 2
# `k6 inspect` refuses options that set only a duration or only iterations (no VUs); `k6 run`
# gives them one VU. The inspect is repeated with K6_VUS=1, which is what run assumes.
_NO_VUS = "scenario default has configuration errors: the number of VUs must be more than 0"


def memory_estimate(max_vus):
    return MEMORY_BASE + MEMORY_PER_VU * max(int(max_vus), 1)


class Engine(object):
    """Runs one test: Engine(params, check_mode).run() -> the module's result dict.

    Collaborators are parameters so tests can swap them: choose(plan, warn) -> Runner,
    supervisor() -> Supervisor, wall() -> epoch seconds, install_handler -> signal.signal.
    """

    def __init__(self, params, check_mode=False, warn=None, choose=choose_runner, supervisor=Supervisor,
                 wall=time.time, install_handler=signal.signal, registry=None, sweeper=None):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []
        self._warn_cb = warn
        self.choose = choose
        self.make_supervisor = supervisor
        self.wall = wall
        self.install_handler = install_handler
        self.registry = registry if registry is not None else Registry()
        self.sweeper = sweeper if sweeper is not None else self._sweep
        self.plan = None
        self.runner = None
        self.supervisor = None
        self.made_run_dir = False
        self.reduction = None

    def warn(self, text):
        self.warnings.append(text)
        if self._warn_cb:
            self._warn_cb(text)

    # ----------------------------------------------------------------- the whole run
    def run(self):
        """Until k6 starts, a stop signal unwinds the preparation (so every finally removes what it
        made); once k6 runs, the supervisor forwards it to k6 instead."""
        def _unwind(signum, frame):
            for sig in STOP_SIGNALS:  # one unwinding: further signals must not cut the cleanup short
                self.install_handler(sig, _noted)
            raise Interrupted("interrupted by signal %d before k6 started: nothing ran, nothing was left" % signum)

        def _noted(signum, frame):
            pass

        previous = dict((sig, self.install_handler(sig, _unwind)) for sig in STOP_SIGNALS)
        try:
            return self._stages()
        except RunError:
            if self.made_run_dir and (self.supervisor is None or self.supervisor.process is None):
                shutil.rmtree(self.plan.run_dir, ignore_errors=True)  # nothing ran: leave no trace of this run
            raise
        finally:
            for sig, handler in previous.items():
                self.install_handler(sig, handler)

    def _stages(self):
        started = self.wall()
        self.plan = k6_plan.validate(self.params, self.check_mode)
        self.runner = self.prepare(self.plan)
        result = {"changed": True, "testid": self.plan.testid, "k6_version": self.runner.version(),
                  "run_as_user": self.plan.run_as_user}
        rc, info, err = self.inspect()
        if rc != 0:
            verdict = results.verdict_from(rc, None, err)
            msg = "k6 rejected the script before starting (%s, rc %d): %s" % (verdict, rc, first_error(err))
            return self._finish(result, started, verdict, rc, err, msg)
        result["requirements"] = self.requirements(info)
        if self.check_mode:
            return self._planned(result)
        self.registry.register(self.plan.testid)
        try:
            self.sweeper()
            outcome, artifacts, cmd = self.supervise(info)
        finally:
            self.registry.unregister(self.plan.testid)
        result["cmd"] = cmd
        result.update(self.assemble(outcome, artifacts, info))
        verdict, msg = results.judge(outcome, result, self.plan)
        return self._finish(result, started, verdict, outcome.rc, outcome.log_tail, msg)

    def _sweep(self):
        """Leftovers of killed runs (their cgroups, scopes; containers when this run uses docker too)
        go before this run starts."""
        docker = shutil.which("docker") if self.runner.name == "docker" else None
        systemctl = shutil.which("systemctl") if os.path.isdir("/run/systemd/system") else None
        removed, problems = sweep(self.registry, docker_cli=docker, systemctl=systemctl)
        if removed:
            self.warn("removed what killed runs had left behind: %s" % ", ".join(removed))
        for text in problems:
            self.warn(text)

    # ----------------------------------------------------------------- prepare
    def prepare(self, plan):
        """The load machine's side of validation: script, results_dir, the runner's own checks."""
        if os.path.isdir(plan.script):
            raise RunError("script %s is a directory; give the path of a k6 .js file in it" % plan.script_given)
        if not os.path.isfile(plan.script):
            raise RunError("script %s does not exist on the load machine (give a path to a k6 .js file there)"
                           % plan.script_given)
        if not os.access(plan.script, os.R_OK):
            raise RunError("script %s is not readable by uid %d" % (plan.script_given, os.getuid()))
        runner = self.choose(plan, warn=self.warn)
        runner.check()
        if not plan.check_mode:
            self._check_results_dir(plan)
        return runner

    @staticmethod
    def _check_results_dir(plan):
        try:
            os.makedirs(plan.results_dir, exist_ok=True)
        except OSError as exc:
            raise RunError("results_dir %s cannot be created: %s" % (plan.results_dir, exc.strerror))
        if not os.path.isdir(plan.results_dir):
            raise RunError("results_dir %s is not a directory" % plan.results_dir)
        if not os.access(plan.results_dir, os.W_OK | os.X_OK):
            raise RunError("results_dir %s is not writable by uid %d" % (plan.results_dir, os.getuid()))
        if os.path.exists(plan.run_dir):
            raise RunError("results for testid %s already exist in %s; use a new testid" % (plan.testid, plan.run_dir))

    # ----------------------------------------------------------------- inspect
    def inspect(self):
        """(0, info, stderr) or (rc, None, error text) from `k6 inspect` through the runner."""
        rc, stdout, stderr = self.runner.inspect()
        if rc != 0 and _NO_VUS in (stderr or stdout or "") and "K6_VUS" not in self.plan.env:
            rc, stdout, stderr = self.runner.inspect({"K6_VUS": "1"})
        if rc != 0:
            return rc, None, (stderr or stdout)
        info = cmdlib.parse_inspect(stdout)
        self.runner.duration_s = info["total_duration_s"]
        return 0, info, stderr

    def requirements(self, info):
        est = memory_estimate(info["max_vus"])
        limit = self.plan.memory_limit
        if limit and est > limit:
            self.warn("the script peaks at %d VUs, estimated %d MiB, above memory_limit %d MiB: expect an OOM kill"
                      % (info["max_vus"], est // 2 ** 20, limit // 2 ** 20))
        return {"max_vus": info["max_vus"], "total_duration_s": info["total_duration_s"], "memory_estimate_bytes": est,
                "abort_thresholds": dict((metric, items) for metric, items in (info.get("thresholds") or {}).items()
                                         if any(isinstance(i, dict) and i.get("abortOnFail")
                                                for i in (items if isinstance(items, list) else [items])))}

    def _planned(self, result):
        req = result["requirements"]
        result["verdict"] = None
        result["failed"] = False
        result["msg"] = "check mode: script is valid; %d VUs at most, %.0f s in all, about %d MiB" % (
            req["max_vus"], req["total_duration_s"], req["memory_estimate_bytes"] // 2 ** 20)
        result["warnings"] = self.warnings
        return result

    # ----------------------------------------------------------------- supervise
    def artifacts(self):
        run_dir = self.plan.run_dir
        return {
            "dir": run_dir,
            "summary": os.path.join(run_dir, "summary.json"),
            "log": os.path.join(run_dir, "k6.log"),
            "html_report": os.path.join(run_dir, "report.html") if self.plan.html_report else None,
            "reduction": None,
            "samples": None,
        }

    def run_argv(self, artifacts, outputs):
        plan = self.plan
        return cmdlib.build_run_argv(
            self.runner.argv0, plan.script, quiet=True, address=plan.api_address, tags=plan.tags, outputs=outputs,
            summary_export=os.path.abspath(artifacts["summary"]), summary_trend_stats=plan.summary_trend_stats,
            execution_segment=plan.execution_segment, execution_segment_sequence=plan.execution_segment_sequence,
            paused=plan.paused, no_setup=plan.no_setup, no_teardown=plan.no_teardown,
            no_thresholds=not plan.local_thresholds, insecure_skip_tls_verify=not plan.validate_certs)

    def supervise(self, info):
        """k6 runs: (Outcome, artifacts, cmd for humans)."""
        os.makedirs(self.plan.run_dir, mode=0o700)
        os.chmod(self.plan.run_dir, 0o700)  # whatever the umask
        self.made_run_dir = True
        artifacts = self.artifacts()
        outputs, output_env = self.runner.split_outputs(self.plan.outputs)
        reader = self.start_samples(info)
        argv = self.run_argv(artifacts, outputs + (["json=" + reader.path] if reader else []))
        html = artifacts["html_report"] and os.path.abspath(artifacts["html_report"])
        shown = {}

        def create_limiter():
            limiter = self.runner.create_limiter(argv, dict(artifacts, output_env=output_env))
            shown["cmd"] = cmdlib.render_cmd(self.runner.shown_command(limiter, argv), self.plan.secrets)
            if reader is not None and os.geteuid() == 0:
                owner = os.stat(self.plan.run_dir)  # k6 may run as another user: the pipe is its to write
                reader.chown(owner.st_uid, owner.st_gid)
            return limiter

        lease = Lease(self.plan.lease_file, self.plan.lease_ttl) if self.plan.lease_file else None
        self.supervisor = self.make_supervisor()
        self.supervisor.lease = lease
        env = self.runner.process_env(html)
        if env is not None:
            env.update(output_env)
        try:
            if lease is not None:
                self._create_lease(lease)
            outcome = self.supervisor.run(create_limiter, lambda limiter: limiter.wrap(argv), artifacts["log"],
                                          env=env, cwd=self.runner.cwd, timeout=self.plan.timeout,
                                          preexec_for=self.runner.preexec, mask=cmdlib.line_masker(self.plan.secrets))
        finally:
            if lease is not None:
                lease.remove()
            self.runner.release()
            reduced = self.finish_samples(reader)
        if reduced is not None:
            self.reduction = reduced
            artifacts["reduction"] = samples.write(reduced, os.path.join(self.plan.run_dir, samples.REDUCTION_FILE),
                                                   testid=self.plan.testid)
        if reader is not None and reader.raw_path and os.path.exists(reader.raw_path):
            artifacts["samples"] = reader.raw_path
        for text in outcome.problems:
            self.warn(text)
        if outcome.leftovers:
            self.warn("killed %d process(es) k6 left behind: %s" % (len(outcome.leftovers), outcome.leftovers))
        return outcome, artifacts, shown.get("cmd")

    def start_samples(self, info):
        """The reader of k6's sample stream (a named pipe in the run's directory), or None."""
        if self.plan.samples == "off":
            return None
        keep = {"http_req_duration"} | {key.partition("{")[0] for key in (info.get("thresholds") or {})}
        run_dir = os.path.abspath(self.plan.run_dir)
        raw = os.path.join(run_dir, samples.RAW_SAMPLES_FILE) if self.plan.samples == "keep" else None
        reader = None
        try:
            live = None
            if self.plan.live_interval:
                live = (os.path.join(run_dir, samples.LIVE_FILE), self.plan.live_interval, self.plan.live_metrics)
            reader = samples.PipeReader(os.path.join(run_dir, samples.SAMPLES_PIPE), samples.Reducer(keep), raw,
                                        live=live)
            return reader.start()
        except OSError as exc:
            if reader is not None:
                reader.close()
            self.warn("k6's samples cannot be read (%s): no endpoints, errors or second judgement this run" % exc)
            return None

    def finish_samples(self, reader):
        if reader is None:
            return None
        reduced = reader.finish()
        if reader.live_problem:
            self.warn(reader.live_problem)
        if reader.problem:
            self.warn(reader.problem)
        elif reduced.bad_lines:
            self.warn("%d line(s) of k6's sample stream could not be read (a cut-off last line when k6 "
                      "was killed is one)" % reduced.bad_lines)
        return reduced

    @staticmethod
    def _create_lease(lease):
        try:
            lease.create()
        except OSError as exc:
            raise RunError("lease_file %s cannot be created: %s" % (lease.path, exc.strerror or exc))

    # ----------------------------------------------------------------- assemble
    def mask_artifacts(self):
        """k6's own files (summary, report, file outputs) carry what the script put in URLs and tags:
        secrets in them are masked before anything reads or fetches them."""
        for top, _dirs, files in os.walk(self.plan.run_dir):
            for name in files:
                try:
                    cmdlib.mask_file(os.path.join(top, name), self.plan.secrets)
                except (OSError, EOFError) as exc:
                    self.warn("could not mask secrets in %s: %s" % (name, exc))

    def assemble(self, outcome, artifacts, info):
        self.mask_artifacts()
        summary = summ.load_summary_file(artifacts["summary"])
        if summary is None:
            artifacts["summary"] = None
        if artifacts["html_report"] and not os.path.exists(artifacts["html_report"]):
            artifacts["html_report"] = None
        parsed = summ.parse_summary(summary, info["thresholds"]) if summary else {
            "thresholds": [], "checks": [], "metrics": {}, "endpoints": []}
        warning = results.write_errors_warning(outcome.rc, outcome.log_tail, artifacts["log"])
        if warning:
            self.warn(warning)
        parsed["generator"] = results.generator_health(outcome.evidence, parsed.get("metrics", {}))
        parsed["artifacts"] = artifacts
        if self.reduction is not None and self.reduction.samples:
            parsed.update(self.judge_samples(summary, info, parsed["thresholds"]))
        elif self.reduction is not None:
            parsed.update(errors=[], evaluator={"agrees": None, "compared": 0, "differences": [],
                                                "note": "k6 wrote no samples"})
        return parsed

    def judge_samples(self, summary, info, k6_thresholds):
        """Endpoints, failures by status, and every threshold judged again from the reduction."""
        reduction, secrets = self.reduction, self.plan.secrets
        endpoints = evaluation.endpoints(reduction)
        for entry in endpoints:
            entry["name"] = cmdlib.mask(entry["name"], secrets)
        errors = evaluation.errors(reduction)
        for entry in errors:
            entry["endpoint"], entry["error"] = cmdlib.mask(entry["endpoint"], secrets), cmdlib.mask(entry["error"], secrets)
        metrics = (summary or {}).get("metrics") or {}
        ours = evaluation.evaluate(reduction, info.get("thresholds"), evaluation.duration_ns_from(metrics, reduction),
                                   evaluation.kinds_from_export(metrics))
        judged = {"agrees": None, "compared": 0, "differences": []}
        if summary:
            differences, compared = evaluation.compare(k6_thresholds, ours)
            judged = {"agrees": not differences if (compared or differences) else None, "compared": compared,
                      "differences": differences}
        if not self.plan.local_thresholds:
            # k6 judged no threshold (--no-thresholds): ours are the run's thresholds
            judged = {"agrees": None, "compared": 0, "differences": [],
                      "note": "k6 ran with --no-thresholds (local_thresholds=false): loadops alone judged them"}
            return {"endpoints": endpoints, "errors": errors, "evaluator": judged, "thresholds": ours}
        if not summary:
            judged["thresholds"] = ours  # k6 wrote no summary: ours is the only judgement there is
        if judged["differences"]:
            self.warn("k6 and loadops judge the thresholds differently (did a k6 upgrade change its rules?): %s"
                      % "; ".join(judged["differences"]))
        return {"endpoints": endpoints, "errors": errors, "evaluator": judged}

    def _finish(self, result, started, verdict, rc, log_tail, msg=None):
        results.finish(result, verdict, rc, self.plan.fail_on_thresholds, log_tail, msg)
        result["msg"] = cmdlib.mask(result["msg"], self.plan.secrets)
        result["duration_s"] = round(self.wall() - started, 3)
        result["warnings"] = self.warnings
        return result
