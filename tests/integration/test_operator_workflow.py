"""What an operator types and sees, feature by feature (issue 6): the real playbooks on this
machine (local connection) against demo targets on free loopback ports, with the scenarios scaled
down by K6_TIME_SCALE / K6_VU_SCALE. No mocks; every run is bounded by a timeout.

- results: verdict.json and junit.xml under <controller results dir>/<run id>/, on failure too,
  and the Grafana link for the run's time range;
- safety: the target allowlist (a refused target gets no request at all);
- preflight: health endpoint (closed port, Host rejected, 5xx), InfluxDB write, k6 version,
  memory estimate - each refusal names its fix and nothing runs;
- the legacy .env: mapping, precedence, unknown keys, malformed values, secrets never printed;
- baselines and regressions, per request type and per endpoint;
- progress lines while k6 runs.
"""
from __future__ import annotations

import json
import os
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from services import AS_MODULE_USER, INFLUXD, REPO, Influxd, run_playbook

SCRIPTS = REPO / "k6" / "scripts"
# Loopback and tmp only: run in the background pytest beside the serial tests (gates.py).
BACKGROUND = pytest.mark.background
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- running a playbook the way an operator does -----------------------------------------------

def _playbook(tmp_path, playbook, extra_vars, *args, host_vars=None, inventory_text=None, timeout=300):
    return run_playbook(tmp_path, playbook, extra_vars, *args, host_vars=host_vars, inventory_text=inventory_text,
                        timeout=timeout)


def _vars(tmp_path, base_url=None, time_scale="0.1", **more):
    """Smoke (30 s) at K6_TIME_SCALE=0.1: 3 s of load. No InfluxDB unless a test gives one."""
    out = {
        "scenario_run_scripts_dir": str(SCRIPTS),
        "scenario_run_influxdb_url": "",
        "scenario_run_env": {"K6_TIME_SCALE": time_scale},
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        "scenario_run_progress_interval": 5,
        **AS_MODULE_USER,
    }
    if base_url is not None:
        out["scenario_run_base_url"] = base_url
    out.update(more)
    return out


def _flat(text):
    """Ansible's YAML output folds long messages over lines: compare with single spaces."""
    return " ".join(text.split())


def _out(proc):
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def _runs(tmp_path):
    root = tmp_path / "on-controller"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def _only_run(tmp_path):
    runs = _runs(tmp_path)
    assert len(runs) == 1, runs
    return runs[0]


def _requests_seen(target):
    """Request lines the demo target logged (started with --verbose)."""
    return [line for line in target.stderr().splitlines() if " /" in line]


def _junit_cases(path):
    root = ET.parse(str(path)).getroot()
    assert root.tag == "testsuites"
    return root, {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}


# --- results -------------------------------------------------------------------------------------

def test_a_passed_run_writes_verdict_json_and_one_junit_case_per_threshold(tmp_path, demo_target):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target))
    assert proc.returncode == 0, _out(proc)
    run = _only_run(tmp_path)
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["run_id"] == run.name and verdict["scenario"] == "smoke"
    assert verdict["verdict"] == "passed" and verdict["outcome"] == "passed"
    assert verdict["started_at"] <= verdict["ended_at"]
    host = verdict["hosts"]["localhost"]
    assert host["verdict"] == "passed" and host["rc"] == 0
    assert len(host["thresholds"]) == 5 and all(t["passed"] for t in host["thresholds"])
    assert host["generator"]["limiter"] and host["generator"]["saturated"] is False
    assert host["checks"]["passed"] > 0 and host["checks"]["failed"] == 0
    root, cases = _junit_cases(run / "junit.xml")
    endpoints = [name for cls, name in cases if cls == "loadops.k6.smoke.localhost.endpoints"]
    assert sorted(endpoints) == sorted(e["name"] for e in host["endpoints"]) and "/api/tasks/" in endpoints
    assert root.get("tests") == str(5 + len(endpoints)) and root.get("failures") == "0" and root.get("errors") == "0"
    names = sorted(name for cls, name in cases if cls == "loadops.k6.smoke.localhost")
    assert names == sorted("%s %s" % (t["metric"], t["expression"]) for t in host["thresholds"])
    assert not list(root.iter("failure"))
    assert host["evaluator"]["agrees"] is True and host["evaluator"]["compared"] == 5, host["evaluator"]
    for name in ("summary.json", "report.html", "k6.log", "result.json", "verdict.txt", "reduction.json"):
        assert (run / "localhost" / name).stat().st_size > 0, name


def test_failed_requests_are_named_by_endpoint_and_status_with_their_hint(tmp_path, demo_target_factory):
    """The seed's troubleshooting question, answered by the run itself: which endpoint failed, how."""
    broken = demo_target_factory("--error-rate", "/api/campaigns/=1")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, broken.url))
    assert proc.returncode == 2, _out(proc)
    out = proc.stdout
    assert "failed requests by status:" in out, _out(proc)
    line = [l for l in out.splitlines() if "status 500 on /api/campaigns/" in l]
    assert line and "500 server error" in line[0], _out(proc)
    run = _only_run(tmp_path)
    result = json.loads((run / "localhost" / "result.json").read_text())
    errors = [(e["endpoint"], e["status"]) for e in result["errors"]]
    assert errors == [("/api/campaigns/", 500)], result["errors"]
    campaigns = [e for e in result["endpoints"] if e["name"] == "/api/campaigns/"][0]
    assert campaigns["failure_rate"] == 1.0 and set(campaigns["statuses"]) == {"500"}
    assert all(e["failed"] == 0 for e in result["endpoints"] if e["name"] != "/api/campaigns/")
    _root, cases = _junit_cases(run / "junit.xml")
    failure = cases[("loadops.k6.smoke.localhost.endpoints", "/api/campaigns/")].find("failure")
    assert failure is not None and "500 server error" in failure.get("message")


def test_a_failed_run_still_writes_verdict_json_and_junit_with_the_observed_value(tmp_path, demo_target_factory):
    slow = demo_target_factory("--latency", "/api/tasks/=400", "--latency", "/api/campaigns/=400")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, slow.url))
    assert proc.returncode == 2, _out(proc)
    run = _only_run(tmp_path)
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "thresholds_failed" and verdict["outcome"] == "failed"
    crossed = [t for t in verdict["hosts"]["localhost"]["thresholds"] if not t["passed"]]
    read = next(t for t in crossed if t["metric"] == "http_req_duration{type:read}")
    assert read["observed"]["value"] >= 200
    root, cases = _junit_cases(run / "junit.xml")
    assert int(root.get("failures")) == len(crossed) >= 1
    failure = cases[("loadops.k6.smoke.localhost", "http_req_duration{type:read} p(95)<200")].find("failure")
    assert failure is not None and failure.get("type") == "threshold"
    assert "observed p(95)=%.2f ms" % read["observed"]["value"] in failure.get("message")
    held = cases[("loadops.k6.smoke.localhost", "http_req_failed rate<0.01")]
    assert held.find("failure") is None
    assert (run / "localhost" / "summary.json").exists() and (run / "localhost" / "k6.log").exists()


def test_a_run_cut_short_by_its_timeout_is_an_error_case_in_junit(tmp_path, demo_target):
    # Smoke at twice its length (80 s with its graceful stop) and a 4 s timeout: the module stops k6,
    # the controller notices at the next progress tick, and the run is reported long before the
    # scenario would have ended (the play's own overhead is 20-40 s on a busy 2-core machine).
    started = time.monotonic()
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, time_scale="2", scenario_run_timeout=4))
    assert proc.returncode == 2, _out(proc)
    assert time.monotonic() - started < 75, "the play waited for the scenario's length, not for k6"
    run = _only_run(tmp_path)
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "timeout" and verdict["outcome"] == "failed"
    root, cases = _junit_cases(run / "junit.xml")
    error = cases[("loadops.k6.smoke.localhost", "k6 run completed")].find("error")
    assert error is not None and error.get("type") == "timeout"
    assert root.get("errors") == "1"


def test_grafana_link_spans_the_run_and_selects_its_testid(tmp_path, demo_target):
    before_ms = int(time.time() * 1000)
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target,
                                                  scenario_run_grafana_url="http://grafana.example.net:3000/"))
    after_ms = int(time.time() * 1000)
    assert proc.returncode == 0, _out(proc)
    run = _only_run(tmp_path)
    link = json.loads((run / "verdict.json").read_text())["grafana_url"]
    parts = urllib.parse.urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "grafana.example.net:3000", "/d/loadops-k6")
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["var-testid"] == run.name
    assert before_ms - 60_000 <= int(query["from"]) <= before_ms
    assert after_ms <= int(query["to"]) <= after_ms + 60_000
    assert "Grafana: %s" % link in _flat(proc.stdout)
    root, _cases = _junit_cases(run / "junit.xml")
    assert link in [p.get("value") for p in root.iter("property") if p.get("name") == "grafana_url"]


def test_grafana_link_follows_the_grafana_the_inventory_has_the_role_install(tmp_path, demo_target):
    # No scenario_run_grafana_url: the grafana role's settings in the inventory decide the link.
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target),
                     host_vars={"grafana_install_method": "docker", "grafana_http_port": 23456})
    assert proc.returncode == 0, _out(proc)
    link = json.loads((_only_run(tmp_path) / "verdict.json").read_text())["grafana_url"]
    assert link.startswith("http://127.0.0.1:23456/d/loadops-k6?"), link
    assert "open the HTML report instead" not in proc.stdout


def _two_machines(tmp_path, lg2_vars=None):
    """Two load machines, both this host (local connection), each with its own results dir."""
    hosts = ""
    for name, more in (("lg1", {}), ("lg2", lg2_vars or {})):
        host_vars = dict({"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                          "scenario_run_results_dir": str(tmp_path / ("on-" + name))}, **more)
        hosts += "    %s:\n" % name + "".join("      %s: %s\n" % (k, json.dumps(v)) for k, v in host_vars.items())
    return "load_generators:\n  hosts:\n" + hosts


def test_two_load_machines_start_together_or_not_at_all_and_share_one_report(tmp_path, demo_target):
    extra = _vars(tmp_path, demo_target)
    del extra["scenario_run_results_dir"]
    # lg2 cannot hold the scenario: neither machine may start.
    proc = _playbook(tmp_path, "smoke.yml", extra, inventory_text=_two_machines(tmp_path, {"scenario_run_memory_limit": "40m"}))
    assert proc.returncode == 2, _out(proc)
    out = _flat(proc.stdout)
    assert "lg2: preflight: the scenario peaks at 1 VUs" in out and "lg1: preflight" not in out
    assert "fatal: [lg1]" in proc.stdout and "fatal: [lg2]" in proc.stdout
    assert _runs(tmp_path) == [] and not (tmp_path / "on-lg1").exists()

    # Both "machines" are this host: lg2 runs without a cgroup so the two k6 do not share one.
    proc = _playbook(tmp_path, "smoke.yml", extra, inventory_text=_two_machines(tmp_path, {"scenario_run_limiter": "none"}))
    assert proc.returncode == 0, _out(proc)
    run = _only_run(tmp_path)
    verdict = json.loads((run / "verdict.json").read_text())
    assert sorted(verdict["hosts"]) == ["lg1", "lg2"] and verdict["verdict"] == "passed"
    # Two machines make one test (docs/DISTRIBUTED.md): smoke's 1 VU runs on lg1's half, lg2's half
    # has none; the thresholds are judged once, on both machines' samples.
    assert verdict["distribution"]["mode"] == "split" and verdict["start"]["started"], verdict["start"]
    assert verdict["metrics"]["requests"] == verdict["hosts"]["lg1"]["metrics"]["requests"] > 0
    root, _cases = _junit_cases(run / "junit.xml")
    assert [s.get("hostname") for s in root.findall("testsuite")] == ["fleet", "lg1", "lg2"]
    thresholds = [c for c in root.iter("testcase") if c.get("classname") == "loadops.k6.smoke.fleet"]
    endpoints = [c for c in root.iter("testcase") if c.get("classname").endswith(".endpoints")]
    completed = [c for c in root.iter("testcase") if c.get("name") == "k6 run completed"]
    assert len(thresholds) == 5 and len(completed) == 2 and root.get("tests") == str(5 + 2 + len(endpoints))
    assert {c.get("classname") for c in endpoints} == {"loadops.k6.smoke.fleet.endpoints"}
    for name in ("lg1", "lg2"):
        result = json.loads((run / name / "result.json").read_text())
        assert result["testid"] == run.name and (tmp_path / ("on-" + name) / run.name / "summary.json").exists()
    assert verdict["hosts"]["lg1"]["generator"]["limiter"] != "none" and verdict["hosts"]["lg2"]["generator"]["limiter"] == "none"


# --- safety --------------------------------------------------------------------------------------

def test_a_target_outside_the_allowlist_gets_no_request_at_all(tmp_path, demo_target_factory):
    target = demo_target_factory("--verbose")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, target.url, scenario_run_allowed_targets=["10.0.0.0/8"]))
    assert proc.returncode == 2, _out(proc)
    out = _flat(proc.stdout)
    assert "refusing to send load to %s because its host is not in scenario_run_allowed_targets (10.0.0.0/8)" % target.url in out
    assert _runs(tmp_path) == [] and _requests_seen(target) == []


def test_an_allowlist_entry_for_the_target_lets_the_run_go(tmp_path, demo_target):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_allowed_targets=["127.0.0.1/32"]))
    assert proc.returncode == 0, _out(proc)


# --- preflight -----------------------------------------------------------------------------------

def _refused(tmp_path, proc, *phrases):
    assert proc.returncode == 2, _out(proc)
    out = _flat(proc.stdout)
    assert "Not starting smoke:" in out, out[-3000:]
    for phrase in phrases:
        assert phrase in out, out[-3000:]
    assert _runs(tmp_path) == [] and not (tmp_path / "on-load-machine").exists()
    return out


def test_preflight_says_to_fix_allowed_hosts_when_the_target_rejects_the_host_header(tmp_path, demo_target_factory):
    target = demo_target_factory("--allowed-hosts", "app.internal.example", "--verbose")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, target.url))
    _refused(tmp_path, proc, "answered 400 Bad Request, so it rejects the Host header 127.0.0.1",
             "add 127.0.0.1 to the target's ALLOWED_HOSTS")
    seen = _requests_seen(target)
    assert len(seen) == 1 and "/health/" in seen[0], seen


def test_preflight_says_the_target_did_not_answer_on_a_closed_port(tmp_path, free_port):
    url = "http://127.0.0.1:%d" % free_port
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, url))
    _refused(tmp_path, proc, "the target %s/health/ did not answer" % url, "Connection refused",
             "start the target or correct scenario_run_base_url")


def test_preflight_refuses_a_target_whose_health_endpoint_fails(tmp_path, demo_target_factory):
    target = demo_target_factory("--error-rate", "/health/=1")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, target.url))
    _refused(tmp_path, proc, "answered 500, so it is unhealthy before any load; read its logs")


def test_preflight_refuses_an_influxdb_that_does_not_answer(tmp_path, demo_target, free_port):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target,
                                                  scenario_run_influxdb_url="http://127.0.0.1:%d/k6" % free_port))
    _refused(tmp_path, proc, "InfluxDB at http://127.0.0.1:%d did not accept a connection" % free_port,
             "set scenario_run_influxdb_url to '' to run without metrics")


def test_preflight_refuses_a_k6_that_is_not_the_pinned_version(tmp_path, demo_target):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, k6_runner_version="9.9.9"))
    _refused(tmp_path, proc, "k6 reports version 1.1.0, not the pinned 9.9.9",
             "run playbooks/provision.yml (role loadops.k6.k6_runner) to install 9.9.9")


def test_preflight_refuses_a_scenario_that_does_not_fit_the_memory_limit(tmp_path, demo_target):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_memory_limit="40m"))
    out = _refused(tmp_path, proc, "the scenario peaks at 1 VUs, estimated", "more than the 40 MiB memory limit",
                   "raise scenario_run_memory_limit (K6_DOCKER_MEMORY) to at least")


def test_preflight_lists_every_problem_at_once(tmp_path, free_port):
    url = "http://127.0.0.1:%d" % free_port
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, url, k6_runner_version="0.0.1", scenario_run_memory_limit="40m"))
    _refused(tmp_path, proc, "did not answer", "not the pinned 0.0.1", "more than the 40 MiB memory limit")


# --- InfluxDB (Debian's 1.x, our own instance on free ports) -------------------------------------

def _influxd(tmp_path_factory, auth):
    if not (os.path.isfile(INFLUXD) and os.access(INFLUXD, os.X_OK)):
        if IN_CI:
            pytest.fail("CI must run this test: %s is missing" % INFLUXD)
        pytest.skip("%s is missing (apt-get install influxdb; scripts/host-prereqs.sh does)" % INFLUXD)
    server = Influxd(tmp_path_factory.mktemp("influxd"), auth=auth)
    server.start()
    return server


@pytest.fixture
def influxd(tmp_path_factory):
    server = _influxd(tmp_path_factory, auth=False)
    yield server
    server.stop()


@pytest.fixture
def influxd_auth(tmp_path_factory):
    """Authentication on, like the influxdb role sets it up: an admin and a write-only k6 user."""
    server = _influxd(tmp_path_factory, auth=True)
    try:
        server.query("CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES")
        server.query("CREATE DATABASE k6", user="admin", password="admin-pw")
        server.query("CREATE USER k6_writer WITH PASSWORD 'writer-pw-42'", user="admin", password="admin-pw")
        server.query('GRANT WRITE ON "k6" TO "k6_writer"', user="admin", password="admin-pw")
        yield server
    finally:
        server.stop()


def test_preflight_says_to_create_a_missing_influxdb_database_then_the_run_writes_there(tmp_path, demo_target, influxd):
    url = "http://127.0.0.1:%d/loadops_it" % influxd.port
    # This InfluxDB has no authentication (the influxdb role's is on by default).
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_influxdb_url=url,
                                                  influxdb_auth_enabled=False))
    _refused(tmp_path, proc, "has no such database (404); create it")
    influxd.query("CREATE DATABASE loadops_it")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_influxdb_url=url,
                                                  influxdb_auth_enabled=False))
    assert proc.returncode == 0, _out(proc)
    testid = _only_run(tmp_path).name
    probe = influxd.query("SELECT count(ok) FROM loadops_preflight WHERE testid = '%s'" % testid, db="loadops_it")
    assert probe["results"][0]["series"][0]["values"][0][1] == 1, probe
    reqs = influxd.query("SELECT count(value) FROM http_reqs WHERE testid = '%s'" % testid, db="loadops_it")
    assert reqs["results"][0]["series"][0]["values"][0][1] > 10, reqs


def test_k6_writes_to_an_influxdb_with_authentication_as_the_write_only_user(tmp_path, demo_target, influxd_auth):
    url = "http://127.0.0.1:%d/k6" % influxd_auth.port
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_influxdb_url=url,
                                                  scenario_run_influxdb_password="wrong-pw"))
    _refused(tmp_path, proc, "InfluxDB at http://127.0.0.1:%d refused the write (401)" % influxd_auth.port)
    assert "wrong-pw" not in proc.stdout
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_influxdb_url=url,
                                                  scenario_run_influxdb_password="writer-pw-42"))
    assert proc.returncode == 0, _out(proc)
    assert "writer-pw-42" not in proc.stdout
    testid = _only_run(tmp_path).name
    reqs = influxd_auth.query("SELECT count(value) FROM http_reqs WHERE testid = '%s'" % testid, db="k6",
                              user="admin", password="admin-pw")
    assert reqs["results"][0]["series"][0]["values"][0][1] > 10, reqs
    for path in (tmp_path / "on-controller").rglob("*"):
        if path.is_file():
            assert "writer-pw-42" not in path.read_text(errors="replace"), path


# --- the legacy .env -----------------------------------------------------------------------------

SECRET = "Zq8-legacy-Secret-77"


@BACKGROUND
def test_legacy_env_next_to_the_inventory_configures_the_run_and_hides_its_secrets(tmp_path, demo_target_factory, free_port):
    target = demo_target_factory("--email", "legacy@example.net", "--password", SECRET)
    (tmp_path / ".env").write_text(
        "# the old docker-compose settings\n"
        "K6_TEST_USER_EMAIL=legacy@example.net\n"
        "K6_TEST_USER_PASSWORD=%s\n"
        "K6_BASE_URL=%s\n"
        "INFLUXDB_URL=http://127.0.0.1:%d\n"
        "INFLUXDB_ORG=k6\nINFLUXDB_BUCKET=k6\n"
        "INFLUXDB_TOKEN=%s-token\n"
        "K6_DOCKER_MEMORY=512m   # a comment\n"
        "K6_DOCKER_CPUS=1.5\n"
        "K6_ABORT_ON_FAIL=false\nK6_VERBOSE=false\n"
        "K6_DOCKER_NETWORK=mediajira_default\nK6_USE_CUSTOM_IMAGE=false\n"
        "ALLOWED_HOSTS=localhost,backend-dev\n" % (SECRET, target.url, free_port, SECRET))
    # Extra vars win over the .env: no InfluxDB although the .env names one (on a closed port).
    extra = _vars(tmp_path)
    proc = _playbook(tmp_path, "smoke.yml", extra, "-v")
    assert proc.returncode == 0, _out(proc)
    out = _flat(proc.stdout + proc.stderr)
    assert "Legacy .env %s sets" % (tmp_path / ".env") in out
    assert "against %s" % target.url in out, "K6_BASE_URL from the .env was not used"
    assert "limit 512m, CPUs 1.5" in out
    assert "line 15: unknown key ALLOWED_HOSTS is ignored" in out
    assert "K6_DOCKER_NETWORK has no effect" in out
    # The script logged in with the .env's credentials (the target knows no others).
    run = _only_run(tmp_path)
    result = json.loads((run / "localhost" / "result.json").read_text())
    assert result["verdict"] == "passed", result["msg"]
    assert result["generator"]["cpu_limit"] == 1.5 and result["generator"]["memory_limit_bytes"] == 512 * 2 ** 20
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    for path in run.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


@BACKGROUND
def test_inventory_values_win_over_the_legacy_env(tmp_path, demo_target, free_port):
    (tmp_path / ".env").write_text("K6_BASE_URL=http://127.0.0.1:%d\nK6_DOCKER_MEMORY=1g\n" % free_port)
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path),
                     host_vars={"scenario_run_base_url": demo_target})
    assert proc.returncode == 0, _out(proc)
    out = _flat(proc.stdout)
    assert "against %s" % demo_target in out and "limit 1g" in out


@pytest.mark.parametrize("line,message", [
    ("K6_DOCKER_CPUS=abc", "line 2: K6_DOCKER_CPUS=abc is not a number of CPUs"),
    ("K6_ABORT_ON_FAIL=maybe", "line 2: K6_ABORT_ON_FAIL=maybe is not a boolean; use true or false"),
    ("K6_BASE_URL=localhost:8000", "line 2: K6_BASE_URL=localhost:8000 is not an http:// or https:// URL"),
    ("K6_DOCKER_MEMORY=lots", "line 2: K6_DOCKER_MEMORY=lots is not a memory size"),
    ("INFLUXDB_TOKEN=<generate-token-using-command-above>", "line 2: INFLUXDB_TOKEN is still a placeholder"),
])
def test_a_malformed_legacy_env_value_stops_the_run_naming_the_key(tmp_path, demo_target_factory, line, message):
    target = demo_target_factory("--verbose")
    env_file = tmp_path / "old.env"
    env_file.write_text("K6_TEST_USER_EMAIL=demo@example.com\n%s\n" % line)
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, target.url, scenario_run_env_file=str(env_file)))
    assert proc.returncode == 2, _out(proc)
    assert message in _flat(proc.stdout + proc.stderr), _out(proc)
    assert _runs(tmp_path) == [] and _requests_seen(target) == []


def test_a_named_legacy_env_file_must_exist(tmp_path, demo_target):
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, scenario_run_env_file=str(tmp_path / "nope.env")))
    assert proc.returncode == 2, _out(proc)
    assert "legacy .env file %s does not exist" % (tmp_path / "nope.env") in _flat(proc.stdout + proc.stderr)


# --- baselines and regressions -------------------------------------------------------------------

@BACKGROUND
def test_baseline_per_endpoint_of_the_seed_scenario_then_a_regression_fails_with_a_table_then_a_clean_run_passes(
        tmp_path, demo_target_factory):
    """The seed's smoke scenario names every request but sets no per-endpoint threshold: the sample
    reduction still gives every endpoint's p95, so the baseline is per endpoint."""
    fast = demo_target_factory()
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, fast.url, scenario_run_save_baseline=True))
    assert proc.returncode == 0, _out(proc)
    baseline = json.loads((tmp_path / "baselines" / "smoke.json").read_text())
    assert baseline["source"] == "endpoints" and baseline["note"] == "", baseline
    assert set(baseline["series"]) >= {"endpoint /api/tasks/", "endpoint /api/campaigns/"}, baseline["series"]
    assert baseline["error_rate"] == 0 and baseline["run_id"] == _only_run(tmp_path).name
    assert "Saved run %s as the baseline of smoke" % baseline["run_id"] in _flat(proc.stdout)

    # 120 ms on two of the reads: the thresholds (reads 200 ms, waiting 150 ms) still hold, those two
    # endpoints regress. A 60 ms floor: each endpoint has about 8 requests here, so its p95 is about
    # its slowest request, and on a busy 2-core machine one request of a fast endpoint can take 40 ms.
    slower = demo_target_factory("--latency", "/api/tasks/=120", "--latency", "/api/campaigns/=120")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, slower.url, scenario_run_regression_min_delta_ms=60))
    assert proc.returncode == 2, _out(proc)
    out = _flat(proc.stdout)
    assert "Regression check against baseline %s" % baseline["run_id"] in out and "REGRESSED" in out
    assert "VERDICT: PASSED" in proc.stdout
    table = [l for l in proc.stdout.splitlines() if l.strip().startswith("endpoint /api/tasks/") and "p95" in l]
    assert table and table[0].rstrip().endswith("REGRESSED"), table
    run = max(_runs(tmp_path), key=lambda p: p.stat().st_mtime)
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["verdict"] == "passed" and verdict["outcome"] == "failed"
    regressed = {r["series"] for r in verdict["regression"]["regressions"]}
    assert {"endpoint /api/tasks/", "endpoint /api/campaigns/"} <= regressed, regressed
    assert all(r["current"] > r["limit"] for r in verdict["regression"]["regressions"])
    root, cases = _junit_cases(run / "junit.xml")
    assert cases[("loadops.k6.smoke.regressions", "endpoint /api/tasks/ p95")].find("failure") is not None

    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, fast.url, scenario_run_regression_min_delta_ms=60))
    assert proc.returncode == 0, _out(proc)
    assert "PASSED" in _flat(proc.stdout).split("Regression check against baseline")[1][:400]


def _endpoint_script(tmp_path):
    """Smoke with name-tag submetrics for three endpoints: k6 then exports per-endpoint p95."""
    script = tmp_path / "smoke_by_endpoint.js"
    script.write_text(
        "import * as smoke from '%s';\n"
        "const extra = {};\n"
        "for (const name of ['/api/tasks/', '/api/campaigns/', '/auth/me/']) {\n"
        "  extra[`http_req_duration{name:${name}}`] = ['p(95)<10000'];\n"
        "  extra[`http_req_failed{name:${name}}`] = ['rate<1'];\n"
        "}\n"
        "export const options = Object.assign({}, smoke.options,\n"
        "  { thresholds: Object.assign({}, smoke.options.thresholds, extra) });\n"
        "export const setup = smoke.setup;\n"
        "export default smoke.default;\n" % (SCRIPTS / "scenarios" / "smoke.js"))
    return str(script)


@BACKGROUND
def test_baseline_per_endpoint_flags_only_the_endpoint_that_slowed(tmp_path, demo_target_factory):
    script = _endpoint_script(tmp_path)
    fast = demo_target_factory()
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, fast.url, scenario_run_script=script, scenario_run_save_baseline=True))
    assert proc.returncode == 0, _out(proc)
    baseline = json.loads((tmp_path / "baselines" / "smoke.json").read_text())
    assert baseline["source"] == "endpoints" and baseline["note"] == ""
    # every endpoint the scenario hit (the sample reduction), the three named ones among them
    assert set(baseline["series"]) >= {"endpoint /api/tasks/", "endpoint /api/campaigns/", "endpoint /auth/me/"}

    slower = demo_target_factory("--latency", "/api/tasks/=120")  # see the floor above
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, slower.url, scenario_run_script=script,
                                                  scenario_run_regression_min_delta_ms=60))
    assert proc.returncode == 2, _out(proc)
    run = max(_runs(tmp_path), key=lambda p: p.stat().st_mtime)
    regression = json.loads((run / "verdict.json").read_text())["regression"]
    assert regression["source"] == "endpoints"
    assert [(r["series"], r["stat"]) for r in regression["regressions"]] == [("endpoint /api/tasks/", "p95")]
    assert {r["series"] for r in regression["rows"] if r["status"] == "ok"} >= {"endpoint /api/campaigns/", "endpoint /auth/me/"}


@BACKGROUND
def test_a_failed_run_is_not_saved_as_baseline(tmp_path, demo_target_factory):
    slow = demo_target_factory("--latency", "/api/tasks/=400", "--latency", "/api/campaigns/=400")
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, slow.url, scenario_run_save_baseline=True))
    assert proc.returncode == 2, _out(proc)
    assert "Baseline of smoke not saved: the run ended thresholds_failed" in _flat(proc.stdout)
    assert not (tmp_path / "baselines" / "smoke.json").exists()


# --- progress ------------------------------------------------------------------------------------

def test_progress_lines_come_every_interval_while_k6_runs(tmp_path, demo_target):
    # Smoke at K6_TIME_SCALE=0.4: 12 s of load plus a 4 s graceful stop; a line every 3 s.
    started = time.monotonic()
    proc = _playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo_target, time_scale="0.4", scenario_run_progress_interval=3))
    assert proc.returncode == 0, _out(proc)
    lines = _flat(proc.stdout).split("localhost smoke: ")[1:]
    assert len(lines) >= 3, lines
    parsed = []
    for line in lines:
        words = line.split()
        assert words[1:3] == ["of", "0:16"] and "VUs," in words and "errors" in words and "p95" in words, line
        parsed.append((words[0], int(words[words.index("requests,") - 1])))
    seconds = [int(e.split(":")[0]) * 60 + int(e.split(":")[1]) for e, _r in parsed]
    assert seconds == sorted(seconds) and all(b - a <= 5 for a, b in zip(seconds, seconds[1:])), parsed
    requests = [r for _e, r in parsed]
    assert requests == sorted(requests) and requests[-1] > requests[0] > 0, parsed
    assert time.monotonic() - started < 120


# --- docs/CI_INTEGRATION.md ----------------------------------------------------------------------

def test_the_ci_example_parses_and_names_real_paths():
    import re

    import yaml

    from ansible_collections.loadops.k6.plugins.filter.regression_report import regression_report
    from ansible_collections.loadops.k6.plugins.filter.run_verdict import run_verdict

    text = (REPO / "docs" / "CI_INTEGRATION.md").read_text()
    block = text.split("## GitHub Actions", 1)[1].split("```yaml\n", 1)[1].split("\n```\n", 1)[0]
    workflow = yaml.safe_load(block)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    scenarios = triggers["workflow_dispatch"]["inputs"]["scenario"]["options"]
    for scenario in scenarios:
        assert (REPO / "playbooks" / ("%s.yml" % scenario)).is_file(), scenario
    steps = workflow["jobs"]["load-test"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "bash scripts/setup.sh" in commands and (REPO / "scripts" / "setup.sh").is_file()
    assert ".venv/bin/ansible-playbook playbooks/provision.yml" in commands
    defaults = yaml.safe_load((REPO / "roles" / "scenario_run" / "defaults" / "main.yml").read_text())
    named = set(re.findall(r"-e (scenario_run_[a-z_]+)=", commands))
    assert named and named <= set(defaults), named - set(defaults)
    junit = next(s for s in steps if "junit" in s.get("uses", ""))
    assert junit["with"]["report_paths"] == "results/*/junit.xml"
    report_tasks = (REPO / "roles" / "scenario_run" / "tasks" / "report.yml").read_text()
    assert '_scenario_run_run_dir }}/junit.xml"' in report_tasks and '_scenario_run_run_dir }}/verdict.json"' in report_tasks
    # The fields the jq summary reads exist in the documents the role writes.
    regression = regression_report({"scenario": "load", "source": "request_types", "series": {}, "error_rate": 0.0},
                                   {"run_id": "b", "source": "request_types", "series": {}, "error_rate": 0.0})
    doc = run_verdict({"lg1": {"verdict": "passed"}}, run_id="load-1", scenario="load", regression=regression)
    paths = re.findall(r"\\\((\.[a-z_.]+)", block) + re.findall(r"\((\.regression\.table)", block)
    assert {".scenario", ".run_id", ".outcome", ".verdict", ".regression.table"} <= set(paths), paths
    for path in paths:
        value = doc
        for key in path.strip(".").split("."):
            value = value[key]
    assert {"scenario", "run_id", "outcome", "verdict"} <= set(doc) and "table" in doc["regression"]
