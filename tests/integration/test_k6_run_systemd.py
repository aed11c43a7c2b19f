"""loadops.k6.k6_run with limiter=systemd, inside a container that boots systemd as PID 1 (the
project's test machines do not run systemd as PID 1): the module file runs there with the
container's /usr/bin/python3 exactly as Ansible would run it on a systemd host.

The container (loadops/debian12-systemd, the molecule platform's flags) gets, read-only: this
checkout at its own path (so .collections resolves ansible_collections.loadops.k6), the venv's
`ansible` package (ansible-core is not installed in the image) and the k6 binary; read-write: a
work directory for the args files and results, at its own path. Its cgroup parent is under this
test process's own cgroup; the container and that parent are removed in a finalizer, also when a
test fails. No mocks: real systemd-run, real scopes, real OOM kills.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import ansible
import pytest

from k6run_helpers import (REPO, SCRIPTS, cgroups_named, docker_ok, image_present, own_cgroup_path, processes_with,
                           remove_cgroup_tree, start_systemd_container)

IMAGE = "loadops/debian12-systemd:latest"
MiB = 1024 ** 2
K6_IN_BOX = "/usr/local/bin/k6"

_ok, _why = docker_ok()
pytestmark = [
    pytest.mark.skipif(not _ok, reason="no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % _why),
    pytest.mark.skipif(_ok and not image_present(IMAGE), reason="image %s absent: build it with scripts/build-images.sh" % IMAGE),
]


class Box(object):
    """A running systemd container and how to run the module in it."""

    def __init__(self, name, work, parent):
        self.name, self.work, self.parent = name, work, parent
        self.container_id = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True,
                                           text=True, check=True, timeout=30).stdout.strip()

    def exec(self, *argv, timeout=60):
        return subprocess.run(["docker", "exec", self.name] + list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)

    def start_module(self, args):
        args_file = self.work / ("args-%s.json" % uuid.uuid4().hex)
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        proc = subprocess.Popen(
            ["docker", "exec", "-e", "PYTHONPATH=%s:/opt/loadops-py" % (REPO / ".collections"), self.name,
             "/usr/bin/python3", "-m", "ansible_collections.loadops.k6.plugins.modules.k6_run", str(args_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.args_file = args_file
        return proc

    def finish(self, proc, timeout=180):
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            proc.args_file.unlink()
        try:
            result = json.loads(out)
        except ValueError:
            raise AssertionError("module printed no JSON (rc %s): %s %s" % (proc.returncode, out[-2000:], err[-2000:]))
        result["_stdout"], result["_stderr"] = out, err
        return result

    def run(self, args, timeout=180):
        return self.finish(self.start_module(args), timeout)

    def units(self):
        out = self.exec("systemctl", "list-units", "--all", "--plain", "--no-legend", "loadops-k6-*").stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def scope_cgroups(self):
        """loadops-k6-* cgroups under the container's system.slice, in every hierarchy."""
        return cgroups_named("loadops-k6-", base="%s/%s/system.slice" % (self.parent, self.container_id))

    def k6_processes(self, marker):
        out = self.exec("ps", "-eo", "args").stdout
        return [line for line in out.splitlines() if marker in line and "k6" in line]


@pytest.fixture(scope="module")
def box(k6_bin, tmp_path_factory):
    name = "loadops-k6-sdtest-%d-%s" % (os.getpid(), secrets.token_hex(3))
    parent = own_cgroup_path().rstrip("/") + "/" + name
    work = tmp_path_factory.mktemp("systemd-box")
    mounts = ["%s:%s:ro" % (REPO, REPO), "%s:/opt/loadops-py/ansible:ro" % Path(ansible.__file__).parent,
              "%s:%s:ro" % (os.path.realpath(k6_bin), K6_IN_BOX), "%s:%s" % (work, work)]
    try:
        start_systemd_container(name, parent, "loadops.k6.test=systemd", mounts, boot_timeout=60)
        yield Box(name, work, parent)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120, check=False)
        remove_cgroup_tree(parent)


@pytest.fixture
def box_args(box, request):
    results = box.work / ("results-" + request.node.name.replace("[", "-").replace("]", ""))
    return {"k6_path": K6_IN_BOX, "results_dir": str(results), "html_report": False}


@pytest.fixture(autouse=True)
def no_unit_left(request):
    if "box" not in request.fixturenames:
        yield
        return
    the_box = request.getfixturevalue("box")
    yield
    assert the_box.units() == [], "a run left a systemd unit behind"
    assert the_box.scope_cgroups() == [], "a run left a scope cgroup behind"


def _script(name):
    return str(SCRIPTS / name)


def test_auto_picks_a_systemd_scope_under_systemd_and_a_passing_run_leaves_no_unit(box, box_args, demo_target):
    result = box.run(dict(box_args, script=_script("ok.js"), env={"BASE": demo_target}, memory_limit="256m",
                          cpu_limit="1", tags={"testid": "sd-ok"}))
    assert result["verdict"] == "passed", (result["msg"], result["_stderr"][-2000:])
    assert all(t["passed"] for t in result["thresholds"]) and result["metrics"]["requests"] > 5
    gen = result["generator"]
    assert gen["limiter"] == "systemd" and gen["unit"] == "loadops-k6-sd-ok.scope"
    assert gen["cgroup_version"] == 1 and gen["memory_limit_bytes"] == 256 * MiB and gen["cpu_limit"] == 1.0
    assert 0 < gen["memory_peak_bytes"] < 256 * MiB and gen["oom_killed"] is False and gen["cpu_seconds"] > 0
    assert Path(result["artifacts"]["summary"]).is_file()


def test_memory_hog_in_a_scope_is_oom_killed_and_reported_as_verdict_oom(box, box_args):
    result = box.run(dict(box_args, script=_script("memory_hog.js"), memory_limit="96m", limiter="systemd",
                          tags={"testid": "sd-oom"}))
    assert result["verdict"] == "oom_killed", (result["msg"], result["rc"])
    gen = result["generator"]
    assert gen["limiter"] == "systemd" and gen["oom_killed"] is True and result["rc"] in (-9, 137)
    assert 64 * MiB < gen["memory_peak_bytes"] <= 96 * MiB * 1.01
    assert gen["saturated"] is True and "OOM" in gen["reasons"][0]


def test_cpu_quota_of_the_scope_bites(box, box_args):
    # busy.js spins for 3 s of wall time: ~3 CPU-seconds unlimited, ~0.75 under CPUQuota=25%.
    result = box.run(dict(box_args, script=_script("busy.js"), cpu_limit="0.25", env={"SPIN_MS": "3000"},
                          tags={"testid": "sd-cpu"}))
    assert result["verdict"] == "passed", result["msg"]
    gen = result["generator"]
    assert gen["limiter"] == "systemd"
    assert 0.3 < gen["cpu_seconds"] < 1.3 and gen["throttled_share"] > 0.5 and gen["saturated"] is True, gen


def test_timeout_in_a_scope_stops_k6_keeps_the_summary_and_leaves_no_unit(box, box_args):
    result = box.run(dict(box_args, script=_script("sleeper.js"), timeout=3, tags={"testid": "sd-timeout"}))
    assert result["verdict"] == "timeout" and result["rc"] == 105 and result["generator"]["limiter"] == "systemd"
    assert result["artifacts"]["summary"] and Path(result["artifacts"]["summary"]).is_file()
    assert box.k6_processes("sd-timeout") == []


def test_sigterm_to_the_module_stops_k6_in_its_scope(box, box_args):
    proc = box.start_module(dict(box_args, script=_script("sleeper.js"), tags={"testid": "sd-sig"}))
    deadline = time.monotonic() + 30
    while "loadops-k6-sd-sig.scope" not in box.units() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert "loadops-k6-sd-sig.scope" in box.units(), "the scope never started"
    time.sleep(0.5)
    # The module's python, seen from the host: the process we started (its args file is unique).
    module_pids = [pid for pid in processes_with(proc.args_file.name)
                   if Path("/proc/%d/cmdline" % pid).read_bytes().startswith(b"/usr/bin/python3")]
    assert len(module_pids) == 1, module_pids
    os.kill(module_pids[0], signal.SIGTERM)
    result = box.finish(proc, timeout=90)
    assert result["verdict"] == "interrupted" and result["rc"] == 105, result["msg"]
    assert result["artifacts"]["summary"] is not None
    assert box.k6_processes("sd-sig") == []


def test_a_testid_whose_scope_exists_is_refused_and_the_other_scope_survives(box, box_args):
    holder = box.exec("systemd-run", "--scope", "--quiet", "--collect", "--unit", "loadops-k6-sd-busy",
                      "--", "/bin/sh", "-c", "exec sleep 30 </dev/null >/dev/null 2>&1 &")
    # systemd-run --scope returns once its command exits; the sleep keeps the scope alive.
    assert holder.returncode == 0, holder.stderr
    try:
        result = box.run(dict(box_args, script=_script("ok.js"), env={"BASE": "http://127.0.0.1:9"},
                              tags={"testid": "sd-busy"}))
        assert result["failed"] is True and "loadops-k6-sd-busy.scope already exists" in result["msg"], result["msg"]
        assert box.units() == ["loadops-k6-sd-busy.scope"]
    finally:
        box.exec("systemctl", "kill", "--signal=SIGKILL", "loadops-k6-sd-busy.scope")
        deadline = time.monotonic() + 10
        while box.units() and time.monotonic() < deadline:
            time.sleep(0.1)
