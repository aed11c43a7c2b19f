"""The operator's view: ansible-playbook playbooks/smoke.yml on this machine (local connection),
against a demo target on a free port, with the real module, k6 and artifact collection."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


def _playbook(playbook, extra_vars, tmp_path, *args, timeout=300):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "load_generators:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(extra_vars))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K6_"))}
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
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
    }


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
