"""cgroup v1/v2 limiters on fake cgroupfs trees (this machine only has v1 for real; the real
limits are exercised in tests/integration/test_k6_run_limits.py)."""
import os
import shutil

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_limits as lim

V1_PROC = "9:name=systemd:/\n4:memory:/jobs/ci\n1:cpu:/\n2:cpuacct:/\n0::/\n"
V2_PROC = "0::/user.slice/ci.scope\n"


def _touch(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


class FakeV1(lim.CgroupV1Limiter):
    remove_dir = staticmethod(shutil.rmtree)


class FakeV2(lim.CgroupV2Limiter):
    remove_dir = staticmethod(shutil.rmtree)


@pytest.fixture
def v1_root(tmp_path):
    root = tmp_path / "cgroup"
    for controller, own in (("memory", "jobs/ci"), ("cpu", ""), ("cpuacct", "")):
        _touch(str(root / controller / own / "cgroup.procs"))
    return str(root)


@pytest.fixture
def v2_root(tmp_path):
    root = tmp_path / "cgroup2"
    _touch(str(root / "cgroup.controllers"), "cpu io memory pids")
    _touch(str(root / "user.slice/ci.scope/cgroup.subtree_control"), "")
    return str(root)


def _read(path):
    with open(path) as handle:
        return handle.read()


def test_read_proc_cgroups_maps_each_controller_and_the_unified_entry():
    paths = lim.read_proc_cgroups("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/d\n")
    assert paths == {"memory": "/a/b", "cpu": "/c", "cpuacct": "/c", "": "/d"}


def test_cgroup_version_is_detected_from_the_mount(v1_root, v2_root, tmp_path):
    assert lim.cgroup_version(v1_root) == 1
    assert lim.cgroup_version(v2_root) == 2
    assert lim.cgroup_version(str(tmp_path / "nothing")) == 0


def test_v1_limits_are_written_under_the_process_own_cgroup(v1_root):
    limiter = FakeV1("run1", memory_limit=256 * 1024 ** 2, cpu_limit=1.5, root=v1_root, proc_cgroup_text=V1_PROC)
    limiter.create()
    mem = os.path.join(v1_root, "memory/jobs/ci/run1")
    assert _read(os.path.join(mem, "memory.limit_in_bytes")) == str(256 * 1024 ** 2)
    assert _read(os.path.join(v1_root, "cpu/run1/cpu.cfs_quota_us")) == "150000"
    assert _read(os.path.join(v1_root, "cpu/run1/cpu.cfs_period_us")) == "100000"
    # Nothing beside the hierarchy's own groups.
    assert sorted(os.listdir(os.path.join(v1_root, "memory"))) == ["jobs"]
    limiter.cleanup()
    assert not os.path.exists(mem)


def test_v1_evidence_reports_oom_kill_peak_cpu_and_throttling(v1_root):
    limiter = FakeV1("run2", memory_limit=64 * 1024 ** 2, cpu_limit=1.0, root=v1_root, proc_cgroup_text=V1_PROC)
    limiter.create()
    mem = os.path.join(v1_root, "memory/jobs/ci/run2")
    _touch(os.path.join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    _touch(os.path.join(mem, "memory.max_usage_in_bytes"), str(64 * 1024 ** 2))
    _touch(os.path.join(v1_root, "cpu/run2/cpu.stat"), "nr_periods 100\nnr_throttled 40\nthrottled_time 5\n")
    _touch(os.path.join(v1_root, "cpuacct/run2/cpuacct.usage"), "2500000000")
    ev = limiter.evidence()
    limiter.cleanup()
    assert ev["oom_killed"] is True and ev["cgroup_version"] == 1
    assert ev["memory_peak_bytes"] == 64 * 1024 ** 2
    assert ev["cpu_seconds"] == 2.5 and ev["throttled_share"] == 0.4


def test_v1_existing_run_cgroup_is_refused_not_reused(v1_root):
    os.makedirs(os.path.join(v1_root, "memory/jobs/ci/dup"))
    limiter = FakeV1("dup", memory_limit=64 * 1024 ** 2, root=v1_root, proc_cgroup_text=V1_PROC)
    with pytest.raises(lim.LimiterError, match="already exists"):
        limiter.create()


def test_v2_enables_controllers_and_writes_memory_and_cpu_max(v2_root):
    limiter = FakeV2("run3", memory_limit=512 * 1024 ** 2, cpu_limit=0.5, root=v2_root, proc_cgroup_text=V2_PROC)
    limiter.create()
    parent = os.path.join(v2_root, "user.slice/ci.scope")
    assert _read(os.path.join(parent, "cgroup.subtree_control")) == "+memory +cpu"
    assert _read(os.path.join(parent, "run3/memory.max")) == str(512 * 1024 ** 2)
    assert _read(os.path.join(parent, "run3/cpu.max")) == "50000 100000"
    _touch(os.path.join(parent, "run3/memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    _touch(os.path.join(parent, "run3/memory.peak"), "536870912")
    _touch(os.path.join(parent, "run3/cpu.stat"), "usage_usec 1500000\nnr_periods 10\nnr_throttled 1\n")
    ev = limiter.evidence()
    limiter.cleanup()
    assert ev == {"limiter": "cgroup", "cgroup_version": 2, "memory_limit_bytes": 512 * 1024 ** 2, "cpu_limit": 0.5,
                  "memory_peak_bytes": 536870912, "oom_killed": True, "cpu_seconds": 1.5, "throttled_share": 0.1}
    assert not os.path.exists(os.path.join(parent, "run3"))


def test_v2_without_a_cgroup_entry_says_so(v2_root):
    limiter = FakeV2("run4", memory_limit=64 * 1024 ** 2, root=v2_root, proc_cgroup_text="4:memory:/x\n")
    with pytest.raises(lim.LimiterError, match="no cgroup v2 path"):
        limiter.create()


@pytest.mark.parametrize("kind,mem,cpu,message", [
    ("none", 64 * 1024 ** 2, None, "limiter=none cannot apply"),
    ("docker", None, None, "not available in this version"),
])
def test_select_limiter_refuses_impossible_combinations(kind, mem, cpu, message, v1_root):
    with pytest.raises(lim.LimiterError, match=message):
        lim.select_limiter(kind, "r", mem, cpu, root=v1_root, proc_cgroup_text=V1_PROC)


def test_select_limiter_without_cgroupfs_fails_only_when_limits_were_asked(tmp_path):
    assert isinstance(lim.select_limiter("auto", "r", root=str(tmp_path)), lim.NoLimiter)
    with pytest.raises(lim.LimiterError, match="no cgroup filesystem"):
        lim.select_limiter("auto", "r", memory_limit=64 * 1024 ** 2, root=str(tmp_path))
