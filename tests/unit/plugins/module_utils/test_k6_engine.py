# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_engine.py: Engine(params).run() through every verdict and
exit path, with a fake runner (canned real `k6 inspect` output of k6 1.1.0), a fake supervisor
(writes a real k6 1.1.0 summary export into the run dir), a fake wall clock and fake signal
handlers. The filesystem is pytest's tmp_path; no process is started."""

import json
import os
import shutil
import signal

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_limits, k6_process, k6_runners
from ansible_collections.loadops.k6.plugins.module_utils.k6_engine import Engine, memory_estimate
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import RunError
from ansible_collections.loadops.k6.plugins.module_utils.k6_supervise import (
    STOP_SIGNALS, Interrupted, Outcome, Supervisor)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "k6_1.1.0")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def fixture_json(name):
    return json.loads(fixture_text(name))


def inspect_ok(case):
    """(rc, stdout, stderr) of the real `k6 inspect` of a fixture script."""
    meta = fixture_json("inspect_%s.meta.json" % case)
    assert meta["rc"] == 0
    return 0, fixture_text("inspect_%s.json" % case), meta["stderr"]


def inspect_failed(case):
    meta = fixture_json("inspect_%s.meta.json" % case)
    assert meta["rc"] != 0
    return meta["rc"], "", meta["stderr"]


def k6_log(case):
    """The real stderr tail of a k6 1.1.0 run of a fixture case."""
    return "\n".join(fixture_json("%s.meta.json" % case)["stderr_tail"]) + "\n"


# ------------------------------------------------------------------------------ fakes
class FakeLimiter(k6_limits.Limiter):
    name = "fake"

    def create(self):
        pass

    def wrap(self, argv):
        return ["limit-wrapper"] + list(argv)

    def evidence(self):
        return self.blank_evidence()

    def cleanup(self):
        return []


class FakeRunner(k6_runners.Runner):
    """Canned `k6 inspect` answers, one per call; records what the engine asked of it."""

    name = "fake"
    LIMITERS = ("auto", "none")

    def __init__(self, inspects, check_error=None, limiter_error=None, on_version=None):
        super(FakeRunner, self).__init__(plan=None)
        self.inspects = list(inspects)
        self.check_error = check_error
        self.limiter_error = limiter_error
        self.on_version = on_version
        self.extra_envs = []
        self.calls = []
        self.limiter = None

    def check(self):
        self.calls.append("check")
        if self.check_error:
            raise self.check_error

    def version(self):
        self.calls.append("version")
        if self.on_version:
            self.on_version()
        return "1.1.0"

    def inspect(self, extra_env=None):
        self.calls.append("inspect")
        self.extra_envs.append(extra_env)
        return self.inspects.pop(0)

    @property
    def argv0(self):
        return "/opt/k6/bin/k6"

    def process_env(self, html_report=None):
        return {"PATH": "/usr/bin", "K6_WEB_DASHBOARD_EXPORT": html_report or ""}

    @property
    def cwd(self):
        return os.path.dirname(self.plan.script)

    def create_limiter(self, run_argv, artifacts):
        self.calls.append("create_limiter")
        if self.limiter_error:
            raise self.limiter_error
        self.limiter = FakeLimiter(self.plan.memory_limit, self.plan.cpu_limit)
        self.limiter.create()
        return self.limiter

    def release(self):
        self.calls.append("release")


class FakeSupervisor(object):
    """Plays k6: makes the limiter, 'runs' the command (writes the log and, when given, a real
    summary export where --summary-export points), returns a canned Outcome."""

    def __init__(self, rc=0, summary=None, log_tail="", stop_reason=None, evidence=None, leftovers=(),
                 problems=(), error=None, error_after_start=False):
        self.rc, self.summary, self.log_tail, self.stop_reason = rc, summary, log_tail, stop_reason
        self.evidence_over = dict(evidence or {})
        self.leftovers, self.problems = list(leftovers), list(problems)
        self.error, self.error_after_start = error, error_after_start
        self.process = None
        self.runs = []
        self.after_run = None  # callable(run_dir) after the 'run', e.g. to leave a broken summary

    def run(self, create_limiter, command_for, log_path, env=None, cwd=None, timeout=None, preexec_for=None, mask=None):
        limiter = create_limiter()
        argv = command_for(limiter)
        self.runs.append({"argv": argv, "log_path": log_path, "env": env, "cwd": cwd, "timeout": timeout})
        if self.error and not self.error_after_start:
            raise self.error
        self.process = "k6 started"
        with open(log_path, "w") as log:
            log.write(self.log_tail)
        if self.error:
            raise self.error
        if self.summary:
            shutil.copy(os.path.join(FIXTURES, "%s.summary.json" % self.summary),
                        argv[argv.index("--summary-export") + 1])
        if self.after_run:
            from pathlib import Path
            self.after_run(Path(os.path.dirname(log_path)))
        evidence = limiter.blank_evidence()
        evidence.update(self.evidence_over)
        return Outcome(self.rc, self.stop_reason, evidence, self.log_tail, self.leftovers, self.problems)


class FakeHandlers(object):
    """signal.signal stand-in: a table of handlers, starting with recognisable originals."""

    def __init__(self):
        self.table = dict((sig, "original-%d" % sig) for sig in STOP_SIGNALS)
        self.calls = []

    def __call__(self, sig, handler):
        self.calls.append((sig, handler))
        previous = self.table.get(sig)
        self.table[sig] = handler
        return previous

    def deliver(self, sig):
        self.table[sig](sig, None)

    def restored(self):
        return all(self.table[sig] == "original-%d" % sig for sig in STOP_SIGNALS)


class FakeRegistry(object):
    """Records registrations instead of writing the machine's state directory."""

    def __init__(self):
        self.events = []

    def register(self, testid):
        self.events.append(("register", testid))

    def unregister(self, testid):
        self.events.append(("unregister", testid))

    def active_now(self):
        registered = [t for e, t in self.events if e == "register"]
        gone = [t for e, t in self.events if e == "unregister"]
        return [t for t in registered if t not in gone]


class Setup(object):
    """An Engine over tmp_path with the fakes above."""

    def __init__(self, tmp_path, inspects=None, supervisor=None, check_mode=False, **params):
        self.tmp_path = tmp_path
        scripts = tmp_path / "scripts"
        scripts.mkdir()
        self.script = scripts / "load.js"
        self.script.write_text("export default function () {}\n")
        self.results = tmp_path / "results"
        self.params = {"script": str(self.script), "results_dir": str(self.results), "tags": {"testid": "t1"},
                       "timeout": 600}
        self.params.update(params)
        self.runner = FakeRunner(inspects or [inspect_ok("passed")])
        self.supervisors = []
        self.fake_supervisor = supervisor or FakeSupervisor(rc=0, summary="passed")
        self.handlers = FakeHandlers()
        self.times = iter([1000.0, 1012.5])
        self.warned = []
        self.registry = FakeRegistry()
        self.swept = []
        self.engine = Engine(self.params, check_mode=check_mode, warn=self.warned.append, choose=self.choose,
                             supervisor=self.make_supervisor, wall=lambda: next(self.times),
                             install_handler=self.handlers, registry=self.registry,
                             sweeper=lambda: self.swept.append(self.registry.active_now()))

    def choose(self, plan, warn=None):
        self.runner.plan = plan
        self.runner.warn = warn
        return self.runner

    def make_supervisor(self):
        self.supervisors.append(self.fake_supervisor)
        return self.fake_supervisor

    @property
    def run_dir(self):
        return self.results / "t1"

    def run(self):
        return self.engine.run()


# ------------------------------------------------------------------------------ passed
def test_passed_run_reports_verdict_thresholds_artifacts_and_is_not_failed(tmp_path):
    s = Setup(tmp_path)
    result = s.run()
    assert result["verdict"] == "passed"
    assert result["failed"] is False
    assert result["rc"] == 0
    assert result["changed"] is True
    assert result["testid"] == "t1"
    assert result["k6_version"] == "1.1.0"
    assert result["thresholds"] and all(t["passed"] for t in result["thresholds"])
    assert result["msg"] == "all %d thresholds held" % len(result["thresholds"])
    with open(os.path.join(FIXTURES, "inspect_passed.json")) as handle:
        declared = json.load(handle)["thresholds"]
    # Only the metrics with an abortOnFail threshold (a fleet run decides those on all machines' samples).
    abort = dict((k, v) for k, v in declared.items() if any(isinstance(i, dict) and i.get("abortOnFail") for i in v))
    assert list(abort) == ["iteration_duration{ scenario: default }"] and len(declared) > 1
    assert result["requirements"] == {"max_vus": 3, "total_duration_s": 34.0,
                                      "memory_estimate_bytes": memory_estimate(3), "abort_thresholds": abort}
    assert result["duration_s"] == 12.5
    assert result["warnings"] == []
    art = result["artifacts"]
    assert art["dir"] == str(s.run_dir)
    assert art["summary"] == str(s.run_dir / "summary.json") and os.path.isfile(art["summary"])
    assert art["log"] == str(s.run_dir / "k6.log")
    assert art["html_report"] is None  # k6 wrote no report in this fake run
    assert s.handlers.restored()


def test_run_command_and_process_settings_come_from_plan_and_runner(tmp_path):
    s = Setup(tmp_path, api_address="127.0.0.1:6565", timeout=90)
    result = s.run()
    run = s.fake_supervisor.runs[0]
    summary = str(s.run_dir / "summary.json")
    assert run["argv"][:3] == ["limit-wrapper", "/opt/k6/bin/k6", "run"]
    assert run["argv"][-1] == str(s.script)
    assert run["argv"][run["argv"].index("--summary-export") + 1] == summary
    assert run["argv"][run["argv"].index("--address") + 1] == "127.0.0.1:6565"
    assert "testid=t1" in run["argv"]
    assert run["log_path"] == str(s.run_dir / "k6.log")
    assert run["timeout"] == 90.0
    assert run["cwd"] == str(s.script.parent)
    assert run["env"]["K6_WEB_DASHBOARD_EXPORT"] == str(s.run_dir / "report.html")
    # the command for humans is the runner's shown_command (by default k6's own argv, unwrapped)
    assert result["cmd"].startswith("/opt/k6/bin/k6 run --quiet --address 127.0.0.1:6565 --tag testid=t1 ")
    assert s.runner.calls == ["check", "version", "inspect", "create_limiter", "release"]


# ------------------------------------------------------------------------------ thresholds
def test_thresholds_failed_with_fail_on_thresholds_is_failed(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_ok("thresholds_failed")],
              supervisor=FakeSupervisor(rc=99, summary="thresholds_failed", log_tail=k6_log("thresholds_failed")))
    result = s.run()
    assert result["verdict"] == "thresholds_failed"
    assert result["failed"] is True
    assert result["rc"] == 99
    crossed = [t for t in result["thresholds"] if not t["passed"]]
    assert [(t["metric"], t["expression"]) for t in crossed] == [("http_req_duration", "p(95)<0.001")]
    assert result["msg"] == "1 of %d thresholds crossed: http_req_duration p(95)<0.001" % len(result["thresholds"])


def test_thresholds_failed_without_fail_on_thresholds_is_not_failed_and_keeps_rc_99(tmp_path):
    # rc 99 alone would make Ansible fail the task: the explicit failed=False is what lets it pass
    s = Setup(tmp_path, inspects=[inspect_ok("thresholds_failed")], fail_on_thresholds=False,
              supervisor=FakeSupervisor(rc=99, summary="thresholds_failed", log_tail=k6_log("thresholds_failed")))
    result = s.run()
    assert result["verdict"] == "thresholds_failed"
    assert result["rc"] == 99
    assert result["failed"] is False


# ------------------------------------------------------------------------------ killed / stopped
@pytest.mark.parametrize("rc", [-9, 137])
def test_oom_kill_evidence_gives_oom_killed_and_names_the_memory_limit(tmp_path, rc):
    s = Setup(tmp_path, memory_limit="256m",
              supervisor=FakeSupervisor(rc=rc, evidence={"oom_killed": True, "memory_peak_bytes": 256 * 2 ** 20}))
    result = s.run()
    assert result["verdict"] == "oom_killed"
    assert result["failed"] is True
    assert result["rc"] == rc
    assert "memory_limit" in result["msg"]
    assert result["artifacts"]["summary"] is None  # a killed k6 writes none
    assert result["generator"]["saturated"] is True
    assert result["generator"]["reasons"] == ["k6 was OOM-killed at the 256 MiB memory limit"]


def test_timeout_stop_gives_timeout_verdict_with_the_summary_k6_wrote(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_ok("interrupted")], timeout=5,
              supervisor=FakeSupervisor(rc=105, summary="interrupted", stop_reason="timeout",
                                        log_tail=k6_log("interrupted")))
    result = s.run()
    assert result["verdict"] == "timeout"
    assert result["failed"] is True
    assert result["rc"] == 105
    assert "timeout" in result["msg"]
    assert result["artifacts"]["summary"] == str(s.run_dir / "summary.json")
    assert s.fake_supervisor.runs[0]["timeout"] == 5.0


def test_interrupt_gives_interrupted_verdict(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_ok("interrupted")],
              supervisor=FakeSupervisor(rc=105, summary="interrupted", stop_reason="interrupted",
                                        log_tail=k6_log("interrupted")))
    result = s.run()
    assert result["verdict"] == "interrupted"
    assert result["failed"] is True
    assert "interrupted" in result["msg"]


def test_k6_exit_105_without_a_stop_of_ours_is_still_interrupted(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=105, summary="interrupted", log_tail=k6_log("interrupted")))
    assert s.run()["verdict"] == "interrupted"


# ------------------------------------------------------------------------------ k6 missing
def test_k6_missing_raises_run_error_and_leaves_nothing_under_results_dir(tmp_path):
    s = Setup(tmp_path)
    s.runner.check_error = RunError("k6 is not installed on the load machine (no k6 on PATH)")
    with pytest.raises(RunError, match="k6 is not installed"):
        s.run()
    assert not s.results.exists()
    assert s.supervisors == []
    assert s.runner.calls == ["check"]
    assert s.handlers.restored()


def test_missing_script_is_refused_before_the_runner_is_asked(tmp_path):
    s = Setup(tmp_path)
    s.script.unlink()
    with pytest.raises(RunError, match="script .*load.js does not exist"):
        s.run()
    assert s.runner.calls == []
    assert not s.results.exists()


def test_existing_results_of_the_testid_are_refused_and_kept(tmp_path):
    s = Setup(tmp_path)
    s.run_dir.mkdir(parents=True)
    (s.run_dir / "summary.json").write_text("{}")
    with pytest.raises(RunError, match="results for testid t1 already exist"):
        s.run()
    assert (s.run_dir / "summary.json").read_text() == "{}"
    assert s.supervisors == []


# ------------------------------------------------------------------------------ summary missing
def test_summary_missing_with_rc_0_is_never_passed_but_k6_error_naming_the_summary(tmp_path):
    # k6 exits 0 when it cannot write its summary export: nothing was judged, so nothing passed.
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=0, summary=None))
    result = s.run()
    assert result["verdict"] == "k6_error"
    assert result["failed"] is True
    assert result["artifacts"]["summary"] is None
    assert result["thresholds"] == [] and result["metrics"] == {}
    assert "summary.json is missing or unreadable" in result["msg"] and str(s.run_dir) in result["msg"]


def test_an_unreadable_summary_is_never_passed(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=0, summary=None))
    s.fake_supervisor.after_run = lambda run_dir: (run_dir / "summary.json").write_text('{"metrics": {"trunc')
    result = s.run()
    assert result["verdict"] == "k6_error" and result["artifacts"]["summary"] is None


def test_the_run_registers_while_it_runs_and_sweeps_before_it_starts(tmp_path):
    s = Setup(tmp_path)
    s.run()
    assert s.registry.events == [("register", "t1"), ("unregister", "t1")]
    assert s.swept == [["t1"]]  # the sweep ran with this run already registered


def test_check_mode_neither_registers_nor_sweeps(tmp_path):
    s = Setup(tmp_path, check_mode=True)
    s.run()
    assert s.registry.events == [] and s.swept == []


# ------------------------------------------------------------------------------ inspect
def test_inspect_rejecting_the_script_is_script_error_and_makes_no_run_dir(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_failed("script_error")])
    result = s.run()
    assert result["verdict"] == "script_error"
    assert result["failed"] is True
    assert result["rc"] == 107
    assert result["msg"].startswith("k6 rejected the script before starting (script_error, rc 107): ")
    assert "capture: broken init code" in result["msg"]
    assert os.listdir(str(s.results)) == []
    assert s.supervisors == []


def test_inspect_refusing_options_without_vus_is_retried_with_one_vu_and_the_run_proceeds(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_failed("no_vus"), inspect_ok("no_vus_k6_vus_1")])
    result = s.run()
    assert s.runner.extra_envs == [None, {"K6_VUS": "1"}]
    assert result["requirements"]["max_vus"] == 1
    assert result["requirements"]["total_duration_s"] == 32.0
    assert len(s.fake_supervisor.runs) == 1
    assert result["verdict"] == "passed"


def test_inspect_without_vus_is_not_retried_when_the_user_set_k6_vus(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_failed("no_vus")], env={"K6_VUS": "0"})
    result = s.run()
    assert s.runner.extra_envs == [None]
    assert result["verdict"] == "config_error"
    assert result["rc"] == 104
    assert "the number of VUs must be more than 0" in result["msg"]
    assert s.supervisors == []


def test_memory_estimate_above_memory_limit_warns(tmp_path):
    s = Setup(tmp_path, memory_limit="64m")
    result = s.run()
    assert any("expect an OOM kill" in w and "3 VUs" in w for w in result["warnings"])
    assert s.warned == result["warnings"]


# ------------------------------------------------------------------------------ api_address
def test_exit_106_with_api_server_error_is_config_error_naming_api_address(tmp_path):
    meta = fixture_json("api_in_use.meta.json")
    assert meta["rc"] == 106
    s = Setup(tmp_path, api_address="127.0.0.1:6565",
              supervisor=FakeSupervisor(rc=106, log_tail=meta["stderr"]))
    result = s.run()
    assert result["verdict"] == "config_error"
    assert result["failed"] is True
    assert result["rc"] == 106
    assert "api_address 127.0.0.1:6565" in result["msg"]
    assert "address already in use" in result["msg"]


def test_other_unknown_exit_codes_stay_k6_error(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=255, log_tail='level=error msg="something odd"\n'))
    result = s.run()
    assert result["verdict"] == "k6_error"
    assert result["msg"] == "k6 failed (rc 255): something odd"


# ------------------------------------------------------------------------------ check mode
def test_check_mode_inspects_but_runs_nothing_and_makes_no_directory(tmp_path):
    s = Setup(tmp_path, check_mode=True)
    result = s.run()
    assert result["verdict"] is None
    assert result["msg"].startswith("check mode: script is valid; 3 VUs at most, 34 s in all")
    assert result["requirements"]["max_vus"] == 3
    assert not s.results.exists()
    assert s.supervisors == []
    assert "create_limiter" not in s.runner.calls


def test_check_mode_still_reports_a_script_the_inspect_rejects(tmp_path):
    s = Setup(tmp_path, check_mode=True, inspects=[inspect_failed("script_error")])
    result = s.run()
    assert result["verdict"] == "script_error"
    assert result["failed"] is True
    assert not s.results.exists()


# ------------------------------------------------------------------------------ secrets
def test_secrets_are_masked_in_msg_and_cmd(tmp_path):
    log = 'time="x" level=error msg="login with token hunter2-token refused" hint="script exception"\n'
    s = Setup(tmp_path, env={"API_TOKEN": "hunter2-token"},
              outputs=["influxdb=http://k6:influx-pass@127.0.0.1:8086/k6"],
              supervisor=FakeSupervisor(rc=107, log_tail=log))
    result = s.run()
    assert result["verdict"] == "script_error"
    assert "hunter2-token" not in result["msg"] and "********" in result["msg"]
    # InfluxDB credentials travel in k6's environment, never on its command line.
    assert "influx-pass" not in result["cmd"] and "influxdb=http://127.0.0.1:8086/k6" in result["cmd"]
    started_env = s.fake_supervisor.runs[0]["env"]
    assert started_env["K6_INFLUXDB_USERNAME"] == "k6" and started_env["K6_INFLUXDB_PASSWORD"] == "influx-pass"


def test_secrets_are_masked_in_the_inspect_rejection_msg(tmp_path):
    s = Setup(tmp_path, env={"DB_PASSWORD": "pw-0123"},
              inspects=[(107, "", 'level=error msg="Error: cannot log in with pw-0123"\n')])
    result = s.run()
    assert "pw-0123" not in result["msg"]
    assert "cannot log in with ********" in result["msg"]


# ------------------------------------------------------------------------------ errors mid-way
def test_run_error_before_k6_started_removes_the_run_dir(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(error=RunError("limiter=cgroup cannot be made here")))
    with pytest.raises(RunError, match="cannot be made"):
        s.run()
    assert s.results.is_dir()
    assert not s.run_dir.exists()
    assert s.runner.calls[-1] == "release"
    assert s.handlers.restored()


def test_limiter_refusal_through_the_real_supervisor_removes_the_run_dir(tmp_path):
    s = Setup(tmp_path)
    s.runner.limiter_error = RunError("limiter=systemd needs systemd as PID 1")
    blocks = []
    real = Supervisor(start=lambda *a, **k: pytest.fail("k6 must not start"), install_handler=s.handlers,
                      block=lambda how, sigs: blocks.append(how))
    s.fake_supervisor = real
    with pytest.raises(RunError, match="needs systemd"):
        s.run()
    assert not s.run_dir.exists()
    assert blocks == [signal.SIG_BLOCK, signal.SIG_UNBLOCK]
    assert s.handlers.restored()


def test_run_error_after_k6_started_keeps_the_run_dir_with_its_log(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(log_tail="k6 said something\n", error_after_start=True,
                                                  error=RunError("lost track of k6")))
    with pytest.raises(RunError):
        s.run()
    assert (s.run_dir / "k6.log").read_text() == "k6 said something\n"


def test_signal_during_preparation_unwinds_with_interrupted_and_restores_handlers(tmp_path):
    s = Setup(tmp_path)
    s.runner.on_version = lambda: s.handlers.deliver(signal.SIGTERM)
    with pytest.raises(Interrupted, match="interrupted by signal %d" % signal.SIGTERM):
        s.run()
    assert s.supervisors == []
    assert os.listdir(str(s.results)) == []
    assert s.handlers.restored()


def test_signal_after_the_run_dir_was_made_but_before_k6_started_removes_it(tmp_path):
    s = Setup(tmp_path)

    def signalled(*args, **kwargs):
        s.handlers.deliver(signal.SIGINT)

    s.runner.process_env = signalled  # asked between making the run dir and starting the supervisor
    with pytest.raises(Interrupted):
        s.run()
    assert s.results.is_dir() and not s.run_dir.exists()


# ------------------------------------------------------------------------------ warnings
def test_cleanup_problems_and_leftovers_become_warnings(tmp_path):
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=0, summary="passed", leftovers=[4242],
                                                  problems=["cgroup /x could not be removed: busy"]))
    result = s.run()
    assert result["warnings"] == ["cgroup /x could not be removed: busy",
                                  "killed 1 process(es) k6 left behind: [4242]"]
    assert s.warned == result["warnings"]


def test_output_write_errors_on_a_passed_run_warn(tmp_path):
    log = 'level=error msg="Couldn\'t write stats" output=InfluxDBv1 error="connection refused"\n'
    s = Setup(tmp_path, supervisor=FakeSupervisor(rc=0, summary="passed", log_tail=log))
    result = s.run()
    assert result["verdict"] == "passed"
    assert any("could not write some metrics" in w for w in result["warnings"])


# ------------------------------------------------------------------------------ with the real Supervisor
class ScriptedProcess(object):
    """A k6 that ignores nothing: wait() times out once, then exits 105 after the stop."""

    def __init__(self, summary_path, waits, clock=None):
        self.summary_path = summary_path
        self.clock = clock if clock is not None else [0.0]  # a timed-out wait lets it run its timeout
        self.waits = list(waits)
        self.returncode = None
        self.pid = 1234
        self.signals = []

    def wait(self, timeout=None):
        step = self.waits.pop(0)
        if step is None:
            self.clock[0] += timeout or 0
            raise k6_process.TimedOut()
        shutil.copy(os.path.join(FIXTURES, "interrupted.summary.json"), self.summary_path)
        self.returncode = step
        return step

    def signal(self, sig):
        self.signals.append(sig)

    def finish_log(self, timeout=10):
        return k6_log("interrupted")

    def log_problem(self):
        return None

    def cpu_seconds(self):
        return 4.5

    def kill_and_reap(self):
        raise AssertionError("a k6 that exited is not killed")


def test_engine_with_real_supervisor_times_out_stops_k6_and_reports_timeout(tmp_path):
    s = Setup(tmp_path, inspects=[inspect_ok("interrupted")], timeout=3)
    started = []
    clock = [0.0]

    def start(argv, log_path, env=None, cwd=None, preexec=None, mask=None):
        proc = ScriptedProcess(argv[argv.index("--summary-export") + 1], waits=[None, None, None, 105], clock=clock)
        started.append(proc)
        return proc

    s.fake_supervisor = Supervisor(start=start, install_handler=s.handlers, block=lambda how, sigs: None, grace=1,
                                   clock=lambda: clock[0])
    result = s.run()
    assert started[0].signals == [signal.SIGTERM]
    assert result["verdict"] == "timeout"
    assert result["rc"] == 105
    assert result["generator"]["cpu_seconds"] == 4.5
    assert result["artifacts"]["summary"] == str(s.run_dir / "summary.json")
    assert s.handlers.restored()


def test_k6_failing_to_start_is_a_clear_error_and_leaves_no_run_dir(tmp_path):
    s = Setup(tmp_path)

    def start(argv, log_path, env=None, cwd=None, preexec=None, mask=None):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    s.fake_supervisor = Supervisor(start=start, install_handler=s.handlers, block=lambda how, sigs: None)
    with pytest.raises(RunError, match="could not be started.*No such file"):
        s.run()
    assert not s.run_dir.exists()


# ------------------------------------------------------------------------------ local_thresholds=false (fleet runs)
class SamplesSupervisor(FakeSupervisor):
    """k6 with --no-thresholds: exits 0 whatever the samples say; it writes them to the sample pipe."""

    LINES = [b'{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time"},"metric":"http_req_duration"}',
             b'{"type":"Metric","data":{"name":"http_reqs","type":"counter","contains":"default"},"metric":"http_reqs"}']

    def run(self, create_limiter, command_for, log_path, **kwargs):
        outcome = super(SamplesSupervisor, self).run(create_limiter, command_for, log_path, **kwargs)
        argv = self.runs[-1]["argv"]
        pipe = [a.partition("=")[2] for a in argv if a.startswith("json=")][0]
        points = [b'{"metric":"%s","type":"Point","data":{"time":"2026-12-01T10:00:0%dZ","value":%d,"tags":{"name":"x"}}}'
                  % (metric, i, value) for i in range(5) for metric, value in ((b"http_req_duration", 4000), (b"http_reqs", 1))]
        with open(pipe, "wb") as handle:
            handle.write(b"\n".join(self.LINES + points) + b"\n")
        return outcome


def test_without_local_thresholds_k6_judges_none_and_loadops_judgement_decides(tmp_path):
    s = Setup(tmp_path, supervisor=SamplesSupervisor(rc=0, summary="passed"), local_thresholds=False)
    result = s.run()
    assert "--no-thresholds" in s.fake_supervisor.runs[0]["argv"]
    assert result["verdict"] == "thresholds_failed" and result["rc"] == 0 and result["failed"] is True
    judged = dict(((t["metric"], t["expression"]), t["passed"]) for t in result["thresholds"])
    assert judged[("http_req_duration", "max<3000")] is False and judged[("http_reqs", "count>10")] is False
    assert "--no-thresholds" in result["evaluator"]["note"] and result["evaluator"]["differences"] == []
    assert result["msg"].startswith("%d of %d thresholds crossed: " % (
        len([t for t in result["thresholds"] if t["passed"] is False]), len(result["thresholds"])))


def test_with_local_thresholds_k6_judges_and_no_thresholds_is_not_passed(tmp_path):
    s = Setup(tmp_path)
    s.run()
    assert "--no-thresholds" not in s.fake_supervisor.runs[0]["argv"]
