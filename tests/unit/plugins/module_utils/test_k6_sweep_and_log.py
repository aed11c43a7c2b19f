"""The sweep of killed runs' leftovers, the run registry, and k6's log pump (masking, full disk)."""
from __future__ import annotations

import os
import subprocess

from ansible_collections.loadops.k6.plugins.module_utils import k6_command, k6_process, k6_sweep

V1_PROC = "4:memory:/jobs/ci\n2:cpu,cpuacct:/\n1:cpu:/\n0::/\n"


class FakeRegistry(object):
    def __init__(self, active=()):
        self.active_ids = set(active)

    def active(self, testid):
        return testid in self.active_ids


def _tree(tmp_path, names):
    root = tmp_path / "cg"
    for name in names:
        for hierarchy in ("memory", "cpu"):
            (root / hierarchy / "jobs/ci" / name).mkdir(parents=True)
            (root / hierarchy / "jobs/ci" / name / "cgroup.procs").write_text("")
    return root


def test_sweep_removes_run_cgroups_of_inactive_runs_in_every_hierarchy_and_keeps_active_ones(tmp_path, monkeypatch):
    root = _tree(tmp_path, ["loadops-k6-dead-1", "loadops-k6-live-2", "loadops-k6-dead-1-prep", "loadops-docker"])
    removed = []
    monkeypatch.setattr(k6_sweep, "_kill_and_remove", lambda paths: removed.extend(paths) or [])
    done, problems = k6_sweep.sweep(FakeRegistry(active={"live-2"}), root=str(root), proc_cgroup_text=V1_PROC,
                                    run_cmd=lambda argv, timeout=60: (1, "", ""))
    assert done == ["cgroup loadops-k6-dead-1", "cgroup loadops-k6-dead-1-prep"] and problems == []
    assert sorted(os.path.relpath(p, str(root)) for p in removed) == sorted([
        "memory/jobs/ci/loadops-k6-dead-1", "cpu/jobs/ci/loadops-k6-dead-1",
        "memory/jobs/ci/loadops-k6-dead-1-prep", "cpu/jobs/ci/loadops-k6-dead-1-prep"])


def test_sweep_removes_only_our_named_containers_of_inactive_runs(tmp_path):
    calls = []

    def run_cmd(argv, timeout=60):
        calls.append(argv)
        if argv[1] == "ps":
            return 0, ("loadops-k6-dead-3\tdead-3\nloadops-k6-live-4\tlive-4\n"
                       "loadops-influxdb-test-1\tsomething\nloadops-k6-dead-3-inspect\tdead-3\n"), ""
        return 0, "", ""

    done, _problems = k6_sweep.sweep(FakeRegistry(active={"live-4"}), docker_cli="docker", root=str(tmp_path),
                                     proc_cgroup_text=V1_PROC, run_cmd=run_cmd)
    assert done == ["container loadops-k6-dead-3", "container loadops-k6-dead-3-inspect"]
    assert ["docker", "rm", "-f", "-v", "loadops-k6-live-4"] not in calls
    assert ["docker", "rm", "-f", "-v", "loadops-influxdb-test-1"] not in calls


def test_sweep_stops_scopes_of_inactive_runs(tmp_path):
    calls = []

    def run_cmd(argv, timeout=60):
        calls.append(argv)
        if argv[1] == "list-units":
            return 0, "loadops-k6-dead-5.scope loaded active running loadops.k6 k6 run\n", ""
        return 0, "", ""

    done, _problems = k6_sweep.sweep(FakeRegistry(), systemctl="systemctl", root=str(tmp_path),
                                     proc_cgroup_text=V1_PROC, run_cmd=run_cmd)
    assert done == ["scope loadops-k6-dead-5.scope"]
    assert ["systemctl", "kill", "--signal=SIGKILL", "loadops-k6-dead-5.scope"] in calls


def test_registry_knows_live_runs_and_their_helpers_and_forgets_dead_ones(tmp_path):
    registry = k6_sweep.Registry(str(tmp_path / "state"))
    registry.register("t-1")
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"
    assert registry.active("t-1") and registry.active("t-1-prep") and registry.active("t-1-inspect")
    assert not registry.active("t-2")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "state" / "t-3").write_text("%d\n" % dead.pid)
    assert not registry.active("t-3")
    registry.unregister("t-1")
    assert not registry.active("t-1")


def test_log_pump_masks_secrets_as_it_writes(tmp_path):
    read, write = os.pipe()
    with os.fdopen(write, "wb") as out:
        out.write(b'level=info msg="token abc-s3cret in a header"\n')
        out.write(b"url http://user:pw-s3cret@127.0.0.1/x\n")
    pump = k6_process.LogPump(os.fdopen(read, "rb"), str(tmp_path / "k6.log"),
                              mask=k6_command.line_masker({"abc-s3cret"}))
    pump.run()
    text = (tmp_path / "k6.log").read_text()
    assert "abc-s3cret" not in text and "pw-s3cret" not in text and text.count("********") == 2
    assert "abc-s3cret" not in pump.tail_text()
    assert oct((tmp_path / "k6.log").stat().st_mode & 0o777) == "0o600"


def test_log_pump_keeps_draining_when_the_disk_is_full():
    lines = [b"line %d\n" % i for i in range(5000)]  # far more than a pipe buffer holds
    read, write = os.pipe()
    pump = k6_process.LogPump(os.fdopen(read, "rb"), "/dev/full")  # every write fails with ENOSPC
    pump.start()
    with os.fdopen(write, "wb") as out:  # would block forever if the pump stopped reading
        for line in lines:
            out.write(line)
    pump.join(timeout=10)
    assert not pump.is_alive()
    assert pump.write_error is not None and pump.dropped == len(lines)
    assert pump.tail_text().endswith("line 4999\n")


def test_mask_file_rewrites_only_files_holding_a_secret_and_keeps_gzip(tmp_path):
    import gzip
    plain = tmp_path / "samples.json"
    plain.write_text('{"url":"http://x/?token=t0k3n-1"}\n{"ok":1}\n')
    os.chmod(str(plain), 0o600)
    packed = tmp_path / "samples.json.gz"
    with gzip.open(str(packed), "wb") as handle:
        handle.write(b'{"url":"http://x/?token=t0k3n-1"}\n')
    clean = tmp_path / "clean.json"
    clean.write_text("{}\n")
    assert k6_command.mask_file(str(plain), {"t0k3n-1"}) is True
    assert k6_command.mask_file(str(packed), {"t0k3n-1"}) is True
    assert k6_command.mask_file(str(clean), {"t0k3n-1"}) is False
    assert "t0k3n-1" not in plain.read_text() and "********" in plain.read_text()
    assert oct(plain.stat().st_mode & 0o777) == "0o600"
    assert b"t0k3n-1" not in gzip.open(str(packed)).read()
