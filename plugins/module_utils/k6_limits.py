# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU and memory limits for a k6 process: cgroup v1 and v2 limiters.

Private to the loadops.k6 collection: no stability promise outside it.

A limiter makes a child cgroup *under the cgroup this process already runs in* (never beside the
hierarchy's top-level groups), puts k6 into it before exec, reads the evidence afterwards
(peak memory, OOM kills, CPU time, throttling) and removes the cgroup, killing whatever is left
in it. `root` is a parameter so unit tests can use a fake cgroupfs tree.
"""
from __future__ import annotations

import os
import signal
import time

CGROUP_ROOT = "/sys/fs/cgroup"
CFS_PERIOD_US = 100000


class LimiterError(Exception):
    """A limit cannot be applied here; the message says why and what to do."""


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


def _read(path, default=None):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def _read_int(path, default=None):
    value = _read(path)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _write(path, value):
    with open(path, "w") as handle:
        handle.write(str(value))


def _kv(path):
    out = {}
    for line in (_read(path, "") or "").splitlines():
        key, _sep, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            pass
    return out


class NoLimiter(object):
    name = "none"
    cgroup_version = None

    def __init__(self, *args, **kwargs):
        pass

    def create(self):
        pass

    def preexec(self):
        pass

    def evidence(self):
        return {"limiter": self.name, "cgroup_version": None, "memory_limit_bytes": None,
                "cpu_limit": None, "memory_peak_bytes": None, "oom_killed": False,
                "cpu_seconds": None, "throttled_share": None}

    def cleanup(self):
        return []


class _CgroupLimiter(NoLimiter):
    name = "cgroup"
    # On cgroupfs rmdir removes a group with its control files; tests on a plain tree swap this.
    remove_dir = staticmethod(os.rmdir)

    def __init__(self, run_name, memory_limit=None, cpu_limit=None, root=CGROUP_ROOT,
                 proc_cgroup_text=None):
        self.run_name = run_name
        self.memory_limit = memory_limit
        self.cpu_limit = cpu_limit
        self.root = root
        if proc_cgroup_text is None:
            proc_cgroup_text = _read("/proc/self/cgroup", "")
        self.own = read_proc_cgroups(proc_cgroup_text)
        self.dirs = []
        self.started = 0.0

    def _under_own(self, hierarchy_dir, own_path):
        parent = os.path.join(hierarchy_dir, own_path.lstrip("/"))
        if not os.path.isdir(parent):
            raise LimiterError("cgroup %s (this process's own) is not visible under %s" % (own_path, hierarchy_dir))
        return os.path.join(parent, self.run_name)

    def _mkdir(self, path):
        try:
            os.mkdir(path)
        except FileExistsError:
            raise LimiterError("cgroup %s already exists: another run with the same name is active" % path)
        except OSError as exc:
            raise LimiterError("cannot create cgroup %s: %s (run as root, or use limiter=none)" % (path, exc.strerror))
        self.dirs.append(path)

    def preexec(self):
        """Runs in the child between fork and exec: join every cgroup of this run."""
        pid = str(os.getpid())
        for path in self.dirs:
            with open(os.path.join(path, "cgroup.procs"), "w") as handle:
                handle.write(pid)

    def _pids(self):
        pids = set()
        for path in self.dirs:
            for line in (_read(os.path.join(path, "cgroup.procs"), "") or "").split():
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
        self.started = time.time()
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
        oom = _kv(os.path.join(self.memory_dir, "memory.oom_control"))
        cpu_stat = _kv(os.path.join(self.cpu_dir, "cpu.stat")) if self.cpu_dir else {}
        usage_ns = _read_int(os.path.join(self.cpuacct_dir, "cpuacct.usage")) if self.cpuacct_dir else None
        periods = cpu_stat.get("nr_periods") or 0
        return {
            "limiter": self.name,
            "cgroup_version": 1,
            "memory_limit_bytes": self.memory_limit,
            "cpu_limit": self.cpu_limit,
            "memory_peak_bytes": _read_int(os.path.join(self.memory_dir, "memory.max_usage_in_bytes")),
            "oom_killed": oom.get("oom_kill", 0) > 0,
            "cpu_seconds": round(usage_ns / 1e9, 3) if usage_ns is not None else None,
            "throttled_share": round(cpu_stat.get("nr_throttled", 0) / float(periods), 3) if periods else (0.0 if self.cpu_dir else None),
        }


class CgroupV2Limiter(_CgroupLimiter):
    cgroup_version = 2

    def create(self):
        self.started = time.time()
        own = self.own.get("")
        if own is None:
            raise LimiterError("this process has no cgroup v2 path in /proc/self/cgroup")
        parent = os.path.join(self.root, own.lstrip("/"))
        needed = [c for c, wanted in (("memory", True), ("cpu", self.cpu_limit is not None)) if wanted]
        enabled = (_read(os.path.join(parent, "cgroup.subtree_control"), "") or "").split()
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
        events = _kv(os.path.join(self.dir, "memory.events"))
        cpu_stat = _kv(os.path.join(self.dir, "cpu.stat"))
        periods = cpu_stat.get("nr_periods") or 0
        usage = cpu_stat.get("usage_usec")
        return {
            "limiter": self.name,
            "cgroup_version": 2,
            "memory_limit_bytes": self.memory_limit,
            "cpu_limit": self.cpu_limit,
            "memory_peak_bytes": _read_int(os.path.join(self.dir, "memory.peak")),
            "oom_killed": events.get("oom_kill", 0) > 0,
            "cpu_seconds": round(usage / 1e6, 3) if usage is not None else None,
            "throttled_share": round(cpu_stat.get("nr_throttled", 0) / float(periods), 3) if periods else 0.0,
        }


def select_limiter(kind, run_name, memory_limit=None, cpu_limit=None, root=CGROUP_ROOT, proc_cgroup_text=None):
    """A limiter for kind in {auto, cgroup, none}; LimiterError when it cannot work here."""
    if kind == "none":
        if memory_limit or cpu_limit:
            raise LimiterError("limiter=none cannot apply memory_limit/cpu_limit; drop the limits or use limiter=auto")
        return NoLimiter()
    if kind in ("auto", "cgroup"):
        if kind == "auto" and not memory_limit and not cpu_limit:
            # Still measure peak memory and OOM kills when we can.
            pass
        version = cgroup_version(root)
        if version == 2:
            return CgroupV2Limiter(run_name, memory_limit, cpu_limit, root, proc_cgroup_text)
        if version == 1:
            return CgroupV1Limiter(run_name, memory_limit, cpu_limit, root, proc_cgroup_text)
        if kind == "auto" and not memory_limit and not cpu_limit:
            return NoLimiter()
        raise LimiterError("no cgroup filesystem at %s: limits cannot be applied here" % root)
    raise LimiterError("limiter %r is not available in this version; use auto, cgroup or none" % kind)
