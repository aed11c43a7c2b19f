"""The allowlist cannot be bypassed (issue 11): the real playbooks on this machine (local connection).

- every URL k6 will be given is judged after all merging: a K6_BASE_URL (or K6_FRONTEND_URL, or any
  other URL) in scenario_run_env, or a K6_BASE_URL in the legacy .env, outside
  scenario_run_allowed_targets stops the play before any request and before k6 starts;
- redirects: k6 gets K6_MAX_REDIRECTS=0 unless scenario_run_allow_redirects is true; the health probe
  follows a redirect only when that is true and only to a host on the allowlist.

Traffic goes only to 127.0.0.0/8: recording HTTP servers of this process on 127.0.0.1 and on other
loopback addresses (127.0.0.2, 127.0.0.3), each on a free port, stopped at the end of each test.
"""
from __future__ import annotations

import http.server
import threading
from typing import Dict, List, Optional, Tuple

import pytest

from services import REPO, free_port, run_playbook

SCRIPTS = REPO / "k6" / "scripts"


class Recorder:
    """An HTTP server on HOST:free port that records every request and answers from ROUTES.

    ROUTES maps a path to (status, Location or None); any other path answers 404.
    """

    def __init__(self, host: str, routes: Optional[Dict[str, Tuple[int, Optional[str]]]] = None) -> None:
        self.host, self.routes = host, dict(routes or {})
        self.requests: List[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                recorder.requests.append("%s %s" % (self.command, self.path))
                status, location = recorder.routes.get(self.path.split("?")[0], (404, None))
                body = b"{}" if status == 200 else b""
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, free_port(host)), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://%s:%d" % (self.host, self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def recorder():
    started: List[Recorder] = []

    def start(host: str, routes=None) -> Recorder:
        server = Recorder(host, routes)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _vars(tmp_path, base_url=None, env=None, **more):
    """Smoke at K6_TIME_SCALE=0.1 (3 s of load), no InfluxDB, results under tmp_path."""
    out = {
        "scenario_run_scripts_dir": str(SCRIPTS),
        "scenario_run_influxdb_url": "",
        "scenario_run_env": dict({"K6_TIME_SCALE": "0.1"}, **(env or {})),
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        "scenario_run_progress_interval": 5,
        # k6 as the module's user: these tests are about targets, and no run user need exist here.
        "scenario_run_user": "",
    }
    if base_url is not None:
        out["scenario_run_base_url"] = base_url
    out.update(more)
    return out


def _flat(text):
    return " ".join(text.split())


def _out(proc):
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def _no_run(tmp_path):
    """k6 never started: no run directory on the load machine, nothing on the controller."""
    controller = tmp_path / "on-controller"
    assert not (tmp_path / "on-load-machine").exists()
    assert not controller.exists() or not any(controller.iterdir())


def _refused(tmp_path, proc, *phrases):
    assert proc.returncode == 2, _out(proc)
    out = _flat(proc.stdout)
    assert "Not starting smoke:" in out, out[-3000:]
    for phrase in phrases:
        assert phrase in out, out[-3000:]
    _no_run(tmp_path)
    return out


def _demo_requests(target):
    return [line for line in target.stderr().splitlines() if " /" in line]


# --- every URL k6 gets is judged after all merging -----------------------------------------------

@pytest.mark.parametrize("key", ["K6_BASE_URL", "K6_FRONTEND_URL", "K6_AUTH_URL"])
def test_a_url_in_scenario_run_env_outside_the_allowlist_stops_the_play_before_any_request(
        tmp_path, demo_target_factory, recorder, key):
    demo = demo_target_factory("--verbose")
    elsewhere = recorder("127.0.0.2")
    # The allowlist holds only the demo target's address; scenario_run_base_url is the demo target.
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, demo.url, env={key: elsewhere.url + "/api"},
                                                     scenario_run_allowed_targets=["127.0.0.1"]))
    _refused(tmp_path, proc,
             "localhost: refusing to send load to %s because its host is not in scenario_run_allowed_targets "
             "(127.0.0.1); k6 would get it as %s;" % (elsewhere.url, key))
    assert elsewhere.requests == []
    # Refused before the preflight too: not even the allowed demo target was probed.
    assert _demo_requests(demo) == []


def test_a_legacy_env_base_url_outside_the_allowlist_stops_the_play_before_any_request(
        tmp_path, demo_target_factory, recorder):
    demo = demo_target_factory("--verbose")
    elsewhere = recorder("127.0.0.2")
    env_file = tmp_path / "old.env"
    env_file.write_text("K6_BASE_URL=%s\nK6_TEST_USER_EMAIL=demo@example.com\n" % elsewhere.url)
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, scenario_run_env_file=str(env_file),
                                                     scenario_run_allowed_targets=["127.0.0.1"]))
    _refused(tmp_path, proc,
             "refusing to send load to %s because its host is not in scenario_run_allowed_targets (127.0.0.1); "
             "k6 would get it as K6_BASE_URL, K6_FRONTEND_URL;" % elsewhere.url)
    assert elsewhere.requests == [] and _demo_requests(demo) == []


def test_the_health_probe_and_the_announcement_use_the_base_url_k6_gets(tmp_path, demo_target_factory):
    # scenario_run_base_url points at a closed port; scenario_run_env's K6_BASE_URL (allowed) wins for k6,
    # so the probe and the announcement must follow it (check mode: no load).
    demo = demo_target_factory("--verbose")
    closed = "http://127.0.0.1:%d" % free_port()
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, closed, env={"K6_BASE_URL": demo.url}), "--check")
    assert proc.returncode == 0, _out(proc)
    assert "against %s" % demo.url in _flat(proc.stdout)
    seen = _demo_requests(demo)
    assert len(seen) == 1 and "/health/" in seen[0], seen


# --- redirects -----------------------------------------------------------------------------------

REDIRECT_SCRIPT = """import http from 'k6/http';
// One request; a short maxDuration keeps the role's progress loop (one tick per interval of it) short.
export const options = { scenarios: { one: { executor: 'shared-iterations', vus: 1, iterations: 1,
                                             maxDuration: '3s', gracefulStop: '0s' } } };
export default function () { http.get(`${__ENV.K6_BASE_URL}/go`); }
"""


def test_k6_follows_no_redirect_by_default_and_follows_them_when_allowed(tmp_path, recorder):
    landing = recorder("127.0.0.3", {"/landed": (200, None)})
    origin = recorder("127.0.0.1", {"/health/": (200, None), "/go": (302, landing.url + "/landed")})
    script = tmp_path / "redirect.js"
    script.write_text(REDIRECT_SCRIPT)
    # 127.0.0.3 is on the default allowlist (127.0.0.0/8): only maxRedirects keeps k6 away from it, and a
    # K6_MAX_REDIRECTS of the inventory's own does not undo that.
    extra = _vars(tmp_path, origin.url, env={"K6_MAX_REDIRECTS": "5"}, scenario_run_script=str(script),
                  scenario_run_timeout=15)
    proc = run_playbook(tmp_path, "smoke.yml", extra)
    assert proc.returncode == 0, _out(proc)
    assert "GET /go" in origin.requests and landing.requests == [], (origin.requests, landing.requests)
    runs = list((tmp_path / "on-controller").iterdir())
    assert len(runs) == 1 and (runs[0] / "localhost" / "result.json").is_file()

    extra["scenario_run_allow_redirects"] = True
    proc = run_playbook(tmp_path, "smoke.yml", extra)
    assert proc.returncode == 0, _out(proc)
    assert landing.requests == ["GET /landed"], landing.requests


@pytest.mark.parametrize("allow,allowed", [(False, ["127.0.0.0/8"]), (True, ["127.0.0.1"]), (True, ["127.0.0.0/8"])])
def test_the_health_probe_follows_a_redirect_only_when_allowed_and_only_to_an_allowed_host(
        tmp_path, recorder, allow, allowed):
    landing = recorder("127.0.0.3", {"/health/": (200, None)})
    origin = recorder("127.0.0.1", {"/health/": (302, landing.url + "/health/")})
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, origin.url, scenario_run_allow_redirects=allow,
                                                     scenario_run_allowed_targets=allowed), "--check")
    assert origin.requests == ["GET /health/"], origin.requests
    if not allow:
        _refused(tmp_path, proc, "the health endpoint %s/health/ answered 302, a redirect to %s/health/, which "
                                 "neither this probe nor k6 follows" % (origin.url, landing.url))
        assert landing.requests == []
    elif allowed == ["127.0.0.1"]:
        _refused(tmp_path, proc, "the health endpoint %s/health/ redirects to %s/health/, whose host is not in "
                                 "scenario_run_allowed_targets (127.0.0.1), so the probe did not follow it"
                 % (origin.url, landing.url))
        assert landing.requests == []
    else:
        assert proc.returncode == 0, _out(proc)
        assert landing.requests == ["GET /health/"]
