# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/modules/k6_lease.py: renewing without creating, reading Ansible's async
job status files as ansible.builtin.async_status does, and expiring leases (stop.yml)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ansible_collections.loadops.k6.plugins.modules import k6_lease


# --- renewing ------------------------------------------------------------------------------------

def test_renewing_sets_the_mtime_to_now_and_reports_the_age_before(tmp_path):
    lease = tmp_path / "run-1"
    lease.write_text("4242\n")
    os.utime(str(lease), (1000.0, 1000.0))
    renewed, age = k6_lease.renew_lease(str(lease), now=1007.5)
    assert renewed is True and age == 7.5
    assert lease.stat().st_mtime == 1007.5
    assert lease.read_text() == "4242\n"  # the module's pid stays


def test_a_missing_lease_is_not_created(tmp_path):
    lease = tmp_path / ".leases" / "run-1"
    assert k6_lease.renew_lease(str(lease)) == (False, None)
    assert not lease.exists() and not lease.parent.exists()


def test_check_mode_reports_the_age_without_renewing(tmp_path):
    lease = tmp_path / "run-1"
    lease.write_text("")
    os.utime(str(lease), (1000.0, 1000.0))
    assert k6_lease.renew_lease(str(lease), check_mode=True, now=1003.0) == (False, 3.0)
    assert lease.stat().st_mtime == 1000.0


# --- the async job's status, as async_status reads it ------------------------------------------

def _job(tmp_path, jid, content):
    (tmp_path / jid).write_text(content)
    return str(tmp_path)


def test_a_job_that_wrote_only_its_start_runs(tmp_path):
    # async_wrapper writes this before it starts the module.
    status = k6_lease.job_status(_job(tmp_path, "j1.1", json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1.1"})), "j1.1")
    assert status == {"ansible_job_id": "j1.1", "results_file": str(tmp_path / "j1.1"), "started": True,
                      "job_found": True, "finished": False}


def test_a_job_whose_file_holds_the_module_result_finished(tmp_path):
    # The module's own result, without "started": async_status calls that finished.
    status = k6_lease.job_status(_job(tmp_path, "j1.2", json.dumps({"verdict": "passed", "failed": False})), "j1.2")
    assert status["finished"] is True and status["job_found"] is True


def test_a_job_marked_finished_finished(tmp_path):
    status = k6_lease.job_status(_job(tmp_path, "j1.3", json.dumps({"started": 1, "finished": 1})), "j1.3")
    assert status["finished"] is True


def test_an_empty_or_half_written_file_means_the_job_runs(tmp_path):
    assert k6_lease.job_status(_job(tmp_path, "j1.4", ""), "j1.4")["finished"] is False
    assert k6_lease.job_status(_job(tmp_path, "j1.5", '{"started": 1, "fin'), "j1.5")["finished"] is False


def test_a_job_without_a_status_file_counts_as_finished_so_waits_end(tmp_path):
    status = k6_lease.job_status(str(tmp_path), "j1.6")
    assert status["job_found"] is False and status["finished"] is True


def test_lease_renews_and_polls_in_one_call(tmp_path):
    lease = tmp_path / "run-1"
    lease.write_text("")
    os.utime(str(lease), (1000.0, 1000.0))
    _job(tmp_path, "j2.1", json.dumps({"started": 1, "finished": 0}))
    result = k6_lease.lease({"path": str(lease), "jid": "j2.1", "async_dir": str(tmp_path)}, now=1002.0)
    assert result["changed"] is False and result["renewed"] is True and result["lease_age_s"] == 2.0
    assert result["finished"] is False and result["started"] is True and result["ansible_job_id"] == "j2.1"


def test_lease_without_a_job_reports_it_not_finished(tmp_path):
    result = k6_lease.lease({"path": str(tmp_path / "gone"), "jid": None, "async_dir": "~/.ansible_async"})
    assert result == {"changed": False, "renewed": False, "lease_age_s": None, "job_found": False,
                      "started": False, "finished": False}


# --- expiring (playbooks/stop.yml) ---------------------------------------------------------------

class FakeClock(object):
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def _leases(tmp_path, **pids):
    leases = tmp_path / "results" / ".leases"
    leases.mkdir(parents=True)
    for testid, pid in pids.items():
        (leases / testid).write_text("" if pid is None else "%d\n" % pid)
    return leases


def test_expiring_removes_every_lease_and_waits_for_the_modules(tmp_path):
    leases = _leases(tmp_path, **{"smoke-1": 101, "load-2": 102, "odd": None})
    clock, ends = FakeClock(), {101: 3.0, 102: 6.0}
    seen_dirs = []

    def find_k6(results_dir):
        seen_dirs.append(results_dir)
        return [555] if clock() < 4.0 else []

    result = k6_lease.expire(str(leases), 60, running=lambda pid: clock() < ends[pid], find_k6=find_k6,
                             kill=lambda pid, sig: None, clock=clock, sleep=clock.sleep)
    assert list(leases.iterdir()) == []
    assert result["changed"] is True and result["killed"] == [] and result["remaining"] == []
    assert result["stopped"] == [{"testid": "load-2", "pid": 102, "ended": True},
                                 {"testid": "odd", "pid": None, "ended": True},
                                 {"testid": "smoke-1", "pid": 101, "ended": True}]
    assert 6.0 <= clock() <= 7.0  # waited for the slower module, no longer
    assert set(seen_dirs) == {str(tmp_path / "results")}


def test_k6_left_after_the_wait_is_stopped_and_reported(tmp_path):
    leases = _leases(tmp_path, **{"smoke-1": 101})
    clock, signals, alive = FakeClock(), [], {777}

    def kill(pid, sig):
        signals.append((pid, sig))
        alive.discard(pid)  # k6 honours SIGTERM

    result = k6_lease.expire(str(leases), 10, running=lambda pid: False, find_k6=lambda d: sorted(alive),
                             kill=kill, clock=clock, sleep=clock.sleep)
    assert signals == [(777, k6_lease.signal.SIGTERM)]
    assert result["killed"] == [777] and result["remaining"] == [] and result["stopped"][0]["ended"] is True
    assert 10.0 <= clock() <= 11.0


def test_what_survives_even_sigkill_is_reported_as_remaining(tmp_path):
    leases = _leases(tmp_path, **{"smoke-1": 101})
    clock, signals = FakeClock(), []
    result = k6_lease.expire(str(leases), 5, running=lambda pid: True, find_k6=lambda d: [888],
                             kill=lambda pid, sig: signals.append(sig), clock=clock, sleep=clock.sleep)
    assert signals == [k6_lease.signal.SIGTERM, k6_lease.signal.SIGKILL]
    assert result["remaining"] == [101, 888] and result["stopped"][0]["ended"] is False


def test_nothing_to_stop_changes_nothing(tmp_path):
    clock = FakeClock()
    for path in (tmp_path / "results" / ".leases", _leases(tmp_path)):
        result = k6_lease.expire(str(path), 60, running=lambda pid: True, find_k6=lambda d: [],
                                 kill=None, clock=clock, sleep=clock.sleep)
        assert result == {"changed": False, "stopped": [], "killed": [], "remaining": []}
    assert clock() == 0.0


def test_one_lease_file_may_be_expired_alone(tmp_path):
    leases = _leases(tmp_path, **{"smoke-1": 101, "load-2": 102})
    clock = FakeClock()
    result = k6_lease.expire(str(leases / "smoke-1"), 60, running=lambda pid: False, find_k6=lambda d: [],
                             kill=None, clock=clock, sleep=clock.sleep)
    assert [r["testid"] for r in result["stopped"]] == ["smoke-1"]
    assert sorted(p.name for p in leases.iterdir()) == ["load-2"]


def test_check_mode_names_the_runs_and_removes_nothing(tmp_path):
    leases = _leases(tmp_path, **{"smoke-1": 101})
    result = k6_lease.expire(str(leases), 60, check_mode=True, running=None, find_k6=None, kill=None)
    assert result["changed"] is True and result["stopped"][0]["testid"] == "smoke-1"
    assert (leases / "smoke-1").exists()


def test_a_module_is_told_apart_from_a_reused_pid():
    # This test's own process is no k6_run module; a pid that does not exist is not running.
    assert k6_lease.module_running(os.getpid()) is False
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert k6_lease.module_running(proc.pid) is False


def test_k6_processes_are_found_by_the_results_dir_in_their_command_line(tmp_path):
    # A fake /proc: k6 of this results dir, k6 of another, something else naming the dir.
    proc = tmp_path / "proc"
    rows = {
        "11": ["/usr/local/bin/k6", "run", "--summary-export", str(tmp_path / "results" / "smoke-1" / "summary.json"), "x.js"],
        "12": ["k6", "run", "--summary-export=%s" % (tmp_path / "results" / "load-2" / "summary.json"), "x.js"],
        "13": ["/usr/bin/k6", "run", "--summary-export", str(tmp_path / "results-other" / "s.json"), "x.js"],
        "14": ["python3", "tail", str(tmp_path / "results" / "smoke-1" / "k6.log")],
        "self": ["ignored"],
    }
    for pid, argv in rows.items():
        (proc / pid).mkdir(parents=True)
        (proc / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "15").mkdir()  # ended while being read: no cmdline
    assert k6_lease.k6_processes(str(tmp_path / "results"), proc=str(proc)) == [11, 12]


def test_a_real_k6_lookalike_is_found_and_stopped(tmp_path):
    # A process named k6 (Python under argv[0] "k6") naming a file under the results dir, with no
    # module left to stop it: stop.yml's last resort.
    results = tmp_path / "results"
    leases = _leases(tmp_path)
    proc = subprocess.Popen(["k6", "-c", "import time; time.sleep(30)", str(results / "smoke-1" / "summary.json")],
                            executable=sys.executable)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not k6_lease.k6_processes(str(results)):
            time.sleep(0.05)
        assert k6_lease.k6_processes(str(results)) == [proc.pid]
        result = k6_lease.expire(str(leases), 0)
        assert result["killed"] == [proc.pid] and result["remaining"] == []
        assert proc.wait(timeout=5) == -15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_live_reduction_comes_back_with_the_renewal(tmp_path):
    live = tmp_path / "reduction.live.json"
    result = k6_lease.lease({"path": None, "jid": None, "live_file": str(live)})
    assert result["live"] is None  # not written yet
    live.write_text('{"format": "loadops.k6/reduction", "version": 1, "live": true, "samples": 3, "series": []}')
    assert k6_lease.lease({"live_file": str(live)})["live"]["samples"] == 3
    live.write_text('{"format": "loadops.k6/redu')  # cut off: never happens (rename), still no traceback
    assert k6_lease.lease({"live_file": str(live)})["live"] is None
    assert "live" not in k6_lease.lease({"path": str(tmp_path / "gone")})
