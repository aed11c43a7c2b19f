"""loadops.k6.k6_runner with k6_runner_install_method=docker: the role builds k6/Dockerfile.k6 on
this machine's real docker daemon (legacy builder), from the venv's k6 binary shipped as a local
file, and scenario_run then runs the smoke scenario in a container of that image.

Each test uses its own image name (loadops-test/k6-runner-<pid>-<n>:1.1.0) and removes exactly
the images it made. Nothing is pulled: Dockerfile.k6 is FROM scratch.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest

from k6run_helpers import docker_ok
from services import IN_CI, REPO, VENV_BIN, docker, recap, run_playbook

PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "k6_runner.yml"
_counter = itertools.count()

_ok, _why = docker_ok()
if not _ok and IN_CI:
    pytest.fail("CI must run the k6_runner docker tests, but docker does not answer: %s" % _why, pytrace=False)
pytestmark = pytest.mark.skipif(not _ok, reason="no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % _why)


def _image_id(name):
    proc = docker("image", "inspect", "-f", "{{.Id}}", name)
    return proc.stdout.strip() if proc.returncode == 0 else ""


@pytest.fixture
def image():
    """A fresh image name; the image (if any test step built it) is removed afterwards."""
    name = "loadops-test/k6-runner-%d-%d:1.1.0" % (os.getpid(), next(_counter))
    assert not _image_id(name)
    yield name
    if _image_id(name):
        docker("rmi", "-f", name, check=True)


def _vars(tmp_path, image, **more):
    base = tmp_path / "machine"
    return dict({
        "k6_runner_install_method": "docker",
        "k6_runner_docker_binary_from": "local_file",
        "k6_runner_local_file": str(VENV_BIN / "k6"),
        "k6_runner_docker_image": image,
        "k6_runner_install_dir": str(base / "opt"),
        "k6_runner_bin_path": str(base / "bin" / "k6"),
        "k6_runner_scripts_dir": str(base / "scripts"),
        "k6_runner_results_dir": str(base / "results"),
        "k6_runner_profile_file": str(base / "loadops-k6-profile.sh"),
    }, **more)


def _run(tmp_path, extra, *args):
    return run_playbook(tmp_path, PLAYBOOK, extra, *args, group="all")


def _out(proc):
    return proc.stdout[-5000:] + proc.stderr[-2000:]


def test_docker_method_builds_a_non_root_image_of_the_pinned_k6_and_a_second_run_changes_nothing(tmp_path, image):
    extra = _vars(tmp_path, image)
    first = _run(tmp_path, extra)
    assert first.returncode == 0, _out(first)
    assert recap(first)["changed"] > 0
    inspect = json.loads(docker("image", "inspect", image, check=True).stdout)[0]
    assert inspect["Config"]["User"] == "12345:12345"
    assert inspect["Config"]["Entrypoint"] == ["/usr/bin/k6"]
    assert inspect["Config"]["Labels"]["org.opencontainers.image.version"] == "1.1.0"
    assert inspect["Config"]["Labels"]["io.loadops.k6.build"] == "prebuilt"
    version = docker("run", "--rm", "--network", "host", image, "version", check=True).stdout
    assert version.startswith("k6 v1.1.0 ")
    assert Path(extra["k6_runner_profile_file"]).read_text().splitlines()[-1] == "export K6_NO_USAGE_REPORT=true"
    # The docker method puts no k6 on the load machine's PATH: scenario_run must use the image.
    assert not Path(extra["k6_runner_bin_path"]).exists()
    assert sorted(p.name for p in Path(extra["k6_runner_scripts_dir"]).iterdir()) == \
        sorted(p.name for p in (REPO / "k6" / "scripts").iterdir())

    second = _run(tmp_path, extra)
    assert second.returncode == 0, _out(second)
    assert recap(second)["changed"] == 0, _out(second)
    assert _image_id(image) == inspect["Id"]


def test_a_changed_binary_rebuilds_the_image(tmp_path, image):
    first = _run(tmp_path, _vars(tmp_path, image))
    assert first.returncode == 0, _out(first)
    before = _image_id(image)
    # Same k6, different bytes (trailing data after an ELF image does not stop it from running).
    other = tmp_path / "k6-other"
    shutil.copy(VENV_BIN / "k6", other)
    with open(other, "ab") as handle:
        handle.write(b"\0loadops-test")
    second = _run(tmp_path, _vars(tmp_path, image, k6_runner_local_file=str(other)))
    assert second.returncode == 0, _out(second)
    assert recap(second)["changed"] > 0
    assert _image_id(image) not in ("", before)
    assert docker("run", "--rm", image, "version", check=True).stdout.startswith("k6 v1.1.0 ")
    if before and not docker("image", "inspect", "-f", "{{.RepoTags}}", before).stdout.strip("[] \n"):
        docker("rmi", before)  # the replaced, now untagged image


def test_check_mode_on_a_fresh_machine_builds_and_writes_nothing(tmp_path, image):
    proc = _run(tmp_path, _vars(tmp_path, image), "--check", "--diff")
    assert proc.returncode == 0, _out(proc)
    assert not _image_id(image)
    assert not (tmp_path / "machine").exists()


def test_smoke_playbook_runs_k6_from_the_image_the_role_built(tmp_path, image, demo_target):
    extra = _vars(tmp_path, image)
    built = _run(tmp_path, extra)
    assert built.returncode == 0, _out(built)
    # Only the inventory's k6_runner settings: scenario_run follows them (runner, image, scripts).
    host_vars = {key: extra[key] for key in ("k6_runner_install_method", "k6_runner_docker_image", "k6_runner_scripts_dir")}
    proc = run_playbook(tmp_path, "smoke.yml", {
        "scenario_run_base_url": demo_target,
        "scenario_run_influxdb_url": "",
        "scenario_run_env": {"K6_TIME_SCALE": "0.1"},
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
    }, host_vars=host_vars)
    assert proc.returncode == 0, _out(proc)
    assert "VERDICT: PASSED" in proc.stdout
    run_dir = next((tmp_path / "on-controller").iterdir()) / "localhost"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["verdict"] == "passed"
    assert result["generator"]["limiter"] == "docker" and result["generator"]["container"], result["generator"]
    assert " %s run " % image in result["cmd"], result["cmd"]


def test_absent_removes_the_image_and_keeps_results_until_purge(tmp_path, image):
    extra = _vars(tmp_path, image)
    assert _run(tmp_path, extra).returncode == 0
    results = Path(extra["k6_runner_results_dir"])
    (results / "kept.txt").write_text("a past run\n")
    gone = _run(tmp_path, dict(extra, k6_runner_state="absent"))
    assert gone.returncode == 0, _out(gone)
    assert not _image_id(image)
    assert not Path(extra["k6_runner_install_dir"]).exists()
    assert not Path(extra["k6_runner_scripts_dir"]).exists()
    assert not Path(extra["k6_runner_profile_file"]).exists()
    assert (results / "kept.txt").exists()
    again = _run(tmp_path, dict(extra, k6_runner_state="absent"))
    assert again.returncode == 0 and recap(again)["changed"] == 0, _out(again)
    purged = _run(tmp_path, dict(extra, k6_runner_state="absent", k6_runner_purge=True))
    assert purged.returncode == 0, _out(purged)
    assert not results.exists()


@pytest.mark.parametrize("bad, phrase", [
    ({"k6_runner_docker_image": "Loadops/K6:1.1.0"}, 'k6_runner_docker_image "Loadops/K6:1.1.0" must be an image reference'),
    ({"k6_runner_docker_image": "loadops/k6:has space"}, 'k6_runner_docker_image "loadops/k6:has space" must be'),
    ({"k6_runner_docker_build": "source"}, "value of k6_runner_docker_build must be one of: prebuilt, xk6, got: source"),
    ({"k6_runner_docker_binary_from": "tarball"}, "the tarball method needs k6_runner_tarball_checksum"),
    ({"k6_runner_docker_binary_from": "local_file", "k6_runner_local_file": ""}, "local_file needs k6_runner_local_file"),
])
def test_bad_docker_settings_are_refused_before_anything_is_built(tmp_path, image, bad, phrase):
    extra = _vars(tmp_path, image, **bad)
    proc = _run(tmp_path, extra)
    assert proc.returncode != 0
    flat = " ".join(proc.stdout.split())
    assert phrase in flat, _out(proc)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not _image_id(extra["k6_runner_docker_image"]) or extra["k6_runner_docker_image"] == "Loadops/K6:1.1.0"
    assert not (tmp_path / "machine").exists()
