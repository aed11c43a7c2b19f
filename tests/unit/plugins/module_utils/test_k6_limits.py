"""cgroup v1/v2 and systemd-scope limiters on fake cgroupfs trees and recorded systemctl answers
(the project's test machines have only cgroup v1 and no systemd as PID 1; the real limits are
exercised in tests/integration/test_k6_run_module.py and, inside a systemd container,
tests/integration/test_k6_run_systemd.py)."""
import os
import shutil

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_docker as docker_mod
from ansible_collections.loadops.k6.plugins.module_utils import k6_limits as lim
from ansible_collections.loadops.k6.plugins.module_utils import k6_plan as plan_mod
from ansible_collections.loadops.k6.plugins.module_utils import k6_runners as runners

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
    # We sit at the cpu hierarchy's root: the run's cpu group follows the memory path instead.
    assert _read(os.path.join(v1_root, "cpu/jobs/ci/run1/cpu.cfs_quota_us")) == "150000"
    assert _read(os.path.join(v1_root, "cpu/jobs/ci/run1/cpu.cfs_period_us")) == "100000"
    # Nothing beside the hierarchy's own groups.
    assert sorted(os.listdir(os.path.join(v1_root, "memory"))) == ["jobs"]
    for controller in ("cpu", "cpuacct"):  # the fake root holds only its own cgroup.procs besides
        assert sorted(os.listdir(os.path.join(v1_root, controller))) == ["cgroup.procs", "jobs"]
    limiter.cleanup()
    assert not os.path.exists(mem) and not os.path.exists(os.path.join(v1_root, "cpu/jobs/ci/run1"))


def test_v1_evidence_reports_oom_kill_peak_cpu_and_throttling(v1_root):
    limiter = FakeV1("run2", memory_limit=64 * 1024 ** 2, cpu_limit=1.0, root=v1_root, proc_cgroup_text=V1_PROC)
    limiter.create()
    mem = os.path.join(v1_root, "memory/jobs/ci/run2")
    _touch(os.path.join(mem, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    _touch(os.path.join(mem, "memory.max_usage_in_bytes"), str(64 * 1024 ** 2))
    _touch(os.path.join(v1_root, "cpu/jobs/ci/run2/cpu.stat"), "nr_periods 100\nnr_throttled 40\nthrottled_time 5\n")
    _touch(os.path.join(v1_root, "cpuacct/jobs/ci/run2/cpuacct.usage"), "2500000000")
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


@pytest.mark.parametrize("kind", ["docker", "teleport"])
def test_select_limiter_refuses_kinds_that_are_not_for_a_local_process(kind, v1_root):
    with pytest.raises(lim.LimiterError, match="limiter=%s is not a limiter for a local k6 process" % kind):
        lim.select_limiter(kind, "r", root=v1_root, proc_cgroup_text=V1_PROC, systemd_probe=lambda: (False, "no systemd"))


def test_select_limiter_none_is_unlimited(v1_root):
    limiter = lim.select_limiter("none", "r", root=v1_root, proc_cgroup_text=V1_PROC)
    assert isinstance(limiter, lim.Unlimited) and limiter.wrap(["k6", "run"]) == ["k6", "run"]
    assert limiter.preexec() is None and limiter.cleanup() == []
    assert limiter.evidence()["limiter"] == "none" and limiter.evidence()["oom_killed"] is False


def test_every_limiter_implements_the_limiter_interface():
    for cls in (lim.Unlimited, lim.CgroupV1Limiter, lim.CgroupV2Limiter, lim.SystemdScopeLimiter):
        assert issubclass(cls, lim.Limiter) and not getattr(cls, "__abstractmethods__", None), cls
    with pytest.raises(TypeError):
        lim.Limiter()  # pylint: disable=abstract-class-instantiated  # create, evidence and cleanup are abstract


def _no_systemd():
    return False, "no systemd"


def test_select_limiter_without_cgroupfs_fails_only_when_limits_were_asked(tmp_path):
    assert isinstance(lim.select_limiter("auto", "r", root=str(tmp_path), systemd_probe=_no_systemd), lim.Unlimited)
    with pytest.raises(lim.LimiterError, match="no cgroup filesystem"):
        lim.select_limiter("auto", "r", memory_limit=64 * 1024 ** 2, root=str(tmp_path), systemd_probe=_no_systemd)


# ------------------------------------------------------------------ runner x limiter combinations
def _plan(**params):
    base = {"script": "/s/t.js", "results_dir": "/r", "runner": "auto", "limiter": "auto"}
    base.update(params)
    return plan_mod.validate(base)


@pytest.mark.parametrize("runner_cls,kind,message", [
    ("binary", "docker", "limiter=docker needs runner=docker"),
    ("docker", "cgroup", "limiter=cgroup applies to runner=binary"),
    ("docker", "systemd", "limiter=systemd applies to runner=binary"),
])
def test_runner_and_limiter_combinations_that_cannot_work_are_named(runner_cls, kind, message):
    cls = runners.BinaryRunner if runner_cls == "binary" else docker_mod.DockerRunner
    with pytest.raises(plan_mod.RunError, match=message):
        cls(_plan(limiter=kind)).check_limiter()


@pytest.mark.parametrize("kind,mem,cpu,message", [
    ("none", "64m", None, "limiter=none cannot apply"),
    ("none", None, "0.5", "limiter=none cannot apply"),
    ("nope", None, None, "limiter 'nope' is not known"),
])
def test_limiter_values_that_cannot_work_are_refused_by_validation(kind, mem, cpu, message):
    with pytest.raises(plan_mod.RunError, match=message):
        _plan(limiter=kind, memory_limit=mem, cpu_limit=cpu)


@pytest.mark.parametrize("runner_cls,kind,mem,cpu", [
    ("binary", "auto", "64m", "1"), ("binary", "cgroup", None, None), ("binary", "systemd", "64m", None),
    ("binary", "none", None, None), ("docker", "docker", "64m", "1"), ("docker", "auto", None, None),
    ("docker", "none", None, None),
])
def test_runner_and_limiter_combinations_that_work_pass(runner_cls, kind, mem, cpu):
    cls = runners.BinaryRunner if runner_cls == "binary" else docker_mod.DockerRunner
    cls(_plan(limiter=kind, memory_limit=mem, cpu_limit=cpu)).check_limiter()


# ------------------------------------------------------------------ systemd scope limiter
class FakeCommands(object):
    """Answers commands from a table: (argv tuple prefix) -> (rc, stdout, stderr); records calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, timeout=30):
        self.calls.append(list(argv))
        for prefix, answer in self.answers:
            if tuple(argv[:len(prefix)]) == tuple(prefix):
                return answer(self) if callable(answer) else answer
        return 0, "", ""


def _which(name):
    return "/usr/bin/" + name


UNIT = "loadops-k6-t1.scope"


def _show(prop):
    return ("/usr/bin/systemctl", "show", "--property", prop, "--value", UNIT)


@pytest.mark.parametrize("cpus,quota", [(1, "100%"), (1.5, "150%"), (0.25, "25%"), (0.01, "1%"), (0.004, "1%"), (2.344, "234%"), (2.346, "235%")])
def test_cpu_quota_is_a_whole_percent_of_one_cpu(cpus, quota):
    assert lim.cpu_quota_percent(cpus) == quota


@pytest.mark.parametrize("mem,cpu,properties", [
    (None, None, []),
    (96 * 1024 ** 2, None, ["-p", "MemoryMax=100663296", "-p", "MemorySwapMax=0"]),
    (None, 0.25, ["-p", "CPUQuota=25%"]),
    (512 * 1024 ** 2, 1.5, ["-p", "MemoryMax=536870912", "-p", "MemorySwapMax=0", "-p", "CPUQuota=150%"]),
])
def test_systemd_limiter_wraps_k6_in_a_scope_with_a_keeper(mem, cpu, properties):
    limiter = lim.SystemdScopeLimiter("loadops-k6-t1", mem, cpu, keeper_seconds=700, which=_which)
    argv = limiter.wrap(["/usr/bin/k6", "run", "s.js"])
    assert argv == (["/usr/bin/systemd-run", "--scope", "--quiet", "--collect", "--unit", "loadops-k6-t1",
                     "--description", "loadops.k6 k6 run loadops-k6-t1", "-p", "MemoryAccounting=yes",
                     "-p", "CPUAccounting=yes"] + properties
                    + ["--", "/bin/sh", "-c", lim.KEEPER_SCRIPT % 700, "loadops-k6", "/usr/bin/k6", "run", "s.js"])
    # The keeper cannot be picked by the OOM killer, ignores what we forward to k6, and ends by itself.
    assert "oom_score_adj" in argv[-5] and 'trap "" TERM INT HUP' in argv[-5] and "exec sleep 700" in argv[-5]
    assert argv[-5].endswith('exec "$@"')


def test_systemd_limiter_refuses_a_unit_that_exists():
    fake = FakeCommands([(_show("LoadState"), (0, "loaded\n", ""))])
    limiter = lim.SystemdScopeLimiter("loadops-k6-t1", run_cmd=fake, which=_which)
    with pytest.raises(lim.LimiterConflict, match="loadops-k6-t1.scope already exists"):
        limiter.create()
    assert limiter.cleanup() == [] and fake.calls == [list(_show("LoadState"))]  # never touched it


def _scope_tree(root, version):
    cg = "ctr/system.slice/" + UNIT
    if version == 1:
        _touch(os.path.join(root, "memory", cg, "memory.max_usage_in_bytes"), str(100 * 1024 ** 2))
        _touch(os.path.join(root, "memory", cg, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
        _touch(os.path.join(root, "memory", cg, "cgroup.procs"), "4242\n")
        _touch(os.path.join(root, "cpu", cg, "cpu.stat"), "nr_periods 40\nnr_throttled 30\nthrottled_time 1\n")
        # systemd manages no cpuacct hierarchy of its own when it is mounted apart from cpu
        os.makedirs(os.path.join(root, "cpuacct"), exist_ok=True)
    else:
        _touch(os.path.join(root, "cgroup.controllers"), "cpu memory")
        _touch(os.path.join(root, cg, "memory.peak"), "1234")
        _touch(os.path.join(root, cg, "memory.events"), "oom 0\noom_kill 0\n")
        _touch(os.path.join(root, cg, "cpu.stat"), "usage_usec 2500000\nnr_periods 10\nnr_throttled 0\n")
        _touch(os.path.join(root, cg, "cgroup.procs"), "")
    return "/" + cg


@pytest.mark.parametrize("version,expected", [
    (1, {"cgroup_version": 1, "memory_peak_bytes": 100 * 1024 ** 2, "oom_killed": True, "cpu_seconds": None,
         "throttled_share": 0.75}),
    (2, {"cgroup_version": 2, "memory_peak_bytes": 1234, "oom_killed": False, "cpu_seconds": 2.5,
         "throttled_share": 0.0}),
])
def test_systemd_limiter_reads_the_scope_kept_open_by_its_keeper(tmp_path, version, expected):
    root = str(tmp_path / "cg")
    cg = _scope_tree(root, version)
    fake = FakeCommands([(_show("ControlGroup"), (0, cg + "\n", ""))])
    limiter = lim.SystemdScopeLimiter("loadops-k6-t1", 96 * 1024 ** 2, 0.5, root=root, run_cmd=fake, which=_which)
    ev = limiter.evidence()
    assert ev == dict(expected, limiter="systemd", unit=UNIT, memory_limit_bytes=96 * 1024 ** 2, cpu_limit=0.5)


def test_systemd_limiter_without_its_scope_reports_nothing_measured(tmp_path):
    fake = FakeCommands([(_show("ControlGroup"), (0, "\n", ""))])
    limiter = lim.SystemdScopeLimiter("loadops-k6-t1", root=str(tmp_path), run_cmd=fake, which=_which)
    ev = limiter.evidence()
    assert ev["memory_peak_bytes"] is None and ev["cpu_seconds"] is None and ev["oom_killed"] is False


@pytest.mark.parametrize("states,expected_tail", [
    (["inactive"], []),
    (["active", "active", "failed"], [["/usr/bin/systemctl", "reset-failed", UNIT]]),
    (["active"] * 5, [["/usr/bin/systemctl", "stop", UNIT]]),
])
def test_systemd_cleanup_kills_the_scope_and_waits_for_systemd_to_drop_it(tmp_path, states, expected_tail):
    pending = list(states)

    def active_state(_fake):
        return 0, (pending.pop(0) if len(pending) > 1 else pending[0]) + "\n", ""

    fake = FakeCommands([(_show("LoadState"), (0, "loaded\n", "")), (_show("ActiveState"), active_state),
                         (_show("ControlGroup"), (0, "\n", ""))])
    limiter = lim.SystemdScopeLimiter("loadops-k6-t1", root=str(tmp_path), run_cmd=fake, which=_which)
    limiter.created = True
    limiter.POLL_ATTEMPTS, limiter.POLL_INTERVAL = 4, 0.0
    assert limiter.cleanup() == []
    actions = [c for c in fake.calls if c[1] != "show"]
    assert actions == [["/usr/bin/systemctl", "kill", "--signal=SIGKILL", UNIT]] + expected_tail
    assert limiter.cleanup() == [] and [c for c in fake.calls if c[1] != "show"] == actions  # once only


@pytest.mark.parametrize("runtime_dir_exists,which_ok,probe_answer,expected", [
    (False, True, (0, "", ""), (False, "systemd is not running as PID 1")),
    (True, False, (0, "", ""), (False, "systemd-run is not installed")),
    (True, True, (1, "", "Failed to connect to bus: No such file or directory\n"),
     (False, "systemd-run --scope does not work here (rc 1): Failed to connect to bus")),
    (True, True, (0, "", ""), (True, "")),
])
def test_probe_systemd_says_why_systemd_cannot_be_used(tmp_path, runtime_dir_exists, which_ok, probe_answer, expected):
    runtime = tmp_path / "run-systemd-system"
    if runtime_dir_exists:
        runtime.mkdir()
    fake = FakeCommands([(("/usr/bin/systemd-run", "--scope"), probe_answer)])
    ok, why = lim.probe_systemd(fake, str(runtime), which=_which if which_ok else (lambda name: None))
    assert ok is expected[0] and why.startswith(expected[1])
    if ok:
        assert fake.calls[0][:4] == ["/usr/bin/systemd-run", "--scope", "--quiet", "--collect"]
        assert fake.calls[0][-1] == "true" and fake.calls[0][5].startswith("loadops-k6-probe-")


@pytest.mark.parametrize("kind,probe,expected", [
    ("auto", (True, ""), lim.SystemdScopeLimiter),
    ("auto", (False, "no systemd"), lim.CgroupV1Limiter),
    ("systemd", (True, ""), lim.SystemdScopeLimiter),
    ("cgroup", (True, ""), lim.CgroupV1Limiter),
])
def test_select_limiter_prefers_systemd_for_auto_when_it_works(v1_root, kind, probe, expected):
    limiter = lim.select_limiter(kind, "r", 64 * 1024 ** 2, None, root=v1_root, proc_cgroup_text=V1_PROC,
                                 systemd_probe=lambda: probe)
    assert isinstance(limiter, expected)  # the three classes are disjoint


def test_select_limiter_systemd_names_why_it_cannot_work(v1_root):
    with pytest.raises(lim.LimiterError, match="limiter=systemd needs systemd as PID 1.*no /run/systemd/system.*limiter=cgroup"):
        lim.select_limiter("systemd", "r", root=v1_root, systemd_probe=lambda: (False, "no /run/systemd/system"))


# ------------------------------------------------------------------ shared cgroup helpers
MOUNTINFO = """\
25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
"""


def test_cgroup_mounts_lists_every_v1_and_v2_hierarchy():
    assert lim.cgroup_mounts(MOUNTINFO) == ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct"]


def test_remove_everywhere_removes_the_group_and_its_children_in_each_hierarchy(tmp_path):
    mounts = [str(tmp_path / "memory"), str(tmp_path / "cpu"), str(tmp_path / "pids")]
    for mount in mounts[:2]:
        os.makedirs(os.path.join(mount, "own/loadops-k6-x/abc123/child"))
    os.makedirs(os.path.join(mounts[2], "own/other"))
    assert lim.remove_everywhere("/own/loadops-k6-x", mounts) == []
    for mount in mounts:
        assert not os.path.exists(os.path.join(mount, "own/loadops-k6-x"))
    assert os.path.isdir(os.path.join(mounts[2], "own/other"))


def test_v1_groups_stay_under_an_own_cpu_path_that_is_not_the_root(tmp_path):
    root = tmp_path / "cgroup"
    for controller, own in (("memory", "jobs/ci"), ("cpu", "user.slice"), ("cpuacct", "user.slice")):
        _touch(str(root / controller / own / "cgroup.procs"))
    limiter = FakeV1("run5", cpu_limit=1.0, root=str(root),
                     proc_cgroup_text="4:memory:/jobs/ci\n1:cpu:/user.slice\n2:cpuacct:/user.slice\n")
    limiter.create()
    assert _read(str(root / "cpu/user.slice/run5/cpu.cfs_quota_us")) == "100000"
    assert os.path.isdir(str(root / "cpuacct/user.slice/run5")) and not os.path.exists(str(root / "cpu/jobs"))
    limiter.cleanup()
    assert not os.path.exists(str(root / "cpu/user.slice/run5"))
