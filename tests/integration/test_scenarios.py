"""The k6 scenarios: profiles, scaling, thresholds, and real scaled-down runs against the demo target.

Needs a k6 binary (fixture ``k6_bin``). All traffic goes to the demo target on 127.0.0.1; every
k6 process runs with K6_NO_USAGE_REPORT=true, without its REST API (``--address ""``) and under
a subprocess timeout.

Note: ``k6 inspect`` does not pass the process environment to the script's ``__ENV`` (``k6 run``
does), so scale factors are given to it with ``-e NAME=value``.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlsplit

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "k6" / "scripts"
SCENARIO_DIR = SCRIPTS / "scenarios"
INSPECT_TIMEOUT_S = 60
RUN_TIMEOUT_S = 90

# The seed's profiles: peak VUs and nominal duration (seconds), before gracefulStop.
PROFILES = {
    "smoke": {"max_vus": 1, "seconds": 30},
    "load": {"max_vus": 50, "seconds": 14 * 60},
    "stress": {"max_vus": 200, "seconds": 14 * 60},
    "spike": {"max_vus": 100, "seconds": 80},
}
GRACE_ALLOWANCE_S = 30  # gracefulStop / gracefulRampDown may add up to this

# Scale factors for the real runs: each run stays under ~10 s and <= 10 VUs.
RUN_SCALES = {
    "smoke": {"K6_TIME_SCALE": "0.1", "K6_VU_SCALE": "1"},  # 3 s, 1 VU
    "load": {"K6_TIME_SCALE": "0.006", "K6_VU_SCALE": "0.2"},  # ~7 s, 10 VUs
    "stress": {"K6_TIME_SCALE": "0.006", "K6_VU_SCALE": "0.05"},  # ~8 s, 10 VUs
    "spike": {"K6_TIME_SCALE": "0.05", "K6_VU_SCALE": "0.1"},  # ~6 s, 10 VUs
}

BASE_THRESHOLDS = {
    "http_req_duration{type:read}": ["p(95)<200"],
    "http_req_duration{type:write}": ["p(95)<500"],
    "http_req_failed": ["rate<0.01"],
    "http_req_waiting": ["p(95)<150"],
    "iteration_duration": ["p(95)<1000"],
}
READ_LATENCY = "http_req_duration{type:read}"

API_NAMES = {"/auth/login/", "/auth/me/", "/auth/me/teams/", "/health/", "/api/tasks/", "/api/campaigns/",
             "/api/core/projects/", "/api/assets/", "/api/budgets/"}
PAGE_NAMES = {"/", "/login", "/tasks", "/campaigns", "/projects"}
WRITE_NAMES = {("POST", "/auth/login/"), ("POST", "/api/tasks/")}


def script(name: str) -> str:
    return str(SCENARIO_DIR / f"{name}.js")


def seconds(duration: str) -> float:
    """'14m10s' / '9.4s' / '1h0m0s' / '500ms' -> seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(a + u for a, u in parts) == duration, duration
    return sum(float(amount) * units[unit] for amount, unit in parts)


def inspect(k6_bin: str, k6_env: Dict[str, str], name: str, **env_vars: str) -> subprocess.CompletedProcess:
    cmd = [k6_bin, "inspect", "--execution-requirements"]
    for key, value in env_vars.items():
        cmd += ["-e", f"{key}={value}"]
    return subprocess.run(check=False, args=[*cmd, script(name)], env=k6_env, capture_output=True, text=True,
                          timeout=INSPECT_TIMEOUT_S)


def requirements(k6_bin: str, k6_env: Dict[str, str], name: str, **env_vars: str) -> dict:
    result = inspect(k6_bin, k6_env, name, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def k6_run(k6_bin: str, k6_env: Dict[str, str], name: str, base_url: str, tmp_path: Path,
           extra_env: Optional[Dict[str, str]] = None, json_out: bool = False) -> subprocess.CompletedProcess:
    assert urlsplit(base_url).hostname == "127.0.0.1"
    env = {**k6_env, "K6_BASE_URL": base_url, **(extra_env or {})}
    cmd = [k6_bin, "run", "--no-color", "-q", "--address", "",
           "--summary-export", str(tmp_path / "summary.json")]
    if json_out:
        cmd += ["--out", f"json={tmp_path / 'samples.json'}"]
    return subprocess.run(check=False, args=[*cmd, script(name)], env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, cwd=tmp_path)


def crossed_thresholds(summary: dict) -> Dict[str, List[str]]:
    """metric -> expressions crossed. In --summary-export a threshold maps to TRUE when crossed."""
    crossed = {}
    for metric, values in summary["metrics"].items():
        failed = [expr for expr, is_crossed in values.get("thresholds", {}).items() if is_crossed]
        if failed:
            crossed[metric] = failed
    return crossed


def get_json(base_url: str, path: str, token: Optional[str] = None, body: Optional[dict] = None):
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST" if body else "GET", path, body=json.dumps(body) if body else None, headers=headers)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


# --- profiles (k6 inspect) ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_unscaled_profile_matches_the_seed(k6_bin, k6_env, name):
    req = requirements(k6_bin, k6_env, name)
    expected = PROFILES[name]
    assert req["maxVUs"] == expected["max_vus"]
    total = seconds(req["totalDuration"])
    assert expected["seconds"] <= total <= expected["seconds"] + GRACE_ALLOWANCE_S
    assert list(req["scenarios"]) == [name]


def test_profile_executors_and_shapes(k6_bin, k6_env):
    smoke = requirements(k6_bin, k6_env, "smoke")["scenarios"]["smoke"]
    assert (smoke["executor"], smoke["vus"], smoke["duration"]) == ("constant-vus", 1, "30s")

    load = requirements(k6_bin, k6_env, "load")["scenarios"]["load"]
    assert load["executor"] == "ramping-vus"
    assert [s["target"] for s in load["stages"]][:2] == [10, 10]  # ramp to 10 first, then 50

    stress = requirements(k6_bin, k6_env, "stress")["scenarios"]["stress"]
    targets = [s["target"] for s in stress["stages"]]
    assert [t for i, t in enumerate(targets) if t and (i == 0 or t != targets[i - 1])] == [50, 100, 200]

    spike = requirements(k6_bin, k6_env, "spike")["scenarios"]["spike"]
    assert spike["startVUs"] == 0
    assert spike["stages"][0] == {"duration": "10s", "target": 100}
    assert spike["stages"][1]["target"] == 100 and seconds(spike["stages"][1]["duration"]) == 60


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_time_scale_shrinks_every_profile_to_seconds(k6_bin, k6_env, name):
    req = requirements(k6_bin, k6_env, name, K6_TIME_SCALE="0.01")
    assert 1 <= seconds(req["totalDuration"]) <= 12
    assert req["maxVUs"] == PROFILES[name]["max_vus"]  # VUs untouched by the time scale
    for stage in req["scenarios"][name].get("stages", []):
        assert seconds(stage["duration"]) >= 1  # tiny stages are rounded up to 1 s


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_vu_scale_multiplies_vus_but_keeps_at_least_one(k6_bin, k6_env, name):
    half = requirements(k6_bin, k6_env, name, K6_VU_SCALE="0.5")
    assert half["maxVUs"] == max(1, round(PROFILES[name]["max_vus"] * 0.5))
    tiny = requirements(k6_bin, k6_env, name, K6_VU_SCALE="0.001")
    assert tiny["maxVUs"] == 1
    stages = tiny["scenarios"][name].get("stages", [])
    assert stages == [] or stages[-1]["target"] == 0  # a ramp down to 0 stays 0


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_invalid_scale_is_rejected(k6_bin, k6_env, value):
    result = inspect(k6_bin, k6_env, "smoke", K6_TIME_SCALE=value)
    assert result.returncode == 107
    assert "K6_TIME_SCALE" in result.stderr


# --- thresholds (config.js) ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_thresholds_per_scenario(k6_bin, k6_env, name):
    thresholds = requirements(k6_bin, k6_env, name)["thresholds"]
    assert set(thresholds) == set(BASE_THRESHOLDS)
    if name in ("smoke", "load"):
        assert thresholds == BASE_THRESHOLDS
        return
    assert thresholds["http_req_failed"] == [{"stress": "rate<0.05", "spike": "rate<0.03"}[name]]
    for metric in ("http_req_duration{type:read}", "http_req_duration{type:write}", "http_req_waiting",
                   "iteration_duration"):
        relaxed = float(re.search(r"<(\d+)", thresholds[metric][0]).group(1))
        base = float(re.search(r"<(\d+)", BASE_THRESHOLDS[metric][0]).group(1))
        assert relaxed > base, metric


def test_abort_on_fail_turns_thresholds_into_objects(k6_bin, k6_env):
    thresholds = requirements(k6_bin, k6_env, "smoke", K6_ABORT_ON_FAIL="true")["thresholds"]
    assert thresholds[READ_LATENCY] == [{"threshold": "p(95)<200", "abortOnFail": True, "delayAbortEval": "10s"}]
    assert all(isinstance(expr, dict) and expr["abortOnFail"] for exprs in thresholds.values() for expr in exprs)


# --- real runs against the demo target ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_scaled_run_passes_its_thresholds(k6_bin, k6_env, demo_target, tmp_path, name):
    result = k6_run(k6_bin, k6_env, name, demo_target, tmp_path, RUN_SCALES[name], json_out=True)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert crossed_thresholds(summary) == {}
    metrics = summary["metrics"]
    assert metrics["http_reqs"]["count"] > 20
    assert metrics["checks"]["fails"] == 0 and metrics["checks"]["passes"] > 0

    # every request is tagged with a bounded `name` (endpoint template, never a URL) and a `type`
    seen, types = set(), set()
    with open(tmp_path / "samples.json") as samples:
        for line in samples:
            point = json.loads(line)
            if point.get("type") != "Point" or point.get("metric") != "http_reqs":
                continue
            tags = point["data"]["tags"]
            expected_type = "write" if (tags["method"], tags["name"]) in WRITE_NAMES else "read"
            assert tags.get("type") == expected_type, tags
            seen.add(tags["name"])
            types.add(tags["type"])
    assert seen == API_NAMES | PAGE_NAMES
    assert types == {"read", "write"}

    # the tasks the run created landed in this demo target
    token = get_json(demo_target, "/auth/login/", body={"email": "demo@example.com", "password": "demo-password"})["token"]
    tasks = get_json(demo_target, "/api/tasks/", token=token)
    assert any(task["title"].startswith("loadops k6 task") for task in tasks)


def test_smoke_fails_on_slow_reads(k6_bin, k6_env, demo_target_factory, tmp_path):
    target = demo_target_factory("--latency", "/api/tasks/=400")
    result = k6_run(k6_bin, k6_env, "smoke", target.url, tmp_path, RUN_SCALES["smoke"])
    assert result.returncode == 99, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    crossed = crossed_thresholds(summary)
    assert crossed.get(READ_LATENCY) == ["p(95)<200"]
    assert summary["metrics"][READ_LATENCY]["p(95)"] >= 200
    assert "http_req_failed" not in crossed  # slow, not failing
    assert "thresholds on metrics" in result.stderr and READ_LATENCY in result.stderr


def test_abort_on_fail_stops_a_failing_run_early(k6_bin, k6_env, demo_target_factory, tmp_path):
    # Unscaled smoke (30 s + 10 s grace) against slow reads: abortOnFail with delayAbortEval 10s
    # must stop it soon after the first 10 s.
    target = demo_target_factory("--latency", "/api/tasks/=400")
    started = time.monotonic()
    result = k6_run(k6_bin, k6_env, "smoke", target.url, tmp_path, {"K6_ABORT_ON_FAIL": "true"})
    elapsed = time.monotonic() - started
    assert result.returncode == 99, result.stderr[-3000:]
    assert "stopping test prematurely" in result.stderr
    assert 10 <= elapsed < 25
    crossed = crossed_thresholds(json.loads((tmp_path / "summary.json").read_text()))
    assert crossed.get(READ_LATENCY) == ["p(95)<200"]


def test_verbose_logs_requests_and_responses(k6_bin, k6_env, demo_target, tmp_path):
    result = k6_run(k6_bin, k6_env, "smoke", demo_target, tmp_path,
                    {"K6_TIME_SCALE": "0.01", "K6_VERBOSE": "true"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"--> POST {demo_target}/auth/login/" in result.stderr
    assert f"<-- GET {demo_target}/api/tasks/ 200" in result.stderr


# --- pre-flight (setup) -------------------------------------------------------------------------
# Scaled too, so that a broken pre-flight that lets the test run still ends within seconds.
TINY = {"K6_TIME_SCALE": "0.01"}


def test_unreachable_target_aborts_in_setup(k6_bin, k6_env, free_port, tmp_path):
    result = k6_run(k6_bin, k6_env, "smoke", f"http://127.0.0.1:{free_port}", tmp_path, TINY)
    assert result.returncode == 108, result.stderr[-3000:]
    assert "status 0: target unreachable" in result.stderr


def test_rejected_host_header_aborts_in_setup(k6_bin, k6_env, demo_target_factory, tmp_path):
    target = demo_target_factory("--allowed-hosts", "backend.internal")
    result = k6_run(k6_bin, k6_env, "smoke", target.url, tmp_path, TINY)
    assert result.returncode == 108, result.stderr[-3000:]
    assert "400 Bad Request" in result.stderr and "ALLOWED_HOSTS" in result.stderr


def test_wrong_credentials_abort_in_setup(k6_bin, k6_env, demo_target, tmp_path):
    result = k6_run(k6_bin, k6_env, "smoke", demo_target, tmp_path, {**TINY, "K6_TEST_USER_PASSWORD": "nope"})
    assert result.returncode == 108, result.stderr[-3000:]
    assert "was refused (401)" in result.stderr
