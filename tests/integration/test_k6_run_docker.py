"""loadops.k6.k6_run with runner=docker: real docker daemon, the local loadops/k6 image, the real
demo target on a free loopback port (host networking), real cgroups. No mocks.

Every container the module makes is named loadops-k6-<testid> and labelled loadops.k6.testid;
every cgroup parent is <our cgroup>/loadops-k6-<testid>*: the autouse fixture fails a test that
leaves either behind.
"""
from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from k6run_helpers import (SCRIPTS, cgroups_named, docker_ok, finish, image_present, loadops_containers,
                           own_cgroup_path, processes_with, run_module, start_module)

IMAGE = "loadops/k6:1.1.0"
MiB = 1024 ** 2
REPO = Path(__file__).resolve().parents[2]

_ok, _why = docker_ok()
pytestmark = [
    pytest.mark.skipif(not _ok, reason="no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % _why),
    pytest.mark.skipif(_ok and not image_present(IMAGE), reason="image %s absent: build it with scripts/build-images.sh" % IMAGE),
]


@pytest.fixture(autouse=True)
def no_container_or_cgroup_left():
    containers, groups = set(loadops_containers()), set(cgroups_named("loadops-k6-"))
    yield
    assert set(loadops_containers()) - containers == set(), "a run left a container behind"
    assert set(cgroups_named("loadops-k6-")) - groups == set(), "a run left a cgroup parent behind"


@pytest.fixture
def base_args(tmp_path):
    return {"runner": "docker", "results_dir": str(tmp_path / "results"), "html_report": False}


def _script(name):
    return str(SCRIPTS / name)


def _container_running(name):
    out = subprocess.run(["docker", "ps", "--filter", "name=^%s$" % name, "--filter", "status=running",
                          "--format", "{{.Names}}"], capture_output=True, text=True, timeout=30,
                         check=False).stdout
    return name in out.split()


def test_docker_passing_run_reports_thresholds_and_container_evidence(base_args, demo_target):
    args = dict(base_args, script=_script("ok.js"), env={"BASE": demo_target}, html_report=True,
                memory_limit="256m", cpu_limit="1", tags={"testid": "dk-ok-1"})
    result = run_module(args)
    assert result["verdict"] == "passed", (result["msg"], result.get("_stderr"))
    assert result["rc"] == 0 and all(t["passed"] for t in result["thresholds"]) and len(result["thresholds"]) == 3
    assert result["metrics"]["requests"] > 5 and result["checks"][0]["fails"] == 0
    assert result["k6_version"] == "1.1.0"
    gen = result["generator"]
    assert gen["limiter"] == "docker" and gen["container"] == "loadops-k6-dk-ok-1" and gen["exit_code"] == 0
    assert gen["memory_limit_bytes"] == 256 * MiB and gen["cpu_limit"] == 1.0
    assert 0 < gen["memory_peak_bytes"] < 256 * MiB and gen["cpu_seconds"] > 0 and gen["oom_killed"] is False
    cmd = result["cmd"]
    parent = own_cgroup_path().rstrip("/") + "/loadops-k6-dk-ok-1"
    for part in (" create ", "--name loadops-k6-dk-ok-1", "--network host", "--pull never", "--memory 268435456",
                 "--memory-swap 268435456", "--cpus 1", "--cgroup-parent " + parent, "--env-file '<env-file>'",
                 "%s:%s:ro" % (SCRIPTS, SCRIPTS), IMAGE + " run "):
        assert part in cmd, (part, cmd)
    assert "--rm" not in cmd and demo_target not in cmd  # env is never on the command line
    for key in ("summary", "log", "html_report"):
        path = Path(result["artifacts"][key])
        assert path.is_file() and path.stat().st_size > 0
        assert (path.stat().st_uid, path.stat().st_gid) == (os.getuid(), os.getgid())


def test_docker_crossed_threshold_is_thresholds_failed(base_args, demo_target_factory):
    slow = demo_target_factory("--latency", "/health/=60")
    result = run_module(dict(base_args, script=_script("ok.js"), env={"BASE": slow.url, "READ_P95": "30"}))
    assert (result["verdict"], result["rc"], result["failed"]) == ("thresholds_failed", 99, True)
    crossed = [t for t in result["thresholds"] if not t["passed"]]
    assert [t["metric"] for t in crossed] == ["http_req_duration{type:read}"] and crossed[0]["observed"]["value"] >= 60


def test_docker_memory_hog_is_oom_killed_and_reported_as_verdict_oom(base_args):
    result = run_module(dict(base_args, script=_script("memory_hog.js"), memory_limit="96m"))
    assert result["verdict"] == "oom_killed", (result["msg"], result["rc"])
    gen = result["generator"]
    assert gen["oom_killed"] is True and gen["exit_code"] == 137 and result["rc"] == 137
    # The parent's peak is the container's plus page-counter batching (measured: +256 KiB).
    assert 64 * MiB < gen["memory_peak_bytes"] <= 96 * MiB * 1.01
    assert gen["saturated"] is True and "OOM" in gen["reasons"][0]


def test_docker_cpu_limit_bites(base_args):
    # busy.js spins for 3 s of wall time: ~3 CPU-seconds unlimited, ~0.75 under 0.25 CPU.
    result = run_module(dict(base_args, script=_script("busy.js"), cpu_limit="0.25", env={"SPIN_MS": "3000"}))
    assert result["verdict"] == "passed", result["msg"]
    gen = result["generator"]
    assert 0.3 < gen["cpu_seconds"] < 1.3, gen
    assert gen["throttled_share"] > 0.5 and gen["saturated"] is True


class _InfluxCapture(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.path.split("?")[0], self.headers.get("Authorization")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def influx_capture():
    """A loopback HTTP server that answers InfluxDB v1 writes and records their Authorization."""
    _InfluxCapture.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _InfluxCapture)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server.server_address[1], _InfluxCapture.seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_docker_secrets_reach_k6_by_env_file_never_by_argv(base_args, tmp_path, influx_capture):
    port, seen = influx_capture
    secret, influx_password = "hunter2-docker-secret", "pa55-docker-secret"
    private_tmp = tmp_path / "module-tmp"
    private_tmp.mkdir()
    args = dict(base_args, script=_script("secret_env.js"), tags={"testid": "dk-secret"},
                env={"K6_TEST_USER_PASSWORD": secret, "SECRET_SHA256": hashlib.sha256(secret.encode()).hexdigest(),
                     "DURATION": "3s"},
                outputs=["influxdb=http://writer:%s@127.0.0.1:%d/k6" % (influx_password, port)])
    proc = start_module(args, env={"TMPDIR": str(private_tmp)})
    sightings, samples, saw_running = [], 0, False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        sightings += processes_with(secret) + processes_with(influx_password)
        samples += 1
        saw_running = saw_running or _container_running("loadops-k6-dk-secret")
        time.sleep(0.05)
    result = finish(proc, timeout=60)
    assert saw_running and samples > 20, "the run was not observed while its container ran"
    assert sightings == [], "a secret was on a command line"
    assert result["verdict"] == "passed", result["msg"]  # checks rate==1: the secret arrived intact
    assert secret not in result["_stdout"] and influx_password not in result["_stdout"]
    assert "influxdb=http://127.0.0.1:%d/k6" % port in result["cmd"] and "writer" not in result["cmd"]
    writes = [auth for path, auth in seen if path == "/write"]
    assert writes and set(writes) == {"Basic " + __import__("base64").b64encode(("writer:" + influx_password).encode()).decode()}
    assert list(private_tmp.iterdir()) == [], "the env file was not deleted"


def test_docker_timeout_stops_the_container_and_keeps_the_summary(base_args):
    result = run_module(dict(base_args, script=_script("sleeper.js"), timeout=4, tags={"testid": "dk-timeout"}))
    assert result["verdict"] == "timeout" and result["failed"] is True and result["rc"] == 105
    assert result["duration_s"] < 40
    assert result["artifacts"]["summary"] and Path(result["artifacts"]["summary"]).is_file()


def test_docker_sigterm_to_the_module_stops_k6_and_reports_interrupted(base_args):
    proc = start_module(dict(base_args, script=_script("sleeper.js"), tags={"testid": "dk-sig"}))
    deadline = time.monotonic() + 30
    while not _container_running("loadops-k6-dk-sig") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert _container_running("loadops-k6-dk-sig"), "the container never ran"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, timeout=90)
    assert result["verdict"] == "interrupted" and result["rc"] == 105, result["msg"]
    assert result["artifacts"]["summary"] is not None


def test_docker_check_mode_inspects_in_a_container_and_writes_nothing(base_args):
    result = run_module(dict(base_args, script=_script("sleeper.js"), memory_limit="64m"), check=True)
    assert result["verdict"] is None and not result.get("failed")
    assert result["requirements"]["max_vus"] == 1 and result["requirements"]["total_duration_s"] == 90
    assert result["k6_version"] == "1.1.0"
    assert not Path(base_args["results_dir"]).exists()


def test_docker_scripts_dir_must_hold_everything_the_script_imports(base_args):
    smoke = REPO / "k6" / "scripts" / "scenarios" / "smoke.js"
    narrow = run_module(dict(base_args, script=str(smoke)), check=True)
    assert narrow["failed"] is True and narrow["verdict"] == "script_error"
    assert "scripts_dir" in narrow["msg"] or "config.js" in narrow["msg"], narrow["msg"]
    wide = run_module(dict(base_args, script=str(smoke), scripts_dir=str(REPO / "k6" / "scripts")), check=True)
    assert not wide.get("failed") and wide["requirements"]["max_vus"] >= 1, wide["msg"]


def test_runner_auto_uses_docker_when_there_is_no_k6_binary(base_args, demo_target, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(shutil.which("docker"))
    args = dict(base_args, runner="auto", script=_script("ok.js"), env={"BASE": demo_target, "DURATION": "1s"})
    result = run_module(args, env={"PATH": str(bin_dir)})
    assert result["verdict"] == "passed", result["msg"]
    assert result["generator"]["limiter"] == "docker" and " create " in result["cmd"]


def _unreadable_script(tmp_path):
    private = tmp_path / "private-scripts"
    private.mkdir(mode=0o700)
    script = private / "ok.js"
    script.write_text((SCRIPTS / "ok.js").read_text())
    script.chmod(0o600)
    return str(script)


DOCKER_BAD_INPUTS = [
    # (extra args, extra module env, words the message must contain)
    ({"image": "loadops/k6:0.0.0-absent"}, None, ["loadops/k6:0.0.0-absent", "not present", "scripts/build-images.sh"]),
    ({"image": "--privileged"}, None, ["'--privileged'", "not a valid image reference"]),
    ({"image": "Loadops/K6 latest"}, None, ["'Loadops/K6 latest'", "not a valid image reference"]),
    ({}, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, ["docker daemon", "unix:///nonexistent/docker.sock", "not reachable"]),
    ({}, {"PATH": "/nonexistent-bin"}, ["docker is not installed", "runner=binary"]),
    ({"limiter": "cgroup"}, None, ["limiter=cgroup", "runner=docker"]),
    ({"limiter": "systemd"}, None, ["limiter=systemd", "runner=docker"]),
    ({"limiter": "none", "cpu_limit": "1"}, None, ["limiter=none"]),
    ({"k6_path": "/usr/local/bin/k6"}, None, ["k6_path", "runner=binary", "loadops/k6:1.1.0"]),
    ({"scripts_dir": str(REPO / "k6" / "scripts")}, None, ["outside scripts_dir", str(REPO / "k6" / "scripts")]),
    ({"scripts_dir": "/nonexistent/scripts"}, None, ["scripts_dir", "/nonexistent/scripts", "does not exist"]),
    ({"env": {"BASE": "http://127.0.0.1:9", "PEM": "line1\nline2"}}, None, ["PEM", "line break"]),
    ({"outputs": ["json=/tmp/loadops-elsewhere.json"]}, None, ["json=/tmp/loadops-elsewhere.json", "outside the run's results directory"]),
    ({"memory_limit": "12q"}, None, ["'12q'", "512m"]),
    ("unreadable", None, ["not readable by uid 12345", "loadops/k6:1.1.0", "chmod"]),
]


@pytest.mark.parametrize("extra,module_env,words", DOCKER_BAD_INPUTS,
                         ids=[str(e)[:50] + ("+env" if m else "") for e, m, _w in DOCKER_BAD_INPUTS])
def test_docker_bad_input_gets_a_clear_message_and_leaves_nothing(base_args, tmp_path, extra, module_env, words):
    args = dict(base_args, script=_script("ok.js"), env={"BASE": "http://127.0.0.1:9"})
    if extra == "unreadable":
        script = _unreadable_script(tmp_path)
        args.update(script=script)
    else:
        args.update(extra)
    result = run_module(args, env=module_env)
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"] + result["_stderr"] and "internal error" not in result["msg"]
    results = Path(base_args["results_dir"])
    assert not results.exists() or list(results.iterdir()) == []


def test_docker_sigterm_while_preparing_removes_the_inspect_container(base_args):
    proc = start_module(dict(base_args, script=_script("slow_init.js"), tags={"testid": "dk-early"}))
    deadline = time.monotonic() + 30
    while not _container_running("loadops-k6-dk-early-inspect") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _container_running("loadops-k6-dk-early-inspect"), "the inspect container never ran"
    os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, timeout=90)
    assert result["failed"] is True and result["verdict"] == "interrupted", result["msg"]
    assert "before k6 started" in result["msg"] and "Traceback" not in result["_stderr"]
    assert not _container_running("loadops-k6-dk-early-inspect")
