"""The collection's own gates, run as tests so one pytest summary covers everything:
ansible-lint (production profile), ansible-test sanity, ansible-doc, and the Molecule scenario
that converges the roles on a systemd container (converge, idempotence, verify)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["NO_COLOR"] = "1"
    return env


def _run(argv, timeout):
    return subprocess.run(argv, cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def _need(condition, reason):
    if not condition:
        if IN_CI:
            pytest.fail("CI must run this gate: " + reason)
        pytest.skip(reason)


def test_ansible_lint_production_profile_passes():
    proc = _run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor"], timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


def test_ansible_test_sanity_passes():
    _need(shutil.which("git") and (REPO / ".git").exists(), "ansible-test sanity needs a git checkout")
    _need(shutil.which("shellcheck"), "shellcheck is not installed (scripts/host-prereqs.sh installs it)")
    proc = _run(["bash", "scripts/sanity.sh"], timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("name,kind,words", [
    ("loadops.k6.k6_run", "module", ["memory_limit", "verdict", "thresholds"]),
    ("loadops.k6.verdict_table", "filter", ["threshold", "verdict"]),
    ("loadops.k6.grafana_dashboard", "filter", ["uid", "__inputs"]),
    ("loadops.k6.credential", "lookup", ["0600", "host"]),
])
def test_plugin_docs_render_with_ansible_doc(name, kind, words):
    proc = _run([str(VENV_BIN / "ansible-doc"), "-t", kind, name], timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in words:
        assert word in proc.stdout


def _docker_ready():
    if not shutil.which("docker"):
        return False
    ok = subprocess.run(["docker", "image", "inspect", "loadops/debian12-systemd:latest"],
                        capture_output=True, check=False, timeout=60)
    return ok.returncode == 0


SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


def test_molecule_has_both_host_kinds():
    assert SCENARIOS == ["default", "nosystemd"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_converges_idempotently_and_verifies(scenario):
    _need(_docker_ready(), "docker with the local image loadops/debian12-systemd:latest "
                           "(scripts/host-prereqs.sh && scripts/build-images.sh)")
    proc = _run([str(VENV_BIN / "molecule"), "test", "--scenario-name", scenario], timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    for step in ("converge", "idempotence", "verify"):
        assert "%s: Executed: Successful" % step in out or "➜ %s" % step in out, step
