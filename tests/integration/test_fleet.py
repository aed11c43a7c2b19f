"""Fleet runs (issue 13): one test across several load machines, judged once on all their samples.

The load machines are inventory aliases of this machine (local connection), each with its own
results directory; all but the first run k6 without a cgroup of their own (the cgroup is named by
the run id, which the machines share). The script (k6_scripts/fleet.js) records values derived from
exec.scenario.iterationInTest, so the union of the machines' samples can be compared bit for bit
with one plain `k6 run` of the whole script. Load goes to a demo target on loopback; every run is
bounded by its scenarios and a timeout.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from services import AS_MODULE_USER, run_playbook

SCRIPT = Path(__file__).parent / "k6_scripts" / "fleet.js"
STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99.9)")

from ansible_collections.loadops.k6.plugins.module_utils import k6_samples


def _inventory(tmp_path, names, host_env=None, limiter_all=False):
    host_env = host_env or {}
    text = "load_generators:\n  hosts:\n"
    for i, name in enumerate(names):
        host_vars = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "scenario_run_results_dir": str(tmp_path / ("on-" + name)),
                     "scenario_run_env": host_env.get(name, {})}
        if i and not limiter_all:
            host_vars["scenario_run_limiter"] = "none"
        text += "    %s:\n" % name + "".join("      %s: %s\n" % (k, json.dumps(v)) for k, v in host_vars.items())
    return text


def _vars(tmp_path, target, **more):
    return dict({
        "scenario_run_name": "fleet",
        "scenario_run_script": str(SCRIPT),
        "scenario_run_scripts_dir": str(SCRIPT.parent),
        "scenario_run_base_url": target.url,
        "scenario_run_influxdb_url": "",
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        "scenario_run_progress_interval": 3,
        # These tests run beside others (gates.py): on a busy 2-core machine a tick of three machines'
        # tasks can outlast the default 10 s lease. What a lapse does is test_stop.py's subject.
        "scenario_run_lease_ttl": 30,
        "scenario_run_fail_on_thresholds": False,
        "scenario_run_fail_on_regression": False,
    }, **AS_MODULE_USER, **more)


def _out(proc):
    return proc.stdout[-8000:] + proc.stderr[-3000:]


def _run_dir(tmp_path):
    runs = [p for p in (tmp_path / "on-controller").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def _seen(target, marker):
    return [line for line in target.stderr().splitlines() if marker in line]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, k6_bin):
    """One machine's numbers: plain `k6 run` of the whole script (no Ansible), its summary export.
    The values compared do not depend on HTTP: the requests go to a closed loopback port (they fail
    at once, so k6 exits 99 for the error-rate thresholds)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d" % sock.getsockname()[1]
    out = tmp_path_factory.mktemp("reference")
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update(K6_NO_USAGE_REPORT="true", K6_BASE_URL=closed)
    proc = subprocess.run([k6_bin, "run", "--quiet", "--summary-export", str(out / "summary.json"), str(SCRIPT)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode in (0, 99), proc.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())["metrics"]


def _equal_to_one_machine(doc, reference):
    """Every global statistic equals one machine's run of the whole script, bit for bit (avg: 1e-12)."""
    det = reference["fleet_det"]
    for stat in STATS:
        observed = _observed(doc, "fleet_det", "%s>=0" % stat)["observed"]["value"]
        if stat == "avg":
            assert observed == pytest.approx(det[stat], rel=1e-12, abs=0), stat
        else:
            assert observed == det[stat], (stat, observed, det[stat])


def _observed(doc, metric, expression):
    found = [t for t in doc["thresholds"] if t["metric"] == metric and t["expression"] == expression]
    assert len(found) == 1, (metric, expression, doc["thresholds"])
    return found[0]


@pytest.mark.parametrize("machines", [3, 2])
def test_a_split_test_on_n_machines_has_exactly_one_machines_numbers(
        tmp_path, demo_target_factory, reference, machines):
    target = demo_target_factory("--verbose")
    names = ["lg%d" % (i + 1) for i in range(machines)]
    p95 = repr(reference["fleet_det"]["p(95)"])
    # lg1 asks for a missing page on 2 of 10 iterations: 20 % failed there, 10 % (N = 2) or 7 % (N = 3) overall.
    # 'rate<0.15' has abortOnFail: lg1 alone crosses it, the test does not, so nothing aborts.
    env = {name: {"FLEET_P95": p95, "FLEET_ABORT_RATE": "1"} for name in names}
    env["lg1"]["FLEET_FLAKY"] = "1"
    started = time.monotonic()
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, target), inventory_text=_inventory(tmp_path, names, env))
    assert proc.returncode == 0, _out(proc)
    run = _run_dir(tmp_path)
    doc = json.loads((run / "verdict.json").read_text())

    # The split: one segment sequence over the sorted machines, every one started together.
    assert doc["distribution"]["mode"] == "split"
    assert doc["distribution"]["sequence"] == {3: "0,1/3,2/3,1", 2: "0,1/2,1"}[machines]
    assert doc["start"]["started"] and doc["start"]["skew_ms"] < 100, doc["start"]
    assert all(abs(h["late_ms"]) < 100 for h in doc["start"]["hosts"].values()), doc["start"]
    # The preflight read every machine's clock between two readings of the controller's (one clock here).
    clocks = doc["start"]["clocks"]
    assert sorted(clocks["hosts"]) == names and clocks["problems"] == [], clocks
    assert all(abs(h["offset_s"]) <= h["within_s"] + 0.002 for h in clocks["hosts"].values()), clocks
    assert "clock offsets from the controller (within " in proc.stdout

    _equal_to_one_machine(doc, reference)
    assert _observed(doc, "iterations", "count>=0")["observed"]["value"] == reference["iterations"]["count"]
    assert doc["metrics"]["iterations"] == reference["iterations"]["count"]
    # Thresholds exactly at one machine's p(95) flip as <= and < do.
    assert _observed(doc, "fleet_det", "p(95)<=" + p95)["passed"] is True
    assert _observed(doc, "fleet_det", "p(95)<" + p95)["passed"] is False

    # Every iteration index of every scenario exactly once, over all machines.
    merged = k6_samples.merge(k6_samples.load(str(run / name / "reduction.json")) for name in names)
    rar = reference["iterations"]["count"] - 61 - 41
    assert rar == 18
    for scenario, total in (("shared", 61), ("car", 41), ("rar", rar)):
        values = sorted(v for s in merged.series.values() if s.metric == "fleet_idx" and dict(s.tags)["scenario"] == scenario
                        for v in s.values)
        assert values == [float(i) for i in range(len(values))], scenario
        assert len(values) == total, (scenario, len(values))

    # The error rate is judged on all requests: 20 % on lg1 alone is not the test's rate.
    assert _observed(doc, "http_req_failed", "rate<0.15")["passed"] is True
    assert _observed(doc, "http_req_failed", "rate<0.05")["passed"] is False
    lg1 = {(t["metric"], t["expression"]): t["passed"] for t in doc["hosts"]["lg1"]["thresholds"]}
    assert lg1[("http_req_failed", "rate<0.15")] is False
    # ... and lg1's k6 did not abort on it: k6 judged no threshold there (--no-thresholds), loadops did.
    assert doc["hosts"]["lg1"]["verdict"] == "thresholds_failed" and doc["hosts"]["lg1"]["rc"] == 0
    assert doc["aborted"] is None
    lg2 = {(t["metric"], t["expression"]): t["passed"] for t in doc["hosts"]["lg2"]["thresholds"]}
    assert lg2[("http_req_failed", "rate<0.05")] is True
    assert doc["verdict"] == "thresholds_failed" and doc["outcome"] == "passed", doc["reason"]
    assert "rate<0.05" in doc["reason"] and "p(95)<" + p95 in doc["reason"]

    # setup() and teardown() reached the target once each; every machine got setup()'s data.
    assert len(_seen(target, "fleet=setup")) == 1 and len(_seen(target, "fleet=teardown")) == 1
    assert doc["checks"]["failed"] == 0 and doc["checks"]["passed"] == reference["iterations"]["count"]

    # The report: the whole test first, then one line per machine; JUnit likewise.
    out = " ".join(proc.stdout.split())
    assert "k6 run %s on all %d load machines" % (run.name, machines) in out
    assert "VERDICT: THRESHOLDS_FAILED (all load machines' samples)" in out
    root = ET.parse(str(run / "junit.xml")).getroot()
    suites = root.findall("testsuite")
    assert suites[0].get("name") == "fleet on all %d load machines" % machines
    assert [s.get("hostname") for s in suites[1:]] == names
    assert all(s.get("failures") == "0" and s.get("errors") == "0" for s in suites[1:])
    # Two thresholds crossed, and the one endpoint with failed requests (the missing page, from lg1).
    assert [e["name"] for e in doc["endpoints"] if e["failed"]] == [target.url + "/no-such-page/"]
    assert suites[0].get("failures") == "3"
    assert time.monotonic() - started < 150


def test_an_abort_on_fail_threshold_is_decided_on_all_machines_samples_and_stops_every_machine(
        tmp_path, demo_target_factory):
    """'count<250' on iterations with abortOnFail: one machine makes about 5 a second for 40 s (never 250
    alone), three together cross it after about 17 s; the controller then stops every machine."""
    target = demo_target_factory()
    names = ["lg1", "lg2", "lg3"]
    env = {name: {"FLEET_MODE": "long", "FLEET_ABORT_COUNT": "250"} for name in names}
    # One tick every 5 s: a progress line and a check of the abortOnFail thresholds (the default interval).
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, target, scenario_run_progress_interval=5),
                        inventory_text=_inventory(tmp_path, names, env))
    assert proc.returncode == 2, _out(proc)
    doc = json.loads((_run_dir(tmp_path) / "verdict.json").read_text())
    assert doc["verdict"] == "aborted" and doc["outcome"] == "failed", doc.get("reason")
    aborted = doc["aborted"]
    assert [(t["metric"], t["expression"]) for t in aborted["thresholds"]] == [("iterations", "count<250")], aborted
    assert aborted["thresholds"][0]["observed"]["value"] >= 250 and aborted["elapsed_s"] < 38, aborted
    assert doc["reason"].startswith("an abortOnFail threshold was crossed on all machines' samples after "), doc["reason"]
    assert "iterations count<250" in doc["reason"]
    assert "abortOnFail: crossed on all machines'' samples after" in " ".join(proc.stdout.split())
    # No machine got there alone; every one was stopped early, and nothing of the run is left running.
    for name in names:
        host = doc["hosts"][name]
        assert host["verdict"] == "interrupted", host
        assert host["metrics"]["iterations"] < 250 and host["duration_s"] < 38, host
        assert _k6_pids(tmp_path / ("on-" + name)) == []
        assert not list((tmp_path / ("on-" + name)).glob("*/reduction.live.json*"))
    assert doc["metrics"]["iterations"] >= 250
    assert _observed(doc, "iterations", "count<250")["passed"] is False


def test_a_machine_that_cannot_initialize_the_script_starts_nothing_anywhere(tmp_path, demo_target_factory):
    target = demo_target_factory("--verbose")
    names = ["lg1", "lg2", "lg3"]
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, target),
                        inventory_text=_inventory(tmp_path, names, {"lg2": {"FLEET_BREAK_INIT": "1"}}))
    assert proc.returncode == 2, _out(proc)
    doc = json.loads((_run_dir(tmp_path) / "verdict.json").read_text())
    assert doc["verdict"] == "script_error", doc
    assert doc["start"]["started"] is False and "lg2 is not ready" in doc["start"]["problem"], doc["start"]
    assert "init broken on purpose" in doc["hosts"]["lg2"]["msg"] + doc["start"]["problem"]
    assert {doc["hosts"][n]["verdict"] for n in ("lg1", "lg3")} == {"interrupted"}
    # Only the preflight's health probes reached the target: no setup, no iteration.
    assert _seen(target, "fleet=") == [] and _seen(target, "no-such-page") == []
    assert doc["metrics"].get("iterations", 0) == 0


def _k6_pids(results_dir):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc/%s/cmdline" % entry).read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"k6") and str(results_dir).encode() in b" ".join(argv):
            pids.append(int(entry))
    return pids


def test_a_machine_lost_mid_run_stops_the_others_and_the_run_is_incomplete(tmp_path, demo_target_factory):
    target = demo_target_factory("--verbose")
    names = ["lg1", "lg2", "lg3"]
    env = {name: {"FLEET_MODE": "long"} for name in names}
    extra = tmp_path / "x"
    extra.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", (
        "import json, sys; sys.path.insert(0, %r); from services import run_playbook; from pathlib import Path; "
        "p = run_playbook(Path(%r), 'smoke.yml', json.loads(%r), inventory_text=%r); "
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr); sys.exit(p.returncode)") % (
        str(Path(__file__).parent), str(extra), json.dumps(_vars(tmp_path, target)), _inventory(tmp_path, names, env))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, killed = time.monotonic() + 120, None
        while time.monotonic() < deadline and killed is None:
            pids = _k6_pids(tmp_path / "on-lg2")
            iterations = len([line for line in target.stderr().splitlines() if "/health/ " in line or "/health/ HTTP" in line])
            if pids and iterations > 20:
                time.sleep(3)
                os.kill(pids[0], signal.SIGKILL)
                killed = time.monotonic()
            time.sleep(0.5)
        assert killed, "lg2's k6 never ran"
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stdout[-6000:] + stderr[-2000:]
    doc = json.loads((_run_dir(tmp_path) / "verdict.json").read_text())
    assert doc["verdict"] == "incomplete" and doc["outcome"] == "failed", doc.get("reason")
    assert doc["hosts"]["lg2"]["verdict"] == "k6_error"
    assert {doc["hosts"][n]["verdict"] for n in ("lg1", "lg3")} == {"interrupted"}
    # The others stopped well before the scenario's 40 s, and nothing of the run is left running.
    assert all(doc["hosts"][n]["duration_s"] < 38 for n in ("lg1", "lg3")), doc["hosts"]
    assert all(_k6_pids(tmp_path / ("on-" + n)) == [] for n in names)
    # The samples that arrived are still judged and shown; a failure more samples could not undo is named.
    assert doc["metrics"]["iterations"] > 0 and set(doc["merged"]) == set(names)
    final = {t["expression"]: t["final"] for t in doc["thresholds"] if t["metric"] == "iterations"}
    assert final == {"count>=0": False, "count<5": True}, doc["thresholds"]
    assert "crossed for good on the samples that arrived (more could not undo it): iterations count<5" in doc["reason"]
