# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU and memory limits for k6: the Limiter interface, and its cgroup v1/v2, systemd scope and
no-limit implementations for a k6 started as a local process (the container's is in k6_docker).

Private to the loadops.k6 collection: no stability promise outside it.

To add a limiter: subclass Limiter (create, evidence, cleanup; wrap, preexec, stop and kill when the
defaults do not fit), name it in LIMITERS, and let a runner's `make_limiter` choose it
(k6_runners.BinaryRunner for local k6, k6_docker.DockerRunner for containers).

A cgroup limiter makes a child cgroup *under the cgroup this process already runs in* (never
beside the hierarchy's top-level groups), puts k6 into it before exec, reads the evidence
afterwards (peak memory, OOM kills, CPU time, throttling) and removes the cgroup, killing whatever
is left in it. `root` is a parameter so unit tests can use a fake cgroupfs tree.

The systemd limiter wraps k6 in `systemd-run --scope` (MemoryMax, MemorySwapMax=0, CPUQuota).
systemd deletes a scope's cgroup the moment its last process exits, and on cgroup v1 it reports an
OOM-killed scope as result `signal`: so a *keeper* process (`sleep`, immune to the OOM killer,
deaf to SIGTERM/SIGINT/SIGHUP, bounded lifetime) starts inside the scope next to k6 and holds the
cgroup open until the evidence is read; cleanup then SIGKILLs the whole scope and waits for
systemd to drop the unit. The container runner's limits live in k6_docker.py.
"""
from __future__ import annotations

import abc
import os
import random
import shutil
import signal
import string
import time

from .k6_process import first_line, run_command

CGROUP_ROOT = "/sys/fs/cgroup"
CFS_PERIOD_US = 100000


class LimiterError(Exception):
    """A limit cannot be applied here; the message says why and what to do."""


class LimiterConflict(LimiterError):
    """The run's cgroup or unit name is taken: another run is active. Never fall back from this."""


def read_proc_cgroups(text):
    """/proc/<pid>/cgroup text -> {controller: path}; the v2 entry is under key ''."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hierarchy_id, controllers, path = parts
        if controllers == "":
            paths[""] = path
        for controller in controllers.split(","):
            if controller:
                paths[controller] = path
    return paths


def cgroup_version(root=CGROUP_ROOT):
    """2 for a unified (v2-only) mount, 1 when the v1 memory controller is mounted, else 0."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return 2
    if os.path.isdir(os.path.join(root, "memory")):
        return 1
    return 0


def read_text(path, default=None):
    """A small file's stripped text, or default when it cannot be read."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def read_int(path, default=None):
    value = read_text(path)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _write(path, value):
    with open(path, "w") as handle:
        handle.write(str(value))


def read_keyed(path):
    """A flat-keyed cgroup file (cpu.stat, memory.events, memory.oom_control) -> {key: int}."""
    out = {}
    for line in (read_text(path, "") or "").splitlines():
        key, _sep, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            pass
    return out


def _share(throttled, periods, default):
    return round(throttled / float(periods), 3) if periods else default


def v1_evidence(memory_dir, cpu_dir=None, cpuacct_dir=None):
    """Evidence from cgroup v1 directories (any may be None or gone: its figures are then None)."""
    oom = read_keyed(os.path.join(memory_dir, "memory.oom_control")) if memory_dir else {}
    cpu_stat = read_keyed(os.path.join(cpu_dir, "cpu.stat")) if cpu_dir else {}
    usage_ns = read_int(os.path.join(cpuacct_dir, "cpuacct.usage")) if cpuacct_dir else None
    return {
        "cgroup_version": 1,
        "memory_peak_bytes": read_int(os.path.join(memory_dir, "memory.max_usage_in_bytes")) if memory_dir else None,
        "oom_killed": oom.get("oom_kill", 0) > 0,
        "cpu_seconds": round(usage_ns / 1e9, 3) if usage_ns is not None else None,
        "throttled_share": _share(cpu_stat.get("nr_throttled", 0), cpu_stat.get("nr_periods") or 0,
                                  0.0 if cpu_dir else None),
    }


def v2_evidence(group_dir):
    """Evidence from one cgroup v2 directory."""
    events = read_keyed(os.path.join(group_dir, "memory.events"))
    cpu_stat = read_keyed(os.path.join(group_dir, "cpu.stat"))
    usage = cpu_stat.get("usage_usec")
    return {
        "cgroup_version": 2,
        "memory_peak_bytes": read_int(os.path.join(group_dir, "memory.peak")),
        "oom_killed": events.get("oom_kill", 0) > 0,
        "cpu_seconds": round(usage / 1e6, 3) if usage is not None else None,
        "throttled_share": _share(cpu_stat.get("nr_throttled", 0), cpu_stat.get("nr_periods") or 0, 0.0),
    }


def cgroup_mounts(mountinfo_text=None):
    """Mount points of every cgroup hierarchy (v1 and v2), from /proc/self/mountinfo."""
    if mountinfo_text is None:
        mountinfo_text = read_text("/proc/self/mountinfo", "") or ""
    found = []
    for line in mountinfo_text.splitlines():
        left, _sep, right = line.partition(" - ")
        fields = left.split()
        fstype = right.split()[0] if right.split() else ""
        if fstype in ("cgroup", "cgroup2") and len(fields) >= 5 and fields[4] not in found:
            found.append(fields[4])
    return found


def remove_everywhere(relative_path, mounts=None):
    """rmdir <mount>/<relative_path> in every cgroup hierarchy (children first). Returns what is left."""
    left = []
    for mount in (cgroup_mounts() if mounts is None else mounts):
        top = os.path.join(mount, relative_path.strip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            for _attempt in range(30):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        if os.path.isdir(top):
            left.append(top)
    return left


EVIDENCE_KEYS = ("limiter", "cgroup_version", "memory_limit_bytes", "cpu_limit", "memory_peak_bytes",
                 "oom_killed", "cpu_seconds", "throttled_share")


def own_cgroup(proc_cgroup_text=None):
    """This process's cgroup path (the v1 memory controller's, else the v2 entry, else /)."""
    if proc_cgroup_text is None:
        proc_cgroup_text = read_text("/proc/self/cgroup", "") or ""
    paths = read_proc_cgroups(proc_cgroup_text)
    return paths.get("memory") or paths.get("") or "/"


class Limiter(abc.ABC):
    """What the engine needs from whatever limits k6's CPU and memory, in the order it calls it:

    create()          make the limit exist; LimiterError (having removed what it made) if it cannot
    wrap(argv)        the command that really starts k6 (k6's argv, or k6 inside a wrapper)
    preexec()         runs in the child between fork and exec (e.g. join a cgroup), or nothing
    stop(process, grace) / kill(process)   ask k6 to stop (it writes its summary) / end it now
    evidence()        after k6 ended: a dict with EVIDENCE_KEYS (peak memory, OOM kill, CPU time,
                      throttled share) plus limiter-specific keys
    cleanup()         always, last: remove what create() made and kill what is left in it;
                      returns the pids it killed, and records what it could not remove in problems

    measures_process: whether the started process is k6 itself, so that its resource usage is k6's
    (False for `docker start --attach`).
    run_as: the runner's User (k6_runners.User) k6 runs as, or None; switches_user: whether the
    limiter's wrapper switches to that user itself (else the runner's preexec does).
    """

    name = None
    measures_process = True
    switches_user = False
    run_as = None

    def __init__(self, memory_limit=None, cpu_limit=None):
        self.memory_limit = memory_limit
        self.cpu_limit = cpu_limit
        self.problems = []

    @abc.abstractmethod
    def create(self):
        """Make the limit exist before k6 starts."""

    def wrap(self, argv):
        return list(argv)

    def preexec(self):
        return None

    def stop(self, process, grace):
        process.signal(signal.SIGTERM)

    def kill(self, process):
        process.signal(signal.SIGKILL)

    @abc.abstractmethod
    def evidence(self):
        """Figures read after k6 ended (see EVIDENCE_KEYS)."""

    @abc.abstractmethod
    def cleanup(self):
        """Remove what create() made; the pids killed on the way."""

    def blank_evidence(self):
        ev = dict.fromkeys(EVIDENCE_KEYS)
        ev.update(limiter=self.name, oom_killed=False, memory_limit_bytes=self.memory_limit, cpu_limit=self.cpu_limit)
        return ev


class Unlimited(Limiter):
    """limiter=none: k6 runs as a plain child; nothing is limited or measured but its CPU time."""

    name = "none"

    def __init__(self):
        super(Unlimited, self).__init__()

    def create(self):
        pass

    def evidence(self):
        return self.blank_evidence()

    def cleanup(self):
        return []


class _CgroupLimiter(Limiter):
    name = "cgroup"
    # On cgroupfs rmdir removes a group with its control files; tests on a plain tree swap this.
    remove_dir = staticmethod(os.rmdir)

    def __init__(self, run_name, memory_limit=None, cpu_limit=None, root=CGROUP_ROOT,
                 proc_cgroup_text=None):
        super(_CgroupLimiter, self).__init__(memory_limit, cpu_limit)
        self.run_name = run_name
        self.root = root
        if proc_cgroup_text is None:
            proc_cgroup_text = read_text("/proc/self/cgroup", "")
        self.own = read_proc_cgroups(proc_cgroup_text)
        self.dirs = []

    def _under_own(self, hierarchy_dir, own_path):
        """<hierarchy>/<own path>/<run name>. cgroup v1 hierarchies can place us differently: where
        we sit at a hierarchy's root (here: cpu and cpuacct at /, memory at /process_api/<id>), the
        run's group would land beside that hierarchy's top-level groups and beside every other
        session's runs; it goes under the memory controller's path instead, as docker's
        --cgroup-parent does (missing parents are made and left, like docker leaves them)."""
        memory_path = self.own.get("memory", "/")
        if own_path.strip("/") == "" and memory_path.strip("/") != "":
            own_path = memory_path
            parent = os.path.join(hierarchy_dir, own_path.lstrip("/"))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise LimiterError("cannot create cgroup %s: %s (run as root, or use limiter=none)" % (parent, exc.strerror))
        parent = os.path.join(hierarchy_dir, own_path.lstrip("/"))
        if not os.path.isdir(parent):
            raise LimiterError("cgroup %s (this process's own) is not visible under %s" % (own_path, hierarchy_dir))
        return os.path.join(parent, self.run_name)

    def _mkdir(self, path):
        try:
            os.mkdir(path)
        except FileExistsError:
            raise LimiterConflict("cgroup %s already exists: another run with the same name is active" % path)
        except OSError as exc:
            raise LimiterError("cannot create cgroup %s: %s (run as root, or use limiter=none)" % (path, exc.strerror))
        self.dirs.append(path)

    def preexec(self):
        return self._join

    def _join(self):
        """Runs in the child between fork and exec: join every cgroup of this run."""
        pid = str(os.getpid())
        for path in self.dirs:
            with open(os.path.join(path, "cgroup.procs"), "w") as handle:
                handle.write(pid)

    def _pids(self):
        pids = set()
        for path in self.dirs:
            for line in (read_text(os.path.join(path, "cgroup.procs"), "") or "").split():
                if line.isdigit():
                    pids.add(int(line))
        return pids

    def cleanup(self):
        """Kill what is left inside, remove the cgroups (children first). Returns leftover pids."""
        killed = []
        for _attempt in range(50):
            pids = self._pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for path in reversed(self.dirs):
            for _attempt in range(50):
                try:
                    self.remove_dir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        self.dirs = [path for path in self.dirs if os.path.isdir(path)]
        return sorted(set(killed))


class CgroupV1Limiter(_CgroupLimiter):
    cgroup_version = 1

    def create(self):
        memory_root = os.path.join(self.root, "memory")
        if "memory" not in self.own or not os.path.isdir(memory_root):
            raise LimiterError("cgroup v1 memory controller is not mounted at %s" % memory_root)
        try:
            self.memory_dir = self._under_own(memory_root, self.own["memory"])
            self._mkdir(self.memory_dir)
            if self.memory_limit:
                _write(os.path.join(self.memory_dir, "memory.limit_in_bytes"), self.memory_limit)
                memsw = os.path.join(self.memory_dir, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    # No swap escape hatch: the limit is the limit.
                    _write(memsw, self.memory_limit)
            self.cpu_dir = None
            cpu_root = os.path.join(self.root, "cpu")
            if not os.path.isdir(cpu_root):
                cpu_root = os.path.join(self.root, "cpu,cpuacct")
            if os.path.isdir(cpu_root) and "cpu" in self.own:
                self.cpu_dir = self._under_own(cpu_root, self.own["cpu"])
                self._mkdir(self.cpu_dir)
                if self.cpu_limit:
                    _write(os.path.join(self.cpu_dir, "cpu.cfs_period_us"), CFS_PERIOD_US)
                    _write(os.path.join(self.cpu_dir, "cpu.cfs_quota_us"), int(round(self.cpu_limit * CFS_PERIOD_US)))
            elif self.cpu_limit:
                raise LimiterError("cgroup v1 cpu controller is not mounted under %s: cpu_limit cannot be applied" % self.root)
            self.cpuacct_dir = None
            for name in ("cpuacct", "cpu,cpuacct"):
                acct_root = os.path.join(self.root, name)
                if os.path.isdir(acct_root) and "cpuacct" in self.own:
                    candidate = self._under_own(acct_root, self.own["cpuacct"])
                    if candidate in self.dirs:
                        self.cpuacct_dir = candidate
                    else:
                        self._mkdir(candidate)
                        self.cpuacct_dir = candidate
                    break
        except (LimiterError, OSError) as exc:
            self.cleanup()
            if isinstance(exc, LimiterError):
                raise
            raise LimiterError("cannot set cgroup v1 limits: %s" % exc)

    def evidence(self):
        ev = v1_evidence(self.memory_dir, self.cpu_dir, self.cpuacct_dir)
        ev.update(limiter=self.name, memory_limit_bytes=self.memory_limit, cpu_limit=self.cpu_limit)
        return ev


class CgroupV2Limiter(_CgroupLimiter):
    cgroup_version = 2

    def create(self):
        own = self.own.get("")
        if own is None:
            raise LimiterError("this process has no cgroup v2 path in /proc/self/cgroup")
        parent = os.path.join(self.root, own.lstrip("/"))
        needed = [c for c, wanted in (("memory", True), ("cpu", self.cpu_limit is not None)) if wanted]
        enabled = (read_text(os.path.join(parent, "cgroup.subtree_control"), "") or "").split()
        missing = [c for c in needed if c not in enabled]
        if missing:
            try:
                _write(os.path.join(parent, "cgroup.subtree_control"), " ".join("+" + c for c in missing))
            except OSError as exc:
                raise LimiterError(
                    "cgroup v2 controllers %s cannot be enabled under %s (%s); run k6 under systemd "
                    "(limiter=systemd) or in a container (limiter=docker)" % (",".join(missing), parent, exc.strerror))
        self.dir = os.path.join(parent, self.run_name)
        self._mkdir(self.dir)
        try:
            if self.memory_limit:
                _write(os.path.join(self.dir, "memory.max"), self.memory_limit)
                swap = os.path.join(self.dir, "memory.swap.max")
                if os.path.exists(swap):
                    _write(swap, 0)
            if self.cpu_limit:
                _write(os.path.join(self.dir, "cpu.max"), "%d %d" % (int(round(self.cpu_limit * CFS_PERIOD_US)), CFS_PERIOD_US))
        except OSError as exc:
            self.cleanup()
            raise LimiterError("cannot set cgroup v2 limits in %s: %s" % (self.dir, exc))

    def evidence(self):
        ev = v2_evidence(self.dir)
        ev.update(limiter=self.name, memory_limit_bytes=self.memory_limit, cpu_limit=self.cpu_limit)
        return ev


SYSTEMD_RUNTIME_DIR = "/run/systemd/system"


def probe_systemd(run_cmd=run_command, runtime_dir=SYSTEMD_RUNTIME_DIR, which=shutil.which):
    """(True, "") when systemd is PID 1 and `systemd-run --scope` works for us, else (False, why)."""
    if not os.path.isdir(runtime_dir):
        return False, "systemd is not running as PID 1 here (no %s)" % runtime_dir
    systemd_run = which("systemd-run")
    if not systemd_run:
        return False, "systemd-run is not installed"
    probe = "loadops-k6-probe-" + "".join(random.choice(string.ascii_lowercase + string.digits) for _i in range(8))
    rc, _out, err = run_cmd([systemd_run, "--scope", "--quiet", "--collect", "--unit", probe, "true"], 20)
    if rc != 0:
        return False, "systemd-run --scope does not work here (rc %d): %s" % (rc, first_line(err))
    return True, ""


# Runs inside the scope: a keeper that holds the scope's cgroup open after k6 exits (so the
# evidence can be read), immune to the OOM killer, deaf to the signals we forward to k6, and gone
# after %d seconds at the latest; then the shell becomes k6 itself (same pid, our child).
KEEPER_SCRIPT = ('( trap "" TERM INT HUP; echo -1000 > /proc/self/oom_score_adj; exec sleep %d ) '
                 '</dev/null >/dev/null 2>&1 & exec "$@"')
KEEPER_ARGV0 = "loadops-k6"
DEFAULT_KEEPER_SECONDS = 6 * 3600


def cpu_quota_percent(cpus):
    """CPUs -> systemd's CPUQuota= (percent of one CPU, whole numbers, at least 1%)."""
    return "%d%%" % max(1, int(round(cpus * 100)))


class SystemdScopeLimiter(Limiter):
    """k6 in a transient scope `<run_name>.scope` started by `systemd-run --scope`."""

    name = "systemd"
    # systemd-run creates the scope as root, then runs the command as --uid/--gid.
    switches_user = True
    # cleanup waits up to POLL_ATTEMPTS x POLL_INTERVAL s for systemd to drop the killed scope
    POLL_ATTEMPTS = 100
    POLL_INTERVAL = 0.1

    def __init__(self, run_name, memory_limit=None, cpu_limit=None, root=CGROUP_ROOT, run_cmd=run_command,
                 keeper_seconds=None, which=shutil.which):
        super(SystemdScopeLimiter, self).__init__(memory_limit, cpu_limit)
        self.run_name = run_name
        self.unit = run_name + ".scope"
        self.root = root
        self.run_cmd = run_cmd
        self.keeper_seconds = int(keeper_seconds or DEFAULT_KEEPER_SECONDS)
        self.systemd_run = which("systemd-run") or "systemd-run"
        self.systemctl = which("systemctl") or "systemctl"
        self.created = False
        self.control_group = None

    def _show(self, prop):
        rc, out, _err = self.run_cmd([self.systemctl, "show", "--property", prop, "--value", self.unit], 30)
        return out.strip() if rc == 0 else ""

    def create(self):
        state = self._show("LoadState")
        if state not in ("", "not-found"):
            raise LimiterConflict("systemd unit %s already exists (LoadState=%s): another run with the same "
                                  "testid is active; use a new testid" % (self.unit, state))
        self.created = True

    def wrap(self, argv):
        cmd = [self.systemd_run, "--scope", "--quiet", "--collect", "--unit", self.run_name,
               "--description", "loadops.k6 k6 run %s" % self.run_name,
               "-p", "MemoryAccounting=yes", "-p", "CPUAccounting=yes"]
        if self.run_as is not None:
            cmd += ["--uid=%d" % self.run_as.uid, "--gid=%d" % self.run_as.gid]
        if self.memory_limit:
            cmd += ["-p", "MemoryMax=%d" % self.memory_limit, "-p", "MemorySwapMax=0"]
        if self.cpu_limit:
            cmd += ["-p", "CPUQuota=%s" % cpu_quota_percent(self.cpu_limit)]
        return cmd + ["--", "/bin/sh", "-c", KEEPER_SCRIPT % self.keeper_seconds, KEEPER_ARGV0] + list(argv)

    def _dirs(self):
        """Existing cgroup directories of the scope: {'v2': dir} or {'memory':..,'cpu':..,'cpuacct':..}."""
        if not self.control_group:  # cached once known; empty while the scope does not exist
            self.control_group = self._show("ControlGroup")
        if not self.control_group:
            return {}
        rel = self.control_group.lstrip("/")
        if cgroup_version(self.root) == 2:
            path = os.path.join(self.root, rel)
            return {"v2": path} if os.path.isdir(path) else {}
        found = {}
        for key, names in (("memory", ("memory",)), ("cpu", ("cpu", "cpu,cpuacct")), ("cpuacct", ("cpuacct", "cpu,cpuacct"))):
            for name in names:
                path = os.path.join(self.root, name, rel)
                if os.path.isdir(path):
                    found[key] = path
                    break
        return found

    def evidence(self):
        dirs = self._dirs()
        if "v2" in dirs:
            ev = v2_evidence(dirs["v2"])
        elif dirs:
            ev = v1_evidence(dirs.get("memory"), dirs.get("cpu"), dirs.get("cpuacct"))
        else:
            ev = self.blank_evidence()
            ev["cgroup_version"] = cgroup_version(self.root) or None
        ev.update(limiter=self.name, memory_limit_bytes=self.memory_limit, cpu_limit=self.cpu_limit,
                  unit=self.unit)
        return ev

    def _scope_pids(self):
        pids = set()
        for path in self._dirs().values():
            for token in (read_text(os.path.join(path, "cgroup.procs"), "") or "").split():
                if token.isdigit():
                    pids.add(int(token))
        return pids

    def _is_keeper(self, pid):
        raw = read_text("/proc/%d/cmdline" % pid, "") or ""
        return raw.split("\0")[:2] == ["sleep", str(self.keeper_seconds)]

    def cleanup(self):
        """SIGKILL everything in the scope (the keeper, anything k6 left), wait until systemd drops
        the unit. Returns the pids of processes other than the keeper that were still there."""
        if not self.created:
            return []
        leftovers = sorted(pid for pid in self._scope_pids() if not self._is_keeper(pid))
        self.run_cmd([self.systemctl, "kill", "--signal=SIGKILL", self.unit], 30)
        state = ""
        for _attempt in range(self.POLL_ATTEMPTS):
            state = self._show("ActiveState")
            if state in ("", "inactive", "failed") or self._show("LoadState") == "not-found":
                break
            time.sleep(self.POLL_INTERVAL)
        if state == "failed":
            self.run_cmd([self.systemctl, "reset-failed", self.unit], 30)
        elif state not in ("", "inactive"):
            self.run_cmd([self.systemctl, "stop", self.unit], 60)
        self.created = False
        return leftovers


# Every limiter kind; which of them a runner accepts is the runner's (k6_runners, k6_docker).
LIMITERS = ("auto", "cgroup", "none", "systemd", "docker")


def select_limiter(kind, run_name, memory_limit=None, cpu_limit=None, root=CGROUP_ROOT, proc_cgroup_text=None,
                   systemd_probe=None, keeper_seconds=None, run_cmd=run_command):
    """A limiter (not yet created) for k6 started as a local process: kind auto, cgroup, systemd or none.

    auto: a systemd scope when systemd is PID 1 and `systemd-run --scope` works, else a cgroup
    (v2 or v1), else (without limits) none. LimiterError when the kind cannot work here.
    """
    if kind == "none":
        return Unlimited()
    if kind not in ("auto", "cgroup", "systemd"):
        raise LimiterError("limiter=%s is not a limiter for a local k6 process; use auto, cgroup, systemd or none" % kind)
    probe = systemd_probe or (lambda: probe_systemd(run_cmd))
    if kind == "systemd":
        ok, why = probe()
        if not ok:
            raise LimiterError("limiter=systemd needs systemd as PID 1 and a working systemd-run: %s; "
                               "use limiter=cgroup (or auto) on this machine" % why)
        return SystemdScopeLimiter(run_name, memory_limit, cpu_limit, root, run_cmd, keeper_seconds)
    if kind == "auto" and probe()[0]:
        return SystemdScopeLimiter(run_name, memory_limit, cpu_limit, root, run_cmd, keeper_seconds)
    # auto (without systemd) and cgroup: a child of our own cgroup. Without limits, auto still
    # measures peak memory and OOM kills when it can.
    version = cgroup_version(root)
    if version == 2:
        return CgroupV2Limiter(run_name, memory_limit, cpu_limit, root, proc_cgroup_text)
    if version == 1:
        return CgroupV1Limiter(run_name, memory_limit, cpu_limit, root, proc_cgroup_text)
    if kind == "auto" and not memory_limit and not cpu_limit:
        return Unlimited()
    raise LimiterError("no cgroup filesystem at %s: limits cannot be applied here" % root)
