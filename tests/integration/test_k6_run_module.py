"""loadops.k6.k6_run against real k6 1.1.0, the real demo target and real cgroups."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from k6run_helpers import SCRIPTS, cgroups_named, finish, k6_processes, leftover_cgroups, run_module, start_module

MiB = 1024 ** 2


@pytest.fixture
def base_args(k6_bin, tmp_path):
    return {"k6_path": k6_bin, "results_dir": str(tmp_path / "results"), "html_report": False}


@pytest.fixture(autouse=True)
def nothing_left_behind():
    before = set(leftover_cgroups())
    yield
    assert set(leftover_cgroups()) - before == set(), "a run left a cgroup behind"


@pytest.fixture(autouse=True)
def no_run_cgroup_left_in_any_hierarchy():
    # Every hierarchy (memory, cpu, cpuacct, ...) under this test's own cgroup path: where we sit
    # at a hierarchy's root, the limiter nests the run's group under the memory path.
    before = set(cgroups_named("loadops-k6-"))
    yield
    assert set(cgroups_named("loadops-k6-")) - before == set(), "a run left a cgroup behind"


def _script(name):
    return str(SCRIPTS / name)


def test_passing_run_reports_every_threshold_as_held_with_observed_values(base_args, demo_target):
    args = dict(base_args, script=_script("ok.js"), env={"BASE": demo_target}, html_report=True,
                tags={"testid": "ok-run-1", "team": "ops"})
    result = run_module(args)
    assert result["verdict"] == "passed", result["msg"]
    assert not result.get("failed") and result["rc"] == 0
    by_metric = {t["metric"]: t for t in result["thresholds"]}
    assert set(by_metric) == {"http_req_duration{type:read}", "http_req_failed", "checks"}
    assert all(t["passed"] for t in result["thresholds"])
    assert by_metric["http_req_duration{type:read}"]["observed"]["stat"] == "p(95)"
    assert 0 < by_metric["http_req_duration{type:read}"]["observed"]["value"] < 500
    assert by_metric["http_req_failed"]["observed"]["value"] == 0
    assert result["checks"][0]["name"] == "health is 200" and result["checks"][0]["fails"] == 0
    assert result["metrics"]["requests"] > 5
    run_dir = Path(base_args["results_dir"]) / "ok-run-1"
    assert result["artifacts"]["dir"] == str(run_dir)
    for key in ("summary", "log", "html_report"):
        assert Path(result["artifacts"][key]).is_file() and Path(result["artifacts"][key]).stat().st_size > 0
    assert "--tag testid=ok-run-1" in result["cmd"] and "--tag team=ops" in result["cmd"]
    assert result["k6_version"] == "1.1.0"
    gen = result["generator"]
    assert gen["limiter"] == "cgroup" and gen["memory_peak_bytes"] > 0 and gen["saturated"] is False


def test_crossed_threshold_fails_with_verdict_thresholds_failed(base_args, demo_target_factory):
    slow = demo_target_factory("--latency", "/health/=60")
    result = run_module(dict(base_args, script=_script("ok.js"), env={"BASE": slow.url, "READ_P95": "30"}))
    assert result["failed"] is True and result["verdict"] == "thresholds_failed" and result["rc"] == 99
    crossed = [t for t in result["thresholds"] if not t["passed"]]
    assert [t["metric"] for t in crossed] == ["http_req_duration{type:read}"]
    assert crossed[0]["observed"]["value"] >= 60
    assert "http_req_duration{type:read} p(95)<30" in result["msg"]


def test_crossed_threshold_does_not_fail_the_task_when_fail_on_thresholds_is_false(base_args, demo_target_factory):
    slow = demo_target_factory("--latency", "/health/=60")
    result = run_module(dict(base_args, script=_script("ok.js"), fail_on_thresholds=False,
                             env={"BASE": slow.url, "READ_P95": "30"}))
    assert result["verdict"] == "thresholds_failed" and not result.get("failed")


@pytest.mark.parametrize("mode,verdict,rc", [("abort", "aborted", 108), ("fail", "script_failed", 110),
                                             ("throw_setup", "script_error", 107)])
def test_script_endings_map_to_their_verdicts(base_args, mode, verdict, rc):
    result = run_module(dict(base_args, script=_script("verdicts.js"), env={"MODE": mode}))
    assert (result["verdict"], result["rc"], result["failed"]) == (verdict, rc, True)


@pytest.mark.parametrize("script,verdict", [("bad_threshold.js", "config_error"), ("syntax_error.js", "script_error")])
def test_scripts_k6_rejects_fail_before_any_load_with_nothing_written(base_args, script, verdict):
    result = run_module(dict(base_args, script=_script(script)))
    assert result["verdict"] == verdict and result["failed"] is True
    assert "artifacts" not in result
    assert not Path(base_args["results_dir"]).exists() or not any(Path(base_args["results_dir"]).iterdir())


def test_memory_hog_is_oom_killed_and_reported_as_verdict_oom(base_args):
    result = run_module(dict(base_args, script=_script("memory_hog.js"), memory_limit="96m"))
    assert result["verdict"] == "oom_killed", (result["msg"], result["rc"])
    gen = result["generator"]
    assert gen["oom_killed"] is True and gen["memory_limit_bytes"] == 96 * MiB
    # The kernel's high-water mark may pass the limit by a page or a charge batch (seen: +4 KiB on
    # cgroup v1 once) before the OOM killer acts.
    assert 90 * MiB <= gen["memory_peak_bytes"] <= 96 * MiB + 256 * 1024
    assert gen["saturated"] is True and "OOM" in gen["reasons"][0]


def test_cpu_limit_keeps_k6_near_its_quota(base_args):
    result = run_module(dict(base_args, script=_script("busy.js"), cpu_limit="0.25", env={"SPIN_MS": "4000"}))
    assert result["verdict"] == "passed", result["msg"]
    gen = result["generator"]
    # Unlimited, a spinning VU burns ~4 CPU-seconds here; under 0.25 CPU it cannot pass ~0.25 x wall.
    assert gen["cpu_seconds"] <= 0.25 * result["duration_s"] * 1.3 + 0.2, gen
    assert gen["throttled_share"] > 0.5 and gen["saturated"] is True


def test_timeout_stops_k6_keeps_its_summary_and_reports_timeout(base_args):
    result = run_module(dict(base_args, script=_script("sleeper.js"), timeout=3, tags={"testid": "to-run"}))
    assert result["verdict"] == "timeout" and result["failed"] is True
    assert result["duration_s"] < 20
    assert result["artifacts"]["summary"] and json.loads(Path(result["artifacts"]["summary"]).read_text())["metrics"]
    assert k6_processes("to-run") == []


def test_sigterm_to_the_module_stops_k6_and_reports_interrupted(base_args):
    proc = start_module(dict(base_args, script=_script("sleeper.js"), tags={"testid": "sig-run"}))
    deadline = time.monotonic() + 20
    while not k6_processes("sig-run") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert k6_processes("sig-run"), "k6 never started"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, timeout=60)
    assert result["verdict"] == "interrupted" and result["rc"] == 105
    assert result["artifacts"]["summary"] is not None
    assert k6_processes("sig-run") == []


def test_check_mode_validates_and_estimates_without_running(base_args):
    result = run_module(dict(base_args, script=_script("sleeper.js"), memory_limit="64m"), check=True)
    assert result["verdict"] is None and not result.get("failed")
    assert result["requirements"]["max_vus"] == 1 and result["requirements"]["total_duration_s"] == 90
    assert result["requirements"]["memory_estimate_bytes"] > 64 * MiB
    assert any("expect an OOM kill" in w for w in result.get("warnings", []))
    assert not Path(base_args["results_dir"]).exists()


def test_check_mode_inspects_the_script_with_its_env_like_run_does(base_args):
    scenario = Path(__file__).resolve().parents[2] / "k6" / "scripts" / "scenarios" / "stress.js"
    full = run_module(dict(base_args, script=str(scenario)), check=True)
    scaled = run_module(dict(base_args, script=str(scenario), env={"K6_TIME_SCALE": "0.01", "K6_VU_SCALE": "0.1"}), check=True)
    assert full["requirements"]["max_vus"] == 200
    assert scaled["requirements"]["max_vus"] == 20
    assert scaled["requirements"]["total_duration_s"] < full["requirements"]["total_duration_s"] / 10


def test_secrets_never_appear_in_the_result(base_args, demo_target):
    args = dict(base_args, script=_script("ok.js"),
                env={"BASE": demo_target, "K6_TEST_USER_PASSWORD": "hunter2-secret-value"},
                outputs=["json=x.json", "influxdb=http://writer:pa55-secret@127.0.0.1:9/k6"])
    result = run_module(args)
    text = result["_stdout"]
    assert "hunter2-secret-value" not in text and "pa55-secret" not in text
    # The InfluxDB login travels in k6's environment: the command line holds neither user nor password.
    assert "influxdb=http://127.0.0.1:9/k6" in result["cmd"] and "writer" not in result["cmd"]


def test_influxdb_unreachable_warns_that_metrics_were_lost(base_args, demo_target, free_port):
    result = run_module(dict(base_args, script=_script("ok.js"), env={"BASE": demo_target},
                             outputs=["influxdb=http://127.0.0.1:%d/k6" % free_port]))
    assert result["verdict"] == "passed" and result["rc"] == 0
    assert any("metrics" in w and "output" in w for w in result.get("warnings", [])), result.get("warnings")


def test_target_down_reports_status_0_failures(base_args, free_port):
    result = run_module(dict(base_args, script=_script("ok.js"), env={"BASE": "http://127.0.0.1:%d" % free_port}))
    assert result["verdict"] == "thresholds_failed"
    failed = {t["metric"]: t for t in result["thresholds"] if not t["passed"]}
    assert failed["http_req_failed"]["observed"]["value"] == 1


BAD_INPUTS = [
    # (extra args, words the message must contain)
    ({"script": "/nonexistent/s.js"}, ["/nonexistent/s.js", "does not exist"]),
    ({"script": str(SCRIPTS)}, [str(SCRIPTS), "is a directory"]),
    ({"k6_path": "/nonexistent/k6"}, ["/nonexistent/k6", "not an executable"]),
    ({"k6_path": str(SCRIPTS / "ok.js")}, ["ok.js", "not an executable"]),
    ({"memory_limit": "2x"}, ["'2x'", "k, m, g"]),
    ({"memory_limit": "lots"}, ["'lots'", "512m"]),
    ({"memory_limit": "-1g"}, ["'-1g'"]),
    ({"memory_limit": "1m"}, ["'1m'", "below 32m"]),
    ({"cpu_limit": "0"}, ["cpu_limit", "'0'", "positive"]),
    ({"cpu_limit": "-2"}, ["cpu_limit", "'-2'"]),
    ({"cpu_limit": "two"}, ["cpu_limit", "'two'"]),
    ({"timeout": -5}, ["timeout", "-5", "positive"]),
    ({"tags": {"bad tag": "x"}}, ["'bad tag'", "letters"]),
    ({"tags": {"testid": "../escape"}}, ["'../escape'", "testid"]),
    ({"env": {"1BAD": "x"}}, ["'1BAD'", "environment variable"]),
    ({"outputs": ["Influx DB"]}, ["'Influx DB'", "TYPE=ARG"]),
    ({"execution_segment": "0:1/3"}, ["execution_segment_sequence"]),
    ({"execution_segment": "1/3", "execution_segment_sequence": "0,1/3,1"}, ["'1/3'", "START:END"]),
    ({"execution_segment": "0:1/4", "execution_segment_sequence": "0,1/3,2/3,1"}, ["'0:1/4'", "not made of points"]),
    ({"execution_segment": "2/3:1/3", "execution_segment_sequence": "0,1/3,2/3,1"}, ["start < end"]),
    ({"execution_segment": "0:1/3", "execution_segment_sequence": "0,1/0,1"}, ["not a fraction"]),
    ({"execution_segment": "0:1/2", "execution_segment_sequence": "0.5,1"}, ["rise from 0 to 1"]),
    ({"limiter": "none", "memory_limit": "256m"}, ["limiter=none"]),
    ({"limiter": "teleport"}, ["limiter", "teleport", "auto, cgroup, none"]),
    ({"runner": "kubernetes"}, ["runner", "kubernetes"]),
    ({"nosuchoption": 1}, ["nosuchoption"]),
    ({"execution_segment_sequence": "0,1"}, ["execution_segment_sequence", "execution_segment"]),
    # runner x limiter x image: refused before anything starts, with or without a docker daemon
    ({"limiter": "docker"}, ["limiter=docker", "needs runner=docker"]),
    ({"runner": "binary", "limiter": "docker"}, ["limiter=docker", "runner=binary"]),
    ({"runner": "docker", "k6_path": None, "limiter": "cgroup"}, ["limiter=cgroup", "runner=docker"]),
    ({"runner": "docker", "k6_path": None, "limiter": "systemd"}, ["limiter=systemd", "runner=docker"]),
    ({"runner": "docker", "k6_path": None, "limiter": "none", "memory_limit": "256m"}, ["limiter=none"]),
    ({"runner": "docker"}, ["k6_path", "is for runner=binary", "loadops/k6:1.1.0"]),
    ({"runner": "docker", "k6_path": None, "image": "--privileged"}, ["'--privileged'", "not a valid image reference"]),
    ({"runner": "docker", "k6_path": None, "image": "K6 Latest"}, ["'K6 Latest'", "not a valid image reference"]),
    ({"runner": "docker", "k6_path": None, "scripts_dir": "/nonexistent/scripts"}, ["scripts_dir", "/nonexistent/scripts"]),
    ({"runner": "docker", "k6_path": None, "scripts_dir": str(SCRIPTS.parent / "test_k6_run_module.py")},
     ["scripts_dir", "not a directory"]),
    ({"runner": "docker", "k6_path": None, "env": {"MULTI": "a\nb"}}, ["MULTI", "line break"]),
    ({"runner": "docker", "k6_path": None, "outputs": ["json=/tmp/elsewhere.json"]},
     ["json=/tmp/elsewhere.json", "outside the run's results directory"]),
    ({"runner": "podman"}, ["runner", "podman", "auto, binary, docker"]),
    ({"limiter": "cgroups"}, ["limiter", "cgroups", "systemd, docker"]),
] + ([] if os.path.isdir("/run/systemd/system") else [
    # No systemd as PID 1 (as on the project's test machines): limiter=systemd must say so (auto
    # quietly uses cgroups).
    ({"limiter": "systemd"}, ["limiter=systemd", "systemd as PID 1", "limiter=cgroup"]),
    ({"limiter": "systemd", "memory_limit": "128m"}, ["limiter=systemd", "/run/systemd/system"]),
])


@pytest.mark.parametrize("extra,words", BAD_INPUTS, ids=[str(sorted(e.items()))[:60] for e, _words in BAD_INPUTS])
def test_bad_input_gets_a_clear_message_and_leaves_nothing(base_args, extra, words):
    args = dict(base_args, script=_script("ok.js"), env={"BASE": "http://127.0.0.1:9"})
    args.update(extra)
    result = run_module(args)
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"] + result["_stderr"] and "internal error" not in result["msg"]
    results = Path(base_args["results_dir"])
    assert not results.exists() or list(results.iterdir()) == []


def test_unwritable_results_dir_is_named(base_args, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_module(dict(base_args, script=_script("ok.js"), results_dir=str(blocker / "results")))
    assert result["failed"] is True and str(blocker / "results") in result["msg"] and "cannot be created" in result["msg"]


def test_reusing_a_testid_is_refused_and_keeps_the_earlier_results(base_args, demo_target):
    args = dict(base_args, script=_script("ok.js"), env={"BASE": demo_target, "DURATION": "1s"}, tags={"testid": "same"})
    assert run_module(args)["verdict"] == "passed"
    summary = Path(base_args["results_dir"]) / "same" / "summary.json"
    before = summary.read_bytes()
    again = run_module(args)
    assert again["failed"] is True and "already exist" in again["msg"] and "same" in again["msg"]
    assert summary.read_bytes() == before


def test_sigterm_before_k6_starts_fails_as_interrupted_and_leaves_nothing(base_args):
    # slow_init.js keeps `k6 inspect` busy for 4 s: the signal lands before `k6 run` exists.
    proc = start_module(dict(base_args, script=_script("slow_init.js"), tags={"testid": "early-sig"}))
    deadline = time.monotonic() + 20
    while not k6_processes("slow_init.js") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert k6_processes("slow_init.js"), "k6 inspect never started"
    os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, timeout=60)
    assert result["failed"] is True and result["verdict"] == "interrupted", result["msg"]
    assert "before k6 started" in result["msg"] and "Traceback" not in result["_stderr"]
    assert k6_processes("slow_init.js") == []
    results = Path(base_args["results_dir"])
    assert not results.exists() or list(results.iterdir()) == []


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="this machine runs systemd as PID 1")
def test_check_mode_refuses_limiter_systemd_where_systemd_is_not_pid1(base_args):
    result = run_module(dict(base_args, script=_script("ok.js"), limiter="systemd"), check=True)
    assert result["failed"] is True and "limiter=systemd needs systemd as PID 1" in result["msg"]
