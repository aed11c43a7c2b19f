"""The collection's own gates, run as tests so one pytest summary covers everything:
ansible-lint (production profile), ansible-test sanity, ansible-doc, and the Molecule scenarios
that converge the roles (converge, idempotence, verify). Sanity, lint and the Molecule scenarios
on containers of their own start in the background as soon as they are collected (gates.py)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import gates

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


def test_background_integration_tests_pass():
    """The integration tests gates.py ran in a pytest of their own beside this one (BACKGROUND_FILES)."""
    found = gates.background_result()
    if found is None:
        # Selected alone, the background files run in this session; in the whole suite they must move.
        _need(not IN_CI, "the background tests did not start (see gates.move_to_background)")
        pytest.skip("no test was moved to the background (run alone, or no child cgroup here)")
    rc, output, nodeids = found
    assert nodeids, "nothing ran in the background"
    assert rc == 0, output[-12000:]
    assert " passed" in output.splitlines()[-1], output[-3000:]


# These two started in the background when pytest collected them (gates.py, conftest.py).
def test_ansible_lint_production_profile_passes():
    rc, output = gates.result("ansible_lint")
    assert rc == 0, output[-9000:]


def test_ansible_test_sanity_passes():
    _need(shutil.which("git") and (REPO / ".git").exists(), "ansible-test sanity needs a git checkout")
    _need(shutil.which("shellcheck"), "shellcheck is not installed (scripts/host-prereqs.sh installs it)")
    rc, output = gates.result("sanity")
    assert rc == 0, output[-9000:]


@pytest.mark.parametrize("name,kind,words", [
    ("loadops.k6.k6_run", "module", ["memory_limit", "verdict", "thresholds", "local_thresholds", "live_interval",
                                     "abort_thresholds"]),
    ("loadops.k6.k6_lease", "module", ["lease", "jid", "async_dir", "expired", "live_file"]),
    ("loadops.k6.run_timeout", "filter", ["total_duration_s", "minimum_margin"]),
    ("loadops.k6.lease_wait_over", "filter", ["until", "worker"]),
    ("loadops.k6.verdict_table", "filter", ["threshold", "verdict"]),
    ("loadops.k6.grafana_dashboard", "filter", ["uid", "__inputs"]),
    ("loadops.k6.run_verdict", "filter", ["outcome", "fail_on_thresholds"]),
    ("loadops.k6.run_judgement", "filter", ["passed", "reason"]),
    ("loadops.k6.run_announcement", "filter", ["max_vus", "check_mode"]),
    ("loadops.k6.plan_problems", "filter", ["memtotal_mb", "k6_version"]),
    ("loadops.k6.safety_refusals", "filter", ["allowed_targets", "force"]),
    ("loadops.k6.effective_targets", "filter", ["K6_BASE_URL", "output_prefixes"]),
    ("loadops.k6.health_probe", "filter", ["allow_redirects", "Location"]),
    ("loadops.k6.grafana_run_link", "filter", ["dashboard_uid", "started_epoch"]),
    ("loadops.k6.dashboard_pointer", "filter", ["Grafana", "report"]),
    ("loadops.k6.run_outcome", "filter", ["scenario_run_outcomes", "failure"]),
    ("loadops.k6.influxql_string", "filter", ["ScanString", "backslash"]),
    ("loadops.k6.influxql_ident", "filter", ["identifier", "double quotes"]),
    ("loadops.k6.result_record", "filter", ["invocation", "module_args"]),
    ("loadops.k6.signing_key_problem", "filter", ["fingerprint", "exactly one"]),
    ("loadops.k6.credential", "lookup", ["0600", "host"]),
    ("loadops.k6.image_reference", "test", ["registry", "digest"]),
    ("loadops.k6.k6_control", "module", ["wait_paused", "lease_file", "put_setup"]),
    ("loadops.k6.fleet_clocks", "filter", ["max_offset", "within_s", "uncertainty"]),
    ("loadops.k6.fleet_abort", "filter", ["delayAbortEval", "elapsed_s", "no-thresholds"]),
])
def test_plugin_docs_render_with_ansible_doc(name, kind, words):
    proc = _run([str(VENV_BIN / "ansible-doc"), "-t", kind, name], timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in words:
        assert word in proc.stdout


# "registry" needs a registry and the internet (upstream InfluxDB 2 and Grafana images, the xk6
# build): here only its playbooks' syntax is checked; it runs on a machine that has both.
REGISTRY_ONLY = ["registry"]
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")
                   if p.parent.name not in REGISTRY_ONLY)


def test_molecule_has_both_host_kinds_the_docker_methods_and_the_registry_scenario():
    assert SCENARIOS == ["default", "docker", "nosystemd"]
    assert (REPO / "molecule" / "registry" / "molecule.yml").exists()


@pytest.mark.parametrize("scenario", REGISTRY_ONLY)
def test_registry_only_molecule_scenario_passes_syntax_check(scenario):
    proc = _run([str(VENV_BIN / "molecule"), "syntax", "--scenario-name", scenario], timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "syntax: Executed: Successful" in out, out[-3000:]
    # Its own playbooks, not only converge (which molecule syntax checks).
    for playbook in ("prepare.yml", "verify.yml", "cleanup.yml"):
        check = _run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                      str(REPO / "molecule" / scenario / playbook)], timeout=300)
        assert check.returncode == 0, playbook + ": " + (check.stdout + check.stderr)[-3000:]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_converges_idempotently_and_verifies(scenario):
    _need(gates.docker_ready(), "docker with the local image loadops/debian12-systemd:latest "
                                "(scripts/host-prereqs.sh && scripts/build-images.sh)")
    if "molecule-%s" % scenario in gates.GATES:  # run in the background (gates.py)
        rc, out = gates.result("molecule-%s" % scenario)
    else:
        proc = _run([str(VENV_BIN / "molecule"), "test", "--scenario-name", scenario], timeout=1800)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    assert rc == 0, out[-8000:]
    for step in _sequence(scenario):
        if step != "destroy":  # scenarios on this machine itself have nothing to destroy
            assert re.search(r"%s (➜|>) %s: Executed: Successful" % (scenario, step), out), step


def _sequence(scenario):
    """The scenario's test_sequence: its own molecule.yml, else the shared .config/molecule/config.yml."""
    import yaml
    for path in (REPO / "molecule" / scenario / "molecule.yml", REPO / ".config" / "molecule" / "config.yml"):
        sequence = ((yaml.safe_load(path.read_text()) or {}).get("scenario") or {}).get("test_sequence")
        if sequence:
            assert {"converge", "idempotence", "verify"} <= set(sequence), (path, sequence)
            return sequence
    raise AssertionError("no test_sequence for scenario %s" % scenario)
