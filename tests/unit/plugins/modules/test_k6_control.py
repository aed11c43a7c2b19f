# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/modules/k6_control.py against a tiny fake of k6's REST API (http.server on
127.0.0.1): the JSON:API envelope and a resume that does not take, stop of a k6 that is gone,
addresses that are not the loopback, and the async job's status file."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ansible_collections.loadops.k6.plugins.modules import k6_control

MODULE = "ansible_collections.loadops.k6.plugins.modules.k6_control"
COLLECTIONS = Path(__file__).resolve().parents[4] / ".collections"


def _status(status=4, paused=True):
    return {"data": {"type": "status", "id": "default", "attributes": {
        "status": status, "paused": paused, "vus": 0, "vus-max": 1, "stopped": False, "running": False, "tainted": False}}}


class FakeK6(object):
    """k6's /v1/status and /v1/setup. honour_envelope=False: every PATCH answers 200 and changes
    nothing, as k6 v1.1.0 does for a body that is not the JSON:API envelope."""

    def __init__(self, honour_envelope=True):
        self.state = {"status": 4, "paused": True}
        self.honour_envelope = honour_envelope
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, document):
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                fake.requests.append(("GET", self.path, None))
                self._answer(_status(**fake.state))

            def do_PATCH(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("PATCH", self.path, body))
                attributes = (body.get("data") or {}).get("attributes") or {}
                if fake.honour_envelope and attributes.get("paused") is False:
                    fake.state = {"status": 7, "paused": False}
                self._answer(_status(**fake.state))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _params(**params):
    return dict(dict(timeout=120.0, data=None, at=None, jid=None, async_dir="~/.ansible_async"), **params)


def _run_module(args, tmp_path, check=False):
    """The module as Ansible runs it on the target: args file in, JSON out."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PYTHONPATH"] = str(COLLECTIONS)
    proc = subprocess.run([sys.executable, "-m", MODULE, str(args_file)], capture_output=True, text=True, timeout=30,
                          check=False, env=env)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


# --- resume -------------------------------------------------------------------------------------

def test_resume_sends_the_json_api_envelope_and_confirms():
    with FakeK6() as fake:
        result = k6_control.K6Control(_params(api_address=fake.address, action="resume")).run()
    patches = [body for method, _path, body in fake.requests if method == "PATCH"]
    assert patches == [{"data": {"type": "status", "id": "default", "attributes": {"paused": False}}}]
    assert result["changed"] is True and result["status"] == 7 and result["status_name"] == "Running"
    assert "late_ms" not in result and isinstance(result["resumed_at"], float)


def test_a_resume_answered_200_that_leaves_k6_paused_fails_resume_did_not_take(tmp_path):
    with FakeK6(honour_envelope=False) as fake:
        result = _run_module({"api_address": fake.address, "action": "resume"}, tmp_path)
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert result.get("failed") is True, result
    assert "resume did not take" in result["msg"] and fake.address in result["msg"], result["msg"]
    assert len(patches) == 3, "one PATCH and at most two retries: %s" % patches
    assert result["status"] == 4


def test_resume_at_sleeps_until_at_and_reports_how_late():
    now = [1000.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    with FakeK6() as fake:
        result = k6_control.K6Control(_params(api_address=fake.address, action="resume", at=1002.5),
                                      clock=clock, sleep=sleep).run()
    assert 1002.5 <= result["resumed_at"] < 1002.502 and 0 <= result["late_ms"] < 2


@pytest.mark.parametrize("offset, words", [(301.0, "ahead"), (-31.0, "in the past")])
def test_resume_at_too_far_ahead_or_behind_is_refused_before_any_request(offset, words):
    with FakeK6() as fake:
        control = k6_control.K6Control(_params(api_address=fake.address, action="resume", at=1000.0 + offset),
                                       clock=lambda: 1000.0)
        with pytest.raises(k6_control.ControlError) as raised:
            control.run()
    assert words in raised.value.msg and fake.requests == []


def test_check_mode_resume_sends_nothing():
    with FakeK6() as fake:
        result = k6_control.K6Control(_params(api_address=fake.address, action="resume"), check_mode=True).run()
    assert result == {"changed": True} and fake.requests == []


# --- stop, status ---------------------------------------------------------------------------------

def test_stop_when_nothing_listens_is_ok_and_unchanged(tmp_path):
    result = _run_module({"api_address": "127.0.0.1:%d" % _closed_port(), "action": "stop"}, tmp_path)
    assert result.get("failed") is not True, result
    assert result["changed"] is False


def test_status_when_nothing_listens_fails_naming_address_and_action(tmp_path):
    address = "127.0.0.1:%d" % _closed_port()
    result = _run_module({"api_address": address, "action": "status"}, tmp_path)
    assert result.get("failed") is True
    assert address in result["msg"] and "status" in result["msg"] and "Traceback" not in json.dumps(result)


def test_stop_sends_stopped_in_the_envelope():
    with FakeK6() as fake:
        result = k6_control.K6Control(_params(api_address=fake.address, action="stop")).run()
    assert ("PATCH", "/v1/status", k6_control.envelope(stopped=True)) in fake.requests
    assert result["changed"] is True


# --- addresses ------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["10.0.0.5:6565", "0.0.0.0:6565", "example.com:6565", "[::]:6565", "::1:6565"])
def test_an_address_that_is_not_loopback_is_refused_naming_it(address, tmp_path):
    result = _run_module({"api_address": address, "action": "status"}, tmp_path)
    assert result.get("failed") is True
    assert repr(address) in result["msg"] and "loopback" in result["msg"], result["msg"]


@pytest.mark.parametrize("address", ["bogus", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ""])
def test_a_malformed_address_is_refused_with_the_expected_form(address):
    with pytest.raises(k6_control.ControlError) as raised:
        k6_control.parse_address(address)
    assert "host:port" in raised.value.msg and repr(address) in raised.value.msg


@pytest.mark.parametrize("address, expected", [("127.0.0.1:6565", ("127.0.0.1", 6565)),
                                               ("127.1.2.3:1", ("127.1.2.3", 1)),
                                               ("localhost:6565", ("localhost", 6565)),
                                               ("[::1]:6565", ("[::1]", 6565))])
def test_loopback_addresses_are_accepted(address, expected):
    assert k6_control.parse_address(address) == expected


# --- wait_paused and the async job ----------------------------------------------------------------

def test_wait_paused_fails_at_once_when_the_job_ended_with_its_msg_and_verdict_only(tmp_path):
    (tmp_path / "j1.1").write_text(json.dumps({"failed": True, "msg": "k6 could not load the script",
                                               "verdict": "script_error", "invocation": {"module_args": {"x": 1}}}))
    result = _run_module({"api_address": "127.0.0.1:%d" % _closed_port(), "action": "wait_paused", "timeout": 20,
                          "jid": "j1.1", "async_dir": str(tmp_path)}, tmp_path)
    assert result.get("failed") is True
    assert result["msg"] == "k6 ended before it was ready: k6 could not load the script"
    assert result["job_result"] == {"msg": "k6 could not load the script", "verdict": "script_error"}


def test_a_running_job_is_not_finished(tmp_path):
    (tmp_path / "j1.2").write_text(json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1.2"}))
    assert k6_control.job_status(str(tmp_path), "j1.2") == (False, None)
    (tmp_path / "j1.3").write_text("")
    assert k6_control.job_status(str(tmp_path), "j1.3") == (False, None)


def test_wait_paused_times_out_with_the_last_state():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    with FakeK6() as fake:
        fake.state = {"status": 1, "paused": True}
        with pytest.raises(k6_control.ControlError) as raised:
            k6_control.K6Control(_params(api_address=fake.address, action="wait_paused", timeout=1.0),
                                 clock=lambda: now[0], sleep=sleep).run()
    assert "within 1 s" in raised.value.msg and "InitVUs" in raised.value.msg


def test_the_status_table_is_k6_v1_1_0_lib_execution_go():
    # lib/execution.go: ExecutionStatusCreated = iota ... ExecutionStatusInterrupted
    assert [k6_control.EXECUTION_STATUS[i] for i in range(11)] == [
        "Created", "InitVUs", "InitExecutors", "InitDone", "PausedBeforeRun", "Started", "Setup", "Running",
        "Teardown", "Ended", "Interrupted"]
    assert k6_control.EXECUTION_STATUS[k6_control.PAUSED_BEFORE_RUN] == "PausedBeforeRun"


def test_a_failed_put_setup_does_not_put_the_data_in_its_message(tmp_path):
    with FakeK6() as fake:  # the fake has no PUT: it answers 501
        result = _run_module({"api_address": fake.address, "action": "put_setup",
                              "data": {"token": "s3cr3t-t0ken"}}, tmp_path)
    assert result.get("failed") is True and "put_setup" in result["msg"], result
    assert "s3cr3t-t0ken" not in result["msg"]
