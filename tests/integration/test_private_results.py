"""The controller's copy of a run is private and result.json carries no module argument.

playbooks/smoke.yml on this machine against a demo target whose login is a secret; the script's
environment also holds a value under a name that does not look secret (which the module's masking
does not catch, and which the registered result's invocation.module_args used to carry).
"""
from __future__ import annotations

import json
import os
import stat

import pytest

from services import REPO, run_playbook

SECRET = "Pr1vate'Pa55\\word"
MARKER = "marker-value-4711"


@pytest.mark.parametrize("secret_in", ["scenario_run_env", "scenario_run_secret_env"])
def test_run_directories_are_0700_files_0600_and_result_json_has_no_arguments(
        tmp_path, demo_target_factory, secret_in):
    """The login only works when the password reached k6; wherever it was given, it is nowhere else."""
    target = demo_target_factory("--email", "qa@example.net", "--password", SECRET)
    env = {"K6_TIME_SCALE": "0.1", "K6_TEST_USER_EMAIL": "qa@example.net", "LOADOPS_PLAIN_SETTING": MARKER}
    secret_env = {}
    (env if secret_in == "scenario_run_env" else secret_env)["K6_TEST_USER_PASSWORD"] = SECRET
    extra = {
        "scenario_run_script": str(REPO / "k6" / "scripts" / "scenarios" / "smoke.js"),
        "scenario_run_base_url": target.url,
        "scenario_run_influxdb_url": "",
        "scenario_run_env": env,
        "scenario_run_secret_env": secret_env,
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        # k6 as the module's user: this machine is not provisioned (no loadops-k6), and pytest's
        # temporary directories are root's alone.
        "scenario_run_user": "",
    }
    proc = run_playbook(tmp_path, "smoke.yml", extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert SECRET not in out

    [run_dir] = list((tmp_path / "on-controller").iterdir())
    host_dir = run_dir / "localhost"
    for directory in (run_dir, host_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    files = sorted(p.name for p in run_dir.rglob("*") if p.is_file())
    assert {"verdict.json", "junit.xml", "result.json", "verdict.txt", "summary.json", "k6.log"} <= set(files), files
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    text = (host_dir / "result.json").read_text()
    result = json.loads(text)
    assert result["verdict"] == "passed" and result["thresholds"] and result["artifacts"]["summary"]
    assert "invocation" not in result and "module_args" not in text
    assert MARKER not in text and SECRET not in text
    for name in files:
        assert SECRET not in next(run_dir.rglob(name)).read_text(errors="replace"), name


@pytest.fixture
def k6_user():
    """The unprivileged user the k6_runner role creates (made the same way when this machine has
    none, and removed again)."""
    import pwd
    import subprocess
    try:
        pwd.getpwnam("loadops-k6")
        made = False
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "loadops-k6"],
                       check=True)
        made = True
    yield pwd.getpwnam("loadops-k6")
    if made:
        subprocess.run(["userdel", "loadops-k6"], check=False)


def test_by_default_k6_runs_as_the_unprivileged_loadops_k6_user(tmp_path, demo_target, k6_user):
    import shutil
    import tempfile
    on_load_machine = tempfile.mkdtemp(prefix="loadops-results-")  # others may enter, as /var/lib/loadops
    os.chmod(on_load_machine, 0o755)
    try:
        extra = {
            "scenario_run_script": str(REPO / "k6" / "scripts" / "scenarios" / "smoke.js"),
            "scenario_run_base_url": demo_target,
            "scenario_run_influxdb_url": "",
            "scenario_run_env": {"K6_TIME_SCALE": "0.1"},
            "scenario_run_results_dir": os.path.join(on_load_machine, "results"),
            "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
            "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        }
        proc = run_playbook(tmp_path, "smoke.yml", extra)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        [run_dir] = list((tmp_path / "on-controller").iterdir())
        result = json.loads((run_dir / "localhost" / "result.json").read_text())
        assert result["verdict"] == "passed" and result["run_as_user"] == "loadops-k6"
        [on_machine] = [p for p in os.scandir(os.path.join(on_load_machine, "results")) if not p.name.startswith(".")]
        assert stat.S_IMODE(os.stat(on_machine.path).st_mode) == 0o700
    finally:
        shutil.rmtree(on_load_machine, ignore_errors=True)
