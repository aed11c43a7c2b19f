"""k6's sample stream reduced on the load machine, through ansible-playbook (issue 12).

A script hits four endpoints of a small HTTP server this test starts on 127.0.0.1: one answers
200, one 400, one 500 (and has no `name` tag, so k6 names it by its URL), and one is a closed
port (no response: status 0). k6_run must say, per endpoint, how many requests, how many failed
and with which status (each with its hint), and judge every threshold a second time from the
reduction, agreeing with k6's own summary. One playbook (module-scoped) runs every case; each
run is bounded (60 iterations, a 60 s module timeout) and all traffic stays on loopback.
"""
from __future__ import annotations

import gzip
import http.server
import json
import os
import socketserver
import stat
import threading
from pathlib import Path

import pytest

from services import recap, run_playbook

# The script the unit tests' fixtures were captured from (tests/unit/fixtures/k6_1.1.0/samples/):
# 3 VUs, 60 iterations, 15 thresholds over every metric kind, p(99.9), empty submetrics.
FOUR_ENDPOINTS = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "k6_1.1.0" / "samples" / "four_endpoints.js"
ITERATIONS = 60
THRESHOLDS = 15
LONG_SCRIPT = """\
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: 1, duration: '60s', thresholds: { http_req_duration: ['p(95)<5000'] } };
export default function () { http.get(`${__ENV.BASE}/ok`, { tags: { name: 'ok' } }); sleep(0.2); }
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        code = {"/bad": 400, "/boom": 500}.get(self.path, 200)
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _closed_port():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there for the test's few seconds
    return port


def _case(name, script, root, cases, env, **args):
    module_args = dict(dict(script=str(script), limiter="none", html_report=False, timeout=60,
                            results_dir=str(root / "results" / name), tags={"testid": name}, env=env), **args)
    return [
        {"name": "case %s" % name, "loadops.k6.k6_run": module_args, "register": "r_%s" % name,
         "ignore_errors": True},
        {"name": "dump case %s" % name, "ansible.builtin.copy": {
            "dest": str(cases / ("%s.json" % name)), "mode": "0600",
            "content": "{{ {'ansible_failed': (r_%s is failed), 'result': r_%s} | to_nice_json }}" % (name, name)}},
    ]


@pytest.fixture(scope="module")
def cases(tmp_path_factory, k6_bin):
    root = tmp_path_factory.mktemp("samples")
    (root / "cases").mkdir()
    four, long_ = FOUR_ENDPOINTS, root / "long.js"
    long_.write_text(LONG_SCRIPT)
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"BASE": "http://127.0.0.1:%d" % server.server_address[1], "CLOSED": str(_closed_port())}
    tasks = []
    tasks += _case("reduce", four, root, root / "cases", env, k6_path=k6_bin)
    tasks += _case("keep", four, root, root / "cases", env, k6_path=k6_bin, samples="keep")
    tasks += _case("off", four, root, root / "cases", env, k6_path=k6_bin, samples="off")
    tasks += _case("stopped", long_, root, root / "cases", env, k6_path=k6_bin, timeout=4)
    playbook = root / "samples.yml"
    playbook.write_text(json.dumps([{"name": "k6_run sample reduction", "hosts": "localhost",
                                     "connection": "local", "gather_facts": False, "tasks": tasks}]))
    try:
        proc = run_playbook(root, playbook, {}, group="all", timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap(proc)["failed"] == 0, output

    def load(name):
        data = json.loads((root / "cases" / ("%s.json" % name)).read_text())
        assert "MODULE FAILURE" not in str(data["result"].get("msg")), data["result"].get("msg")
        return data["result"]
    return load


def test_every_endpoint_with_its_count_failures_and_statuses(cases):
    result = cases("reduce")
    assert result["verdict"] == "thresholds_failed", result["msg"]  # http_req_failed is 75 %
    by_name = {e["name"]: e for e in result["endpoints"]}
    boom = [name for name in by_name if name.endswith("/boom")]
    assert sorted(by_name) == sorted(["ok", "bad", "unreachable"] + boom) and len(boom) == 1, by_name
    expected = {"ok": ("200", 0), "bad": ("400", ITERATIONS), boom[0]: ("500", ITERATIONS),
                "unreachable": ("0", ITERATIONS)}
    for name, (status, failed) in expected.items():
        entry = by_name[name]
        assert entry["count"] == ITERATIONS and entry["statuses"] == {status: ITERATIONS}, entry
        assert entry["failed"] == failed and entry["failure_rate"] == failed / ITERATIONS, entry
        assert entry["methods"] == ["GET"], entry
    assert 0 < by_name["ok"]["p50_ms"] <= by_name["ok"]["p95_ms"] <= by_name["ok"]["p99_ms"] <= by_name["ok"]["max_ms"]


def test_failed_requests_by_status_each_with_its_hint(cases):
    errors = cases("reduce")["errors"]
    by_status = {e["status"]: e for e in errors}
    assert sorted(by_status) == [0, 400, 500], errors
    assert all(e["count"] == ITERATIONS for e in errors), errors
    assert by_status[400]["endpoint"] == "bad" and "Host header" in by_status[400]["hint"]
    assert by_status[500]["endpoint"].endswith("/boom") and "server error" in by_status[500]["hint"]
    assert by_status[0]["endpoint"] == "unreachable" and "unreachable" in by_status[0]["hint"]
    assert "connection refused" in by_status[0]["error"], by_status[0]


def test_our_judgement_of_every_threshold_agrees_with_k6(cases):
    result = cases("reduce")
    evaluator = result["evaluator"]
    assert evaluator["agrees"] is True, evaluator
    assert evaluator["compared"] == len(result["thresholds"]) == THRESHOLDS, (evaluator, result["thresholds"])
    p999 = [t for t in result["thresholds"] if t["expression"] == "p(99.9)<6000"][0]
    # k6's summary does not export p(99.9) (not in summaryTrendStats): the value is ours
    assert p999["observed"]["source"] == "loadops" and p999["observed"]["value"] > 0, p999


def test_the_reduction_is_a_private_exact_artifact(cases):
    result = cases("reduce")
    path = result["artifacts"]["reduction"]
    assert path and os.path.isfile(path), result["artifacts"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(open(path).read())
    assert data["format"] == "loadops.k6/reduction" and data["testid"] == "reduce"
    reqs = sum(s["count"] for s in data["series"] if s["metric"] == "http_reqs")
    assert reqs == 4 * ITERATIONS
    run_dir = os.path.dirname(path)
    assert not os.path.exists(os.path.join(run_dir, "samples.pipe"))  # the pipe is gone
    assert result["artifacts"]["samples"] is None and not os.path.exists(os.path.join(run_dir, "samples.json.gz"))


def test_keep_also_keeps_the_raw_stream(cases):
    result = cases("keep")
    raw = result["artifacts"]["samples"]
    with gzip.open(raw, "rt") as handle:
        points = [json.loads(line) for line in handle if '"type":"Point"' in line]
    reduction = json.loads(open(result["artifacts"]["reduction"]).read())
    assert len(points) == reduction["samples"] > 0
    assert stat.S_IMODE(os.stat(raw).st_mode) == 0o600


def test_off_reads_nothing_and_says_so(cases):
    result = cases("off")
    assert result["artifacts"]["reduction"] is None and "evaluator" not in result and "errors" not in result
    # only what k6's summary exports: the endpoint a threshold names, without counts or failures
    assert [(e["name"], e["count"], e["failure_rate"]) for e in result["endpoints"]] == [("ok", None, None)]
    assert "--out json=" not in result["cmd"]


def test_a_stopped_run_still_gives_its_reduction(cases):
    result = cases("stopped")
    assert result["verdict"] == "timeout", result["msg"]
    assert result["duration_s"] < 50, result["duration_s"]  # nobody waited on the pipe
    ok = [e for e in result["endpoints"] if e["name"] == "ok"]
    assert ok and ok[0]["count"] >= 3, result["endpoints"]
    assert result["evaluator"]["agrees"] is True, result["evaluator"]
