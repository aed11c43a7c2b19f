# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage 3 of a run: start k6 under its limiter, stop it on a signal or at the timeout, collect.

Private to the loadops.k6 collection: no stability promise outside it.

Signals. Until k6 starts, SIGTERM/SIGINT/SIGHUP unwind the preparation (the engine's handler
raises Interrupted, and every finally removes what was made). While the limiter comes into being
the signals wait (blocked), so none strikes between "made" and "known to the cleanup"; from then
on they are forwarded to k6 (limiter.stop), which ends the test and writes its summary.

Everything the process, the limiter and the clock do is reached through their interfaces
(k6_process.Process, k6_limits.Limiter), so the unit tests drive every exit path with fakes.
"""
from __future__ import annotations

import collections
import os
import signal
import time

from .k6_plan import RunError
from .k6_process import Process, TimedOut

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE_S = 30


class Interrupted(RunError):
    """A stop signal before k6 started: nothing ran, everything started was removed."""


Outcome = collections.namedtuple("Outcome", [
    "rc",           # k6's exit status (negative: killed by that signal)
    "stop_reason",  # None, "timeout", "interrupted" (a signal) or "lease" (the controller went away)
    "evidence",     # the limiter's evidence, with cpu_seconds from the process when it is k6
    "log_tail",     # the last lines of k6's output
    "leftovers",    # pids the limiter's cleanup had to kill
    "problems",     # what the cleanup could not remove
])


class Lease(object):
    """The controller's lease on a run: a file whose mtime the controller renews (touch) while it
    is there. Expired when the file is gone or older than ttl seconds (wall clock, like mtimes)."""

    def __init__(self, path, ttl, now=time.time):
        self.path, self.ttl, self.now = path, ttl, now

    def create(self):
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("%d\n" % os.getpid())  # whose run it is (playbooks/stop.yml, the sweep)

    def expired(self):
        try:
            return self.now() - os.stat(self.path).st_mtime > self.ttl
        except OSError:
            return True

    def remove(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Supervisor(object):
    # How often the wait looks up from k6 (lease, stop requests), in seconds.
    TICK = 1.0

    def __init__(self, start=Process, clock=time.monotonic, install_handler=signal.signal,
                 block=signal.pthread_sigmask, grace=STOP_GRACE_S, lease=None):
        self.start, self.clock = start, clock
        self.install_handler, self.block = install_handler, block
        self.grace = grace
        self.lease = lease
        self.stop_reason = None
        self.stop_requested_at = None
        self.limiter = None
        self.process = None

    def request_stop(self, reason="interrupted"):
        """Ask k6 to stop (it writes its summary); the first reason wins."""
        self.stop_reason = self.stop_reason or reason
        if self.process is not None and self.process.returncode is None:
            if self.stop_requested_at is None:
                self.stop_requested_at = self.clock()
            self.limiter.stop(self.process, self.grace)

    def _forward(self, signum, frame):
        self.request_stop("interrupted")

    def _create_limiter(self, create_limiter):
        """The limiter comes into being with stop signals held back, then they reach k6."""
        self.block(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.limiter = create_limiter()
            for sig in STOP_SIGNALS:
                self.install_handler(sig, self._forward)
        finally:
            self.block(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending one lands in _forward
        if self.stop_reason:
            raise Interrupted("interrupted before k6 started: nothing ran, nothing was left")

    def _wait(self, timeout):
        """k6's exit status. Looks up every TICK: at the timeout, an expired lease or a stop asked
        for by a signal, k6 is asked to stop and given grace + 10 s before it is killed."""
        started = self.clock()
        while self.stop_requested_at is None:
            step = self.TICK
            if timeout is not None:
                step = min(step, max(timeout - (self.clock() - started), 0.0))
            try:
                return self.process.wait(step)
            except TimedOut:
                pass
            if timeout is not None and self.clock() - started >= timeout:
                self.request_stop("timeout")
            elif self.lease is not None and self.lease.expired():
                self.request_stop("lease")
        left = self.grace + 10 - (self.clock() - self.stop_requested_at)
        try:
            return self.process.wait(max(left, 0.0))
        except TimedOut:
            self.limiter.kill(self.process)
            return self.process.wait()

    def run(self, create_limiter, command_for, log_path, env=None, cwd=None, timeout=None, preexec_for=None,
            mask=None):
        """create_limiter() -> created Limiter; command_for(limiter) -> argv; preexec_for(limiter) ->
        the child's pre-exec step (default: the limiter's). Returns an Outcome. RunError
        (Interrupted included) when k6 never started; self.process tells whether it did."""
        rc, evidence, log_tail, leftovers = None, {}, "", []
        try:
            self._create_limiter(create_limiter)
            argv = command_for(self.limiter)
            preexec = preexec_for(self.limiter) if preexec_for else self.limiter.preexec()
            extra = {"mask": mask} if mask is not None else {}
            try:
                self.process = self.start(argv, log_path, env=env, cwd=cwd, preexec=preexec, **extra)
            except OSError as exc:
                raise RunError("k6 could not be started (%s): %s" % (argv[0], exc.strerror or exc))
            if self.stop_reason:  # the signal came while k6 was starting
                self.request_stop(self.stop_reason)
            rc = self._wait(timeout)
            log_tail = self.process.finish_log()
            evidence = dict(self.limiter.evidence())
        finally:
            if self.process is not None and self.process.returncode is None:
                self.limiter.kill(self.process)
                self.process.kill_and_reap()
            if self.limiter is not None:
                leftovers = self.limiter.cleanup()
        if evidence.get("exit_code") is not None:
            rc = evidence["exit_code"]  # k6's own, whatever became of the process we started
        if evidence.get("cpu_seconds") is None and self.limiter.measures_process:
            evidence["cpu_seconds"] = self.process.cpu_seconds()
        problems = list(self.limiter.problems)
        log_problem = self.process.log_problem()
        if log_problem:
            problems.append(log_problem)
        return Outcome(rc, self.stop_reason, evidence, log_tail, leftovers, problems)
