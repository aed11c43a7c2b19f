# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_supervise.py: the Supervisor driven through every exit
path with fakes for the process, the limiter and the signal machinery. No process is started and
no real signal handler is installed."""

import os
import signal

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_limits, k6_process
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import RunError
from ansible_collections.loadops.k6.plugins.module_utils.k6_supervise import (
    STOP_SIGNALS, Interrupted, Lease, Outcome, Supervisor)

TIMED_OUT = object()  # a wait step: raise k6_process.TimedOut


class Events(list):
    """One ordered record shared by every fake, so tests can assert on the order of calls."""

    def names(self):
        return [e[0] for e in self]


class FakeSignals(object):
    """block (pthread_sigmask) and install_handler (signal.signal) recorders. A signal raised while
    blocked stays pending and reaches its handler on unblock, as the kernel does."""

    def __init__(self, events):
        self.events = events
        self.handlers = {}
        self.blocked = set()
        self.pending = []

    def block(self, how, sigs):
        sigs = tuple(sigs)
        self.events.append(("block" if how == signal.SIG_BLOCK else "unblock", sigs))
        if how == signal.SIG_BLOCK:
            self.blocked.update(sigs)
        elif how == signal.SIG_UNBLOCK:
            self.blocked.difference_update(sigs)
            while self.pending:
                self.deliver(self.pending.pop(0))
        return set()

    def install_handler(self, sig, handler):
        self.events.append(("handler", sig))
        previous = self.handlers.get(sig, signal.SIG_DFL)
        self.handlers[sig] = handler
        return previous

    def raise_signal(self, sig):
        """A signal arrives now: held back while blocked, else its handler runs."""
        if sig in self.blocked:
            self.pending.append(sig)
        else:
            self.deliver(sig)

    def deliver(self, sig):
        self.events.append(("signal", sig))
        self.handlers[sig](sig, None)


class FakeProcess(object):
    """What the Supervisor uses of k6_process.Process. `waits` is the script of wait() results:
    an rc, TIMED_OUT, or a callable(process) run during the wait returning one of those."""

    def __init__(self, events, waits, cpu=1.25, tail="k6 log tail\n", pid=4321, advance=lambda seconds: None):
        self.events = events
        self.advance = advance  # a timed-out wait lets the (fake) clock run for its whole timeout
        self.waits = list(waits)
        self.cpu = cpu
        self.tail = tail
        self.pid = pid
        self.returncode = None
        self.wait_timeouts = []
        self.signals = []

    def wait(self, timeout=None):
        self.events.append(("wait", timeout))
        self.wait_timeouts.append(timeout)
        if self.returncode is not None:
            return self.returncode
        if not self.waits:
            raise AssertionError("wait() called more often than scripted")
        step = self.waits.pop(0)
        if callable(step):
            step = step(self)
        if step is TIMED_OUT:
            self.advance(timeout or 0)
            raise k6_process.TimedOut()
        self.returncode = step
        return step

    def signal(self, sig):
        self.events.append(("process.signal", sig))
        self.signals.append(sig)

    def finish_log(self, timeout=10):
        self.events.append(("finish_log",))
        return self.tail

    def cpu_seconds(self):
        self.events.append(("cpu_seconds",))
        return self.cpu

    def log_problem(self):
        return None

    def kill_and_reap(self):
        self.events.append(("kill_and_reap",))
        if self.returncode is None:
            self.returncode = -9


class FakeLimiter(k6_limits.Limiter):
    """Records create/stop/kill/evidence/cleanup; evidence, leftovers and problems are canned."""

    name = "fake"

    def __init__(self, events, evidence=None, leftovers=(), problems=(), measures_process=True):
        super(FakeLimiter, self).__init__(memory_limit=512 * 1024 ** 2, cpu_limit=1.0)
        self.events = events
        self._evidence = dict(evidence or {})
        self._leftovers = list(leftovers)
        self._problems = list(problems)
        self.measures_process = measures_process

    def create(self):
        self.events.append(("limiter.create",))

    def wrap(self, argv):
        return ["wrapper", "--"] + list(argv)

    def preexec(self):
        return "preexec-marker"

    def stop(self, process, grace):
        self.events.append(("limiter.stop", grace))
        super(FakeLimiter, self).stop(process, grace)

    def kill(self, process):
        self.events.append(("limiter.kill",))
        super(FakeLimiter, self).kill(process)

    def evidence(self):
        self.events.append(("limiter.evidence",))
        ev = self.blank_evidence()
        ev.update(self._evidence)
        return ev

    def cleanup(self):
        self.events.append(("limiter.cleanup",))
        self.problems.extend(self._problems)
        return list(self._leftovers)


class Harness(object):
    """A Supervisor wired to fakes, plus what it was given."""

    def __init__(self, waits=(0,), grace=5, **limiter_kw):
        self.events = Events()
        self.signals = FakeSignals(self.events)
        self.limiter = FakeLimiter(self.events, **limiter_kw)
        self.process = FakeProcess(self.events, waits, advance=self.advance)
        self.started = []
        self.on_create = None  # callable run while the limiter is being created
        self.on_start = None   # callable run while the process is being started
        self.blocked_during_create = None
        self.now = 100.0
        self.sup = Supervisor(start=self.start, clock=self.clock, install_handler=self.signals.install_handler,
                              block=self.signals.block, grace=grace)
        # One look-up per scripted wait: the tests of the TICK itself set it back.
        self.sup.TICK = 10 ** 9

    def clock(self):
        """A monotonic clock that only moves when a test moves it (waiting is the process's job)."""
        return self.now

    def advance(self, seconds):
        self.now += seconds

    def create_limiter(self):
        self.blocked_during_create = set(self.signals.blocked)
        self.limiter.create()
        if self.on_create:
            self.on_create()
        return self.limiter

    def start(self, argv, log_path, env=None, cwd=None, preexec=None, mask=None):
        self.events.append(("start",))
        self.started.append({"argv": argv, "log_path": log_path, "env": env, "cwd": cwd, "preexec": preexec})
        if self.on_start:
            self.on_start()
        return self.process

    def run(self, timeout=None):
        return self.sup.run(self.create_limiter, lambda limiter: limiter.wrap(["k6", "run", "s.js"]),
                            "/r/t/k6.log", env={"K6_X": "1"}, cwd="/s", timeout=timeout)

    def sigterm(self):
        self.signals.raise_signal(signal.SIGTERM)


# ------------------------------------------------------------------------------ normal exit
def test_normal_exit_returns_rc_log_tail_and_evidence_without_stopping():
    h = Harness(waits=[0])
    outcome = h.run(timeout=60)
    assert isinstance(outcome, Outcome)
    assert outcome.rc == 0
    assert outcome.stop_reason is None
    assert outcome.log_tail == "k6 log tail\n"
    assert outcome.evidence["limiter"] == "fake"
    assert outcome.leftovers == [] and outcome.problems == []
    names = h.events.names()
    assert "limiter.stop" not in names and "limiter.kill" not in names and "kill_and_reap" not in names
    assert h.process.wait_timeouts == [60]


def test_start_gets_the_wrapped_command_log_env_cwd_and_the_limiters_preexec():
    h = Harness(waits=[0])
    h.run()
    assert h.started == [{"argv": ["wrapper", "--", "k6", "run", "s.js"], "log_path": "/r/t/k6.log",
                          "env": {"K6_X": "1"}, "cwd": "/s", "preexec": "preexec-marker"}]
    assert h.sup.process is h.process


def test_without_timeout_waits_tick_by_tick_and_never_stops_k6_by_itself():
    h = Harness(waits=[TIMED_OUT] * 5 + [0])
    h.sup.TICK = 1.0
    outcome = h.run(timeout=None)
    assert h.process.wait_timeouts == [1.0] * 6
    assert outcome.rc == 0 and outcome.stop_reason is None and "limiter.stop" not in h.events.names()


def test_the_last_tick_before_the_timeout_is_cut_to_the_timeout():
    h = Harness(waits=[TIMED_OUT, TIMED_OUT, TIMED_OUT, 0])
    h.sup.TICK = 1.0
    outcome = h.run(timeout=2.5)
    assert h.process.wait_timeouts == [1.0, 1.0, 0.5, 15]
    assert outcome.stop_reason == "timeout"


class FakeLease(object):
    def __init__(self, expires_after):
        self.checks, self.expires_after = 0, expires_after

    def expired(self):
        self.checks += 1
        return self.checks > self.expires_after


def test_an_expired_lease_stops_k6_within_a_tick_and_reports_lease():
    h = Harness(waits=[TIMED_OUT, TIMED_OUT, TIMED_OUT, 0])
    h.sup.TICK = 1.0
    h.sup.lease = FakeLease(expires_after=2)
    outcome = h.run(timeout=600)
    assert outcome.stop_reason == "lease" and outcome.rc == 0
    assert h.events.names().count("limiter.stop") == 1
    assert h.process.wait_timeouts == [1.0, 1.0, 1.0, 15]  # the third look-up found it expired


def test_a_renewed_lease_lets_k6_finish():
    h = Harness(waits=[TIMED_OUT, TIMED_OUT, 0])
    h.sup.TICK = 1.0
    h.sup.lease = FakeLease(expires_after=100)
    outcome = h.run(timeout=600)
    assert outcome.stop_reason is None and "limiter.stop" not in h.events.names()


def test_after_an_interrupt_k6_gets_the_grace_then_is_killed_even_without_a_timeout():
    def interrupt(process):
        h.sup.request_stop("interrupted")
        return TIMED_OUT

    h = Harness(waits=[interrupt, TIMED_OUT, -9])
    h.sup.TICK = 1.0
    outcome = h.run(timeout=None)
    assert outcome.stop_reason == "interrupted"
    assert h.events.names().count("limiter.kill") == 1
    assert h.process.wait_timeouts[:2] == [1.0, 14.0]  # grace 5 + 10, less the tick already spent


def test_the_lease_file_expires_by_age_or_absence(tmp_path):
    now = [1000.0]
    lease = Lease(str(tmp_path / "leases" / "t1"), ttl=10, now=lambda: now[0])
    lease.create()
    path = tmp_path / "leases" / "t1"
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct((tmp_path / "leases").stat().st_mode & 0o777) == "0o700"
    assert path.read_text().strip().isdigit()
    os.utime(str(path), (995.0, 995.0))
    assert not lease.expired()
    now[0] = 1006.0
    assert lease.expired()
    os.utime(str(path), (1005.0, 1005.0))  # renewed
    assert not lease.expired()
    lease.remove()
    assert lease.expired() and not path.exists()


def test_stages_run_in_order_create_start_wait_log_evidence_cleanup():
    h = Harness(waits=[0])
    h.run(timeout=10)
    order = [n for n in h.events.names() if n in ("limiter.create", "start", "wait", "finish_log",
                                                  "limiter.evidence", "limiter.cleanup")]
    assert order == ["limiter.create", "start", "wait", "finish_log", "limiter.evidence", "limiter.cleanup"]


@pytest.mark.parametrize("rc", [99, 107, 110, -9])
def test_nonzero_rc_is_reported_as_is(rc):
    assert Harness(waits=[rc]).run(timeout=30).rc == rc


# ------------------------------------------------------------------------------ timeout
def test_timeout_stops_k6_then_reports_timeout():
    h = Harness(waits=[TIMED_OUT, 105], grace=5)
    outcome = h.run(timeout=60)
    assert outcome.rc == 105
    assert outcome.stop_reason == "timeout"
    assert h.process.wait_timeouts == [60, 5 + 10]
    assert ("limiter.stop", 5) in h.events
    assert h.process.signals == [signal.SIGTERM]
    assert "limiter.kill" not in h.events.names()


def test_timeout_and_k6_ignoring_the_stop_kills_it():
    h = Harness(waits=[TIMED_OUT, TIMED_OUT, -9], grace=5)
    outcome = h.run(timeout=60)
    assert outcome.rc == -9
    assert outcome.stop_reason == "timeout"
    assert h.process.wait_timeouts == [60, 15, None]
    names = h.events.names()
    assert names.index("limiter.stop") < names.index("limiter.kill")
    assert h.process.signals == [signal.SIGTERM, signal.SIGKILL]
    assert "limiter.cleanup" in names


# ------------------------------------------------------------------------------ signals
def test_signals_are_blocked_while_the_limiter_is_created_and_unblocked_after():
    h = Harness(waits=[0])
    h.run()
    assert h.blocked_during_create == set(STOP_SIGNALS)
    assert h.signals.blocked == set()
    names = h.events.names()
    assert names.index("block") < names.index("limiter.create") < names.index("unblock") < names.index("start")
    assert h.events[names.index("block")] == ("block", STOP_SIGNALS)
    assert h.events[names.index("unblock")] == ("unblock", STOP_SIGNALS)


def test_stop_signals_are_forwarded_once_the_limiter_exists():
    h = Harness(waits=[0])
    h.run()
    handler_sigs = [e[1] for e in h.events if e[0] == "handler"]
    assert sorted(handler_sigs) == sorted(STOP_SIGNALS)
    names = h.events.names()
    # installed after the limiter is made and before the signals are let through
    assert names.index("limiter.create") < names.index("handler") < names.index("unblock")


@pytest.mark.parametrize("sig", STOP_SIGNALS)
def test_signal_during_the_run_stops_k6_through_the_limiter_and_reports_interrupted(sig):
    h = Harness(waits=[lambda proc: (h.signals.raise_signal(sig), 105)[1]], grace=7)
    outcome = h.run(timeout=600)
    assert outcome.stop_reason == "interrupted"
    assert outcome.rc == 105
    assert ("limiter.stop", 7) in h.events
    assert h.process.signals == [signal.SIGTERM]


def test_request_stop_as_a_signal_handler_would_calls_limiter_stop_and_reports_interrupted():
    h = Harness(waits=[lambda proc: (h.sup.request_stop(), 105)[1]])
    outcome = h.run(timeout=600)
    assert outcome.stop_reason == "interrupted"
    assert h.events.names().count("limiter.stop") == 1


def test_first_stop_reason_wins_when_a_timeout_follows_an_interrupt():
    h = Harness(waits=[lambda proc: (h.sigterm(), TIMED_OUT)[1], 105])
    outcome = h.run(timeout=60)
    assert outcome.stop_reason == "interrupted"
    assert outcome.rc == 105


def test_stop_after_k6_exited_does_not_signal_it():
    h = Harness(waits=[0])
    h.run()
    h.sup.request_stop()
    assert "limiter.stop" not in h.events.names()


def test_stop_requested_while_the_limiter_is_created_raises_interrupted_and_starts_nothing():
    h = Harness(waits=[0])
    h.on_create = h.sigterm  # arrives while blocked, lands on unblock
    with pytest.raises(Interrupted) as err:
        h.run(timeout=60)
    assert isinstance(err.value, RunError)
    assert "before k6 started" in str(err.value)
    assert h.started == []
    assert h.sup.process is None
    names = h.events.names()
    assert names.count("limiter.cleanup") == 1
    assert names.index("unblock") < names.index("signal") < names.index("limiter.cleanup")
    assert "limiter.stop" not in names and "limiter.kill" not in names
    assert h.signals.blocked == set()


def test_stop_while_k6_is_starting_stops_it_as_soon_as_it_exists():
    h = Harness(waits=[105], grace=3)
    h.on_start = h.sigterm
    outcome = h.run(timeout=60)
    assert outcome.stop_reason == "interrupted"
    names = h.events.names()
    assert names.index("start") < names.index("limiter.stop") < names.index("wait")


# ------------------------------------------------------------------------------ creation fails
def test_limiter_creation_failing_starts_nothing_and_cleans_no_limiter():
    h = Harness(waits=[0])

    def refuse():
        raise RunError("cgroup v2 has no memory controller here")

    h.create_limiter = refuse
    with pytest.raises(RunError, match="no memory controller"):
        h.run(timeout=60)
    assert h.started == []
    assert h.sup.process is None and h.sup.limiter is None
    names = h.events.names()
    assert "limiter.cleanup" not in names and "limiter.kill" not in names
    assert names == ["block", "unblock"]  # and signals are let through again
    assert h.signals.blocked == set()


# ------------------------------------------------------------------------------ evidence
def test_evidence_exit_code_overrides_the_process_rc_for_containers():
    h = Harness(waits=[0], evidence={"exit_code": 99, "cpu_seconds": None}, measures_process=False)
    outcome = h.run(timeout=60)
    assert outcome.rc == 99


def test_evidence_exit_code_zero_overrides_a_killed_attach_process():
    h = Harness(waits=[-15], evidence={"exit_code": 0}, measures_process=False)
    assert h.run().rc == 0


def test_cpu_seconds_come_from_the_process_when_it_is_k6():
    h = Harness(waits=[0], evidence={"cpu_seconds": None}, measures_process=True)
    h.process.cpu = 3.5
    assert h.run().evidence["cpu_seconds"] == 3.5


def test_cpu_seconds_are_not_taken_from_a_process_that_is_not_k6():
    h = Harness(waits=[0], evidence={"cpu_seconds": None}, measures_process=False)
    outcome = h.run()
    assert outcome.evidence["cpu_seconds"] is None
    assert "cpu_seconds" not in h.events.names()


def test_limiters_own_cpu_seconds_are_kept():
    h = Harness(waits=[0], evidence={"cpu_seconds": 9.75}, measures_process=True)
    assert h.run().evidence["cpu_seconds"] == 9.75


def test_oom_evidence_reaches_the_outcome():
    h = Harness(waits=[-9], evidence={"oom_killed": True, "memory_peak_bytes": 510 * 1024 ** 2})
    outcome = h.run()
    assert outcome.rc == -9
    assert outcome.evidence["oom_killed"] is True
    assert outcome.evidence["memory_peak_bytes"] == 510 * 1024 ** 2


# ------------------------------------------------------------------------------ cleanup
def test_cleanup_leftovers_and_problems_reach_the_outcome():
    h = Harness(waits=[0], leftovers=[111, 222], problems=["could not remove cgroup /x: busy"])
    outcome = h.run()
    assert outcome.leftovers == [111, 222]
    assert outcome.problems == ["could not remove cgroup /x: busy"]
    names = h.events.names()
    assert names.index("limiter.evidence") < names.index("limiter.cleanup")


def test_cleanup_runs_and_k6_is_killed_when_waiting_fails_unexpectedly():
    def boom(proc):
        raise RuntimeError("wait4 exploded")

    h = Harness(waits=[boom])
    with pytest.raises(RuntimeError, match="wait4 exploded"):
        h.run(timeout=60)
    names = h.events.names()
    assert names.index("limiter.kill") < names.index("kill_and_reap") < names.index("limiter.cleanup")
    assert h.process.signals == [signal.SIGKILL]


def test_cleanup_runs_when_starting_k6_fails_and_the_error_names_the_command():
    h = Harness(waits=[0])

    def cannot_start():
        raise OSError(2, "No such file or directory")

    h.on_start = cannot_start
    with pytest.raises(RunError, match="could not be started .*No such file or directory"):
        h.run(timeout=60)
    assert h.sup.process is None
    names = h.events.names()
    assert names.count("limiter.cleanup") == 1
    assert "kill_and_reap" not in names


def test_a_finished_process_is_not_killed_during_cleanup():
    h = Harness(waits=[0])
    h.run()
    assert "kill_and_reap" not in h.events.names()
    assert "limiter.kill" not in h.events.names()
