# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/action/k6_tick.py: the calls it makes on the load machine are recorded and
answered here (the integration tests run it against real k6 runs)."""
from __future__ import annotations

import json
import time
from unittest import mock

import pytest
from ansible.playbook.task import Task

from ansible_collections.loadops.k6.plugins.action import k6_tick

BODY = {"data": [
    {"id": "vus", "attributes": {"sample": {"value": 2}}},
    {"id": "http_reqs", "attributes": {"sample": {"count": 40}}},
    {"id": "http_req_failed", "attributes": {"sample": {"rate": 0}}},
    {"id": "http_req_duration", "attributes": {"sample": {"p(95)": 3.25}}},
]}


def _action(args, answers):
    """A k6_tick action whose module calls return ANSWERS[name] (a callable of the args) and are logged."""
    task = Task()
    task.args = dict(args)
    task.action = "loadops.k6.k6_tick"
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    action = k6_tick.ActionModule(task, connection, mock.MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    calls = []

    def execute(module_name, module_args, task_vars):
        calls.append((module_name, dict(module_args), time.time()))
        return answers[module_name](module_args)

    action._execute_module = execute
    action._remove_tmp_path = lambda path: None
    return action, calls


def _args(**more):
    return dict({"lease_file": "/r/.leases/t", "jid": "j1", "async_dir": "/a", "until": time.time(),
                 "label": "lg1 smoke:", "started": time.time() - 5, "total_s": 30}, **more)


def _lease(finished=False, verdict=None):
    return lambda args: {"renewed": "path" in args, "finished": finished, "verdict": verdict if finished else None,
                         "live": {"samples": 3} if "live_file" in args else None}


def test_a_progress_tick_renews_until_its_time_then_returns_one_line(monkeypatch):
    monkeypatch.setattr(k6_tick, "RENEW_EVERY_S", 0.2)
    action, calls = _action(_args(until=time.time() + 0.5, api_port=6565), {
        "loadops.k6.k6_lease": _lease(),
        "ansible.builtin.uri": lambda args: {"status": 200, "content": json.dumps(BODY)}})
    result = action.run(task_vars={})
    assert result["finished"] is False and not result.get("failed") and not result.get("skipped")
    assert result["msg"].startswith("lg1 smoke: 0:06 of 0:30 elapsed, 2 VUs, 40 requests, errors 0.00%, p95 3.2")
    renewals = [c for c in calls if c[0] == "loadops.k6.k6_lease"]
    assert len(renewals) == result["renewals"] >= 3 and all(c[1]["path"] == "/r/.leases/t" for c in renewals)
    assert calls[-1][0] == "ansible.builtin.uri" and calls[-1][1]["url"] == "http://127.0.0.1:6565/v1/metrics"
    assert all(b[2] - a[2] < 1.0 for a, b in zip(renewals, renewals[1:]))


def test_the_last_renewal_reads_the_live_reduction_and_a_tick_without_port_says_nothing():
    action, calls = _action(_args(live_file="/r/t/reduction.live.json"), {"loadops.k6.k6_lease": _lease()})
    result = action.run(task_vars={})
    assert result["msg"] == "" and result["live"] == {"samples": 3} and result["finished"] is False
    assert [c[0] for c in calls] == ["loadops.k6.k6_lease"] and calls[0][1]["live_file"] == "/r/t/reduction.live.json"


def test_a_finished_job_ends_the_tick_at_once_with_its_verdict():
    action, calls = _action(_args(until=time.time() + 30, api_port=6565),
                            {"loadops.k6.k6_lease": _lease(finished=True, verdict="thresholds_failed")})
    started = time.time()
    result = action.run(task_vars={})
    assert time.time() - started < 1 and len(calls) == 1
    assert result["finished"] is True and result["verdict"] == "thresholds_failed" and result["msg"] == ""


def test_k6_gone_between_renewal_and_api_read_counts_as_finished():
    lease_calls = []

    def lease(args):
        lease_calls.append(args)
        return _lease(finished=len(lease_calls) > 1, verdict="passed")(args)

    action, calls = _action(_args(api_port=6565), {
        "loadops.k6.k6_lease": lease, "ansible.builtin.uri": lambda args: {"failed": True, "status": -1}})
    result = action.run(task_vars={})
    assert result["finished"] is True and result["verdict"] == "passed" and result["msg"] == ""
    # The second look does not renew: the run has its lease until it ends on its own.
    assert "path" not in lease_calls[1]


def test_a_tick_after_the_end_is_skipped_and_carries_the_verdict_over():
    action, calls = _action(_args(previous={"finished": True, "verdict": "aborted", "live": None}), {})
    result = action.run(task_vars={})
    assert calls == [] and result["skipped"] is True and result["finished"] is True and result["verdict"] == "aborted"


def test_a_failed_renewal_fails_the_tick():
    action, _calls = _action(_args(until=time.time() + 30), {"loadops.k6.k6_lease": lambda args: {"failed": True, "msg": "boom"}})
    result = action.run(task_vars={})
    assert result["failed"] is True and result["msg"] == "boom"


def test_the_tick_stops_renewing_when_ansible_playbook_is_gone(monkeypatch):
    monkeypatch.setattr(k6_tick, "controller_alive", lambda: False)
    action, calls = _action(_args(until=time.time() + 30), {"loadops.k6.k6_lease": _lease()})
    result = action.run(task_vars={})
    assert calls == [] and result["failed"] is True and "ansible-playbook is gone" in result["msg"]


def test_a_bad_argument_is_refused_by_name():
    action, _calls = _action({"lease_file": "/x", "jid": "j", "async_dir": "/a", "until": "soon"}, {})
    with pytest.raises(Exception, match="until"):
        action.run(task_vars={})
