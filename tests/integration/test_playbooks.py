"""The operator's view: ansible-playbook playbooks/smoke.yml on this machine (local connection),
against a demo target on a free port, with the real module, k6 and artifact collection."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from services import AS_MODULE_USER

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


def _playbook(playbook, extra_vars, tmp_path, *args, timeout=300, host_vars=None, ansible_env=None):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "load_generators:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        + "".join("      %s: %s\n" % (key, json.dumps(value)) for key, value in (host_vars or {}).items()))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(extra_vars))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K6_"))}
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(ansible_env or {})  # e.g. ANSIBLE_CALLBACK_RESULT_FORMAT over the checkout's ansible.cfg
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "playbooks/%s" % playbook, "-i", str(inventory), "-e", "@%s" % extra, *args],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _vars(tmp_path, base_url):
    return {
        "scenario_run_script": str(REPO / "k6" / "scripts" / "scenarios" / "smoke.js"),
        "scenario_run_base_url": base_url,
        "scenario_run_influxdb_url": "",
        "scenario_run_env": {"K6_TIME_SCALE": "0.1"},
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        **AS_MODULE_USER,
    }


def _scaled(tmp_path, base_url, time_scale="0.02", vu_scale="0.05", **more):
    """Every scenario from the checkout's scripts, scaled down: load and stress in about 17 s."""
    return dict({
        "scenario_run_scripts_dir": str(REPO / "k6" / "scripts"),
        "scenario_run_base_url": base_url,
        "scenario_run_influxdb_url": "",
        "scenario_run_env": {"K6_TIME_SCALE": time_scale, "K6_VU_SCALE": vu_scale},
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        "scenario_run_progress_interval": 5,
        **AS_MODULE_USER,
    }, **more)


def _flat(text):
    """Ansible's YAML output folds long messages over several lines: compare with one space."""
    return " ".join(text.split())


def _run_dirs(tmp_path):
    root = tmp_path / "on-controller"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _only_run_dir(tmp_path):
    runs = list((tmp_path / "on-controller").iterdir())
    assert len(runs) == 1, runs
    return runs[0] / "localhost"


def test_smoke_playbook_prints_the_threshold_table_and_fetches_artifacts(tmp_path, demo_target):
    proc = _playbook("smoke.yml", _vars(tmp_path, demo_target), tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "THRESHOLD" in out and "OBSERVED" in out
    for metric in ("http_req_duration{type:read} p(95)<200", "http_req_failed rate<0.01", "iteration_duration p(95)<1000"):
        line = next(l for l in out.splitlines() if metric in l)
        assert line.rstrip().endswith("PASS"), line
    assert "VERDICT: PASSED" in out
    assert "open the HTML report instead" in out
    run_dir = _only_run_dir(tmp_path)
    assert run_dir.parent.name.startswith("smoke-")
    for name in ("summary.json", "report.html", "k6.log", "result.json", "verdict.txt"):
        assert (run_dir / name).stat().st_size > 0, name
    result = json.loads((run_dir / "result.json").read_text())
    assert result["verdict"] == "passed" and result["testid"] == run_dir.parent.name


def test_smoke_playbook_fails_on_a_crossed_threshold_and_still_collects(tmp_path, demo_target_factory):
    slow = demo_target_factory("--latency", "/api/tasks/=400", "--latency", "/api/campaigns/=400")
    proc = _playbook("smoke.yml", _vars(tmp_path, slow.url), tmp_path)
    assert proc.returncode == 2, proc.stdout[-4000:]
    line = next(l for l in proc.stdout.splitlines() if "http_req_duration{type:read} p(95)<200" in l)
    assert line.rstrip().endswith("FAIL"), line
    assert "VERDICT: THRESHOLDS_FAILED" in proc.stdout
    assert "localhost: thresholds_failed" in proc.stdout
    result = json.loads((_only_run_dir(tmp_path) / "result.json").read_text())
    assert result["verdict"] == "thresholds_failed"


def test_smoke_playbook_check_mode_estimates_and_runs_nothing(tmp_path, demo_target):
    proc = _playbook("smoke.yml", _vars(tmp_path, demo_target), tmp_path, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "check mode: script is valid; 1 VUs at most" in proc.stdout
    assert not (tmp_path / "on-load-machine").exists() and not (tmp_path / "on-controller").exists()


@pytest.mark.parametrize("playbook", sorted(p.name for p in (REPO / "playbooks").glob("*.yml")))
def test_every_playbook_passes_syntax_check(playbook, tmp_path):
    proc = _playbook(playbook, {}, tmp_path, "--syntax-check", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_load_playbook_runs_the_load_scenario_passes_and_saves_a_per_endpoint_baseline(tmp_path, demo_target):
    proc = _playbook("load.yml", _scaled(tmp_path, demo_target, scenario_run_save_baseline=True), tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    runs = _run_dirs(tmp_path)
    assert len(runs) == 1 and runs[0].startswith("load-"), runs
    verdict = json.loads((tmp_path / "on-controller" / runs[0] / "verdict.json").read_text())
    assert verdict["scenario"] == "load" and verdict["verdict"] == "passed"
    # K6_VU_SCALE=0.05 of the load profile's 50 VUs: the run really used the load scenario.
    assert verdict["hosts"]["localhost"]["requirements"]["max_vus"] == 3
    assert "VERDICT: PASSED" in proc.stdout
    # The seed's load scenario names its requests but has no per-endpoint threshold: the sample
    # reduction still gives every endpoint, so the baseline is per endpoint.
    endpoints = {e["name"]: e for e in verdict["hosts"]["localhost"]["endpoints"]}
    baseline = json.loads((tmp_path / "baselines" / "load.json").read_text())
    assert baseline["source"] == "endpoints" and baseline["run_id"] == runs[0], baseline
    assert "endpoint /api/tasks/" in baseline["series"], baseline["series"]
    assert set(baseline["series"]) == {"endpoint %s" % name for name, e in endpoints.items() if e["count"]}
    assert baseline["series"]["endpoint /api/tasks/"]["p95_ms"] == round(endpoints["/api/tasks/"]["p95_ms"], 3)


@pytest.mark.parametrize("playbook", ["stress.yml", "spike.yml"])
def test_heavy_playbooks_refuse_a_machine_not_marked_dedicated(playbook, tmp_path, demo_target_factory):
    target = demo_target_factory("--verbose")
    proc = _playbook(playbook, _scaled(tmp_path, target.url), tmp_path,
                     host_vars={"loadops_dedicated_load_machine": False})
    assert proc.returncode == 2, proc.stdout[-4000:]
    scenario = playbook[:-4]
    assert "refusing to run %s here because this host is not marked as a dedicated load machine" % scenario in proc.stdout
    assert "loadops_dedicated_load_machine: true" in proc.stdout and "scenario_run_force: true" in proc.stdout
    assert _run_dirs(tmp_path) == []
    assert "/api/" not in target.stderr() and "/auth/login/" not in target.stderr(), "load reached the target"


def test_stress_playbook_runs_on_a_dedicated_machine_and_announces_its_peak(tmp_path, demo_target):
    proc = _playbook("stress.yml", _scaled(tmp_path, demo_target), tmp_path,
                     host_vars={"loadops_dedicated_load_machine": True})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # 200 VUs * 0.05; 14 min of stages * 0.02 plus the scaled graceful stop, from k6 inspect.
    out = _flat(proc.stdout)
    announce = out[out.index("About to run stress"):][:400]
    assert "peak 10 VUs, 0m 18s" in announce, announce
    assert proc.stdout.index("About to run stress") < proc.stdout.index("Start k6 scenario stress")
    runs = _run_dirs(tmp_path)
    assert len(runs) == 1 and runs[0].startswith("stress-"), runs


def test_spike_playbook_runs_when_forced_on_a_machine_not_marked_dedicated(tmp_path, demo_target):
    proc = _playbook("spike.yml", _scaled(tmp_path, demo_target, time_scale="0.05", scenario_run_force=True), tmp_path,
                     host_vars={"loadops_dedicated_load_machine": False})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "not a dedicated load machine; running spike anyway because scenario_run_force is true" in _flat(proc.stdout)
    assert "VERDICT: PASSED" in proc.stdout


# Two of the read endpoints at 250 ms: read p95 above smoke's and load's 200 ms, below stress's and
# spike's 400 ms, so smoke and load fail and stress and spike pass.
SLOW_READS = ("--latency", "/api/tasks/=250", "--latency", "/api/campaigns/=250")


def test_all_playbook_stops_at_the_first_failed_scenario(tmp_path, demo_target_factory):
    slow = demo_target_factory(*SLOW_READS)
    proc = _playbook("all.yml", _scaled(tmp_path, slow.url), tmp_path,
                     host_vars={"loadops_dedicated_load_machine": True})
    assert proc.returncode == 2, proc.stdout[-4000:]
    runs = _run_dirs(tmp_path)
    assert len(runs) == 1 and runs[0].startswith("smoke-"), runs
    assert "Start k6 scenario load" not in proc.stdout


def test_all_playbook_goes_on_when_told_and_fails_at_the_end(tmp_path, demo_target_factory):
    slow = demo_target_factory(*SLOW_READS)
    proc = _playbook("all.yml", _scaled(tmp_path, slow.url, loadops_continue_on_failure=True), tmp_path,
                     host_vars={"loadops_dedicated_load_machine": True}, timeout=600)
    assert proc.returncode == 2, proc.stdout[-4000:]
    runs = _run_dirs(tmp_path)
    assert sorted(r.split("-")[0] for r in runs) == ["load", "smoke", "spike", "stress"], runs
    outcomes = [l.split("msg:")[1].strip().strip("'") for l in proc.stdout.splitlines()
                if "msg:" in l and ("PASSED (verdict" in l or "FAILED (verdict" in l)]
    assert [o.split(":")[0] for o in outcomes] == ["smoke", "load", "stress", "spike"], outcomes
    assert [o.split(": ")[1].split(" ")[0] for o in outcomes] == ["FAILED", "FAILED", "PASSED", "PASSED"], outcomes
    assert "failed scenarios: smoke, load" in proc.stdout
