# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Leftovers of killed runs, swept the next time the module runs.

Private to the loadops.k6 collection: no stability promise outside it.

A module that is SIGKILLed (or whose machine lost power mid-run) cannot clean up: its cgroup
(`loadops-k6-<testid>`), systemd scope (`loadops-k6-<testid>.scope`) or container (named
`loadops-k6-...` and labelled `loadops.k6.testid=<testid>`) may stay, a k6 still running inside. Every run registers itself in a
state directory (a file per testid holding the module's pid) for as long as it runs; at its start
a run removes every such thing whose testid has no live registration. Only things of this
collection's naming are touched, and never an active run's.
"""
from __future__ import annotations

import os
import re
import signal
import tempfile
import time

from . import k6_limits as limits
from .k6_process import run_command

PREFIX = "loadops-k6-"
LABEL = "loadops.k6.testid"
_SUFFIXES = ("-prep", "-inspect", "-version")
_UNIT = re.compile(r"^(loadops-k6-\S+)\.scope\b")


def default_state_dir():
    """/run/loadops-k6 for root (gone at reboot, like the runs), else a per-user temp directory."""
    if os.geteuid() == 0:
        return "/run/loadops-k6"
    return os.path.join(tempfile.gettempdir(), "loadops-k6-%d" % os.getuid())


class Registry(object):
    """testid -> the pid of the module running it, one 0600 file each in a 0700 directory."""

    def __init__(self, state_dir=None):
        self.dir = state_dir or default_state_dir()

    def _path(self, testid):
        return os.path.join(self.dir, testid)

    def register(self, testid):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(self._path(testid), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("%d\n" % os.getpid())

    def unregister(self, testid):
        try:
            os.unlink(self._path(testid))
        except OSError:
            pass

    def active(self, testid):
        """Whether a live process registered this testid (its own name, or without a helper suffix)."""
        names = [testid] + [testid[:-len(s)] for s in _SUFFIXES if testid.endswith(s)]
        return any(self._alive(limits.read_int(self._path(name))) for name in names)

    @staticmethod
    def _alive(pid):
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def testid_of(name):
    """loadops-k6-<testid>[.scope] -> testid, or None for names that are not ours."""
    if not name.startswith(PREFIX):
        return None
    name = name[len(PREFIX):]
    return name[:-len(".scope")] if name.endswith(".scope") else name


def _run_cgroups(root, proc_cgroup_text):
    """loadops-k6-* groups under this process's own cgroup, in every hierarchy the limiters use."""
    own = limits.own_cgroup(proc_cgroup_text).lstrip("/")
    found = {}
    if limits.cgroup_version(root) == 2:
        bases = [os.path.join(root, own)]
    else:
        bases = [os.path.join(root, name, own) for name in ("memory", "cpu", "cpuacct", "cpu,cpuacct")]
    for base in bases:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            path = os.path.join(base, name)
            if testid_of(name) and os.path.isdir(path):
                found.setdefault(testid_of(name), []).append(path)
    return found


def _kill_and_remove(paths):
    """SIGKILL whatever runs in these cgroups, then remove them (children first). Returns what is left."""
    for _attempt in range(20):
        pids = set()
        for path in paths:
            for top, _dirs, _files in os.walk(path):
                for token in (limits.read_text(os.path.join(top, "cgroup.procs"), "") or "").split():
                    pids.add(int(token))
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    left = []
    for path in paths:
        for top, _dirs, _files in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(top)
            except OSError:
                left.append(top)
    return left


def sweep(registry, docker_cli=None, systemctl=None, root=limits.CGROUP_ROOT, proc_cgroup_text=None,
          run_cmd=run_command):
    """Remove leftovers of runs that are not active. Returns (removed, problems) as text lists."""
    removed, problems = [], []
    for testid, paths in sorted(_run_cgroups(root, proc_cgroup_text).items()):
        if not registry.active(testid):
            left = _kill_and_remove(paths)
            removed.append("cgroup %s%s" % (PREFIX, testid))
            problems.extend("cgroup %s of a killed run could not be removed" % path for path in left)
    if docker_cli:
        rc, out, _err = run_cmd([docker_cli, "ps", "-a", "--filter", "label=" + LABEL,
                                 "--format", '{{.Names}}\t{{.Label "%s"}}' % LABEL], 20)
        for line in out.splitlines() if rc == 0 else []:
            name, _sep, testid = line.partition("\t")
            if testid and name.startswith(PREFIX) and not registry.active(testid):
                run_cmd([docker_cli, "rm", "-f", "-v", name], 60)
                removed.append("container %s" % name)
    if systemctl:
        rc, out, _err = run_cmd([systemctl, "list-units", "--all", "--plain", "--no-legend", PREFIX + "*.scope"], 20)
        for line in out.splitlines() if rc == 0 else []:
            match = _UNIT.match(line.strip())
            if match and not registry.active(testid_of(match.group(1))):
                unit = match.group(1) + ".scope"
                run_cmd([systemctl, "kill", "--signal=SIGKILL", unit], 30)
                run_cmd([systemctl, "stop", unit], 60)
                run_cmd([systemctl, "reset-failed", unit], 30)
                removed.append("scope %s" % unit)
    return removed, problems
