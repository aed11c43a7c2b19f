"""loadops.k6.influxdb with influxdb_install_method=docker_v1: the real role through ansible-playbook
against this machine, the real docker daemon, the local stand-in image (Debian's influxd 1.6.7 on
Debian 12, tests/images/influxdb1) and real HTTP calls. No mocks.

Every deployment gets its own container name (loadops-influxdb-test-<pid>-<n>), free loopback
ports, data and configuration under tmp_path and its own credentials directory
(LOADOPS_CREDENTIALS_DIR); the fixture removes the containers it named, also when a test fails.
docker_v2 is not exercised here: no InfluxDB 2 image can be had on the project's test machines
(no registry).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from k6run_helpers import docker_ok, image_present
from services import container_inspect, docker, free_port, need, recap, run_playbook

IMAGE = "loadops/influxdb:1.6.7-standin"
PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "influxdb_docker.yml"
RESERVED_PORTS = {8086, 8088, 18086, 18088}
_names = itertools.count(1)


def _free_port() -> int:
    while True:
        port = free_port()
        if port not in RESERVED_PORTS:
            return port


def _http(url: str, user: str = "", password: str = "", data: bytes = None, timeout: float = 15):
    """(status, body) of one request; basic auth when user is given."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if user:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Deployment:
    """One influxdb role deployment (docker_v1) on this machine, driven by ansible-playbook."""

    def __init__(self, tmp_path: Path, created: list) -> None:
        self.root = tmp_path
        self.name = "loadops-influxdb-test-%d-%d" % (os.getpid(), next(_names))
        created.append(self.name)
        self.http_port, self.rpc_port = _free_port(), _free_port()
        while self.rpc_port == self.http_port:
            self.rpc_port = _free_port()
        self.data_dir = tmp_path / "data"
        self.config_file = tmp_path / "etc" / "influxdb.conf"
        self.creds = tmp_path / "creds"
        self.vars = {
            "influxdb_install_method": "docker_v1",
            "influxdb_docker_image": IMAGE,
            "influxdb_docker_pull": "never",
            "influxdb_docker_container_name": self.name,
            "influxdb_docker_labels": {"loadops.k6.testid": self.name},
            "influxdb_http_port": self.http_port,
            "influxdb_rpc_port": self.rpc_port,
            "influxdb_data_dir": str(self.data_dir),
            "influxdb_config_file": str(self.config_file),
            "influxdb_retention": "7d",
            "influxdb_start_timeout": 40,
        }
        (tmp_path / "ansible").mkdir(exist_ok=True)

    def run(self, *args: str, **overrides) -> subprocess.CompletedProcess:
        return run_playbook(self.root / "ansible", PLAYBOOK, dict(self.vars, **overrides), *args)

    def ok(self, *args: str, **overrides) -> dict:
        proc = self.run(*args, **overrides)
        counts = recap(proc)
        assert proc.returncode == 0 and counts["failed"] == 0, (proc.stdout + proc.stderr)[-5000:]
        self.assert_no_secret_in(proc)
        return counts

    def secret(self, name: str) -> str:
        return (self.creds / "localhost" / name).read_text().strip()

    def assert_no_secret_in(self, proc: subprocess.CompletedProcess) -> None:
        folder = self.creds / "localhost"
        for path in folder.iterdir() if folder.is_dir() else []:
            value = path.read_text().strip()
            assert value and value not in proc.stdout + proc.stderr, "secret %s printed" % path.name

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.http_port

    def started_at(self) -> str:
        return container_inspect(self.name)["State"]["StartedAt"]

    def query(self, q: str, user: str, password: str, db: str = "k6"):
        return _http("%s/query?%s" % (self.url, urllib.parse.urlencode({"db": db, "q": q})), user, password)

    def write(self, line: str, user: str, password: str, db: str = "k6"):
        return _http("%s/write?db=%s" % (self.url, db), user, password, data=line.encode())


@pytest.fixture
def deploy(tmp_path, monkeypatch):
    """Factory of deployments; removes (docker rm -f) every container it named, even on failure."""
    ok, why = docker_ok()
    need(ok, "no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % why)
    need(image_present(IMAGE), "image %s absent: build it with `bash scripts/build-images.sh --only influxdb`" % IMAGE)
    monkeypatch.setenv("LOADOPS_CREDENTIALS_DIR", str(tmp_path / "creds"))
    created: list = []
    yield lambda: Deployment(tmp_path, created)
    for name in created:
        docker("rm", "-f", "-v", name)


def test_docker_v1_runs_secured_influxdb_on_loopback_and_is_idempotent(deploy):
    dep = deploy()
    first = dep.ok()
    assert first["changed"] > 0

    info = container_inspect(dep.name)
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["NetworkMode"] == "host"
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert info["Config"]["Image"] == IMAGE
    assert info["Config"]["Cmd"] == ["influxd", "-config", "/etc/influxdb/influxdb.conf"]
    labels = info["Config"]["Labels"]
    assert labels["loadops.k6.role"] == "influxdb" and labels["loadops.k6.method"] == "docker_v1"
    assert labels["loadops.k6.testid"] == dep.name
    binds = sorted(info["HostConfig"]["Binds"])
    assert binds == sorted(["%s:/etc/influxdb/influxdb.conf:ro" % dep.config_file, "%s:/var/lib/influxdb" % dep.data_dir]) \
        or binds == sorted(["%s:/etc/influxdb/influxdb.conf:ro" % dep.config_file, "%s:/var/lib/influxdb:rw" % dep.data_dir])
    assert (dep.data_dir / "meta").is_dir() and (dep.data_dir / "data").is_dir()  # the container's data is on the host
    assert 'dir = "/var/lib/influxdb/meta"' in dep.config_file.read_text()  # the in-container path

    # influxd (seen from the host, host networking) listens on loopback only, on the ports asked for.
    for port in (dep.http_port, dep.rpc_port):
        lines = subprocess.run(["ss", "-Htlnp", "( sport = :%d )" % port], capture_output=True, text=True,
                               timeout=30, check=True).stdout.splitlines()
        assert lines, "nothing listens on %d" % port
        for line in lines:
            assert line.split()[3] == "127.0.0.1:%d" % port, line
            assert '"influxd"' in line, line

    # Credentials generated on the controller, 0600, in the directory the test chose.
    for name in ("influxdb_admin", "influxdb_k6", "influxdb_grafana"):
        path = dep.creds / "localhost" / name
        assert oct(path.stat().st_mode & 0o777) == "0o600" and len(path.read_text().strip()) == 32
    assert not (dep.creds / "localhost" / "influxdb_v2_admin_token").exists()
    k6_pw, grafana_pw, admin_pw = dep.secret("influxdb_k6"), dep.secret("influxdb_grafana"), dep.secret("influxdb_admin")

    # Authentication on; k6 writes but cannot read, Grafana reads but cannot write.
    status, _body = _http("%s/query?%s" % (dep.url, urllib.parse.urlencode({"q": "SHOW DATABASES"})))
    assert status == 401
    assert dep.query("SHOW DATABASES", "k6_writer", "wrong-password")[0] == 401
    assert dep.write("k6_it,case=write v=1", "k6_writer", k6_pw)[0] == 204
    status, body = dep.query("SELECT * FROM k6_it", "k6_writer", k6_pw)
    assert status == 403, body
    status, body = dep.query("SELECT * FROM k6_it", "grafana_reader", grafana_pw)
    assert status == 200 and '"k6_it"' in body, body
    status, body = dep.write("k6_it,case=grafana v=2", "grafana_reader", grafana_pw)
    assert status == 403, body

    # The database has the retention asked for (7d) on its default policy.
    status, body = dep.query("SHOW RETENTION POLICIES ON k6", "loadops_admin", admin_pw)
    assert status == 200, body
    policies = json.loads(body)["results"][0]["series"][0]["values"]
    assert ["autogen", "168h0m0s"] == policies[0][:2] and policies[0][-1] is True, policies

    # A second run changes nothing and does not restart the container.
    started = dep.started_at()
    assert dep.ok()["changed"] == 0
    assert dep.started_at() == started


def test_config_change_restarts_the_container_and_no_change_does_not(deploy):
    dep = deploy()
    dep.ok()
    started = dep.started_at()
    assert dep.ok()["changed"] == 0 and dep.started_at() == started

    counts = dep.ok(influxdb_max_body_size=1048576)
    assert counts["changed"] >= 1
    assert "max-body-size = 1048576" in dep.config_file.read_text()
    restarted = dep.started_at()
    assert restarted != started, "a changed configuration must restart the container"
    assert _http(dep.url + "/ping")[0] == 204  # the role waited for it: it answers right away

    assert dep.ok(influxdb_max_body_size=1048576)["changed"] == 0
    assert dep.started_at() == restarted


def test_check_diff_on_a_fresh_host_changes_nothing(deploy):
    dep = deploy()
    proc = dep.run("--check", "--diff")
    counts = recap(proc)
    assert proc.returncode == 0 and counts["failed"] == 0, (proc.stdout + proc.stderr)[-5000:]
    assert counts["changed"] > 0  # it says what it would do...
    assert "max-body-size = 0" in proc.stdout  # ...with the configuration's diff
    assert container_inspect(dep.name) is None  # ...and does none of it
    assert not dep.data_dir.exists() and not dep.config_file.exists() and not dep.config_file.parent.exists()
    assert not dep.creds.exists(), "check mode generated credentials on the controller"


def test_absent_keeps_the_data_and_purge_deletes_it(deploy):
    dep = deploy()
    dep.ok()
    assert dep.write("k6_it,case=keep v=1", "k6_writer", dep.secret("influxdb_k6"))[0] == 204

    assert dep.ok(influxdb_state="absent")["changed"] >= 1
    assert container_inspect(dep.name) is None
    assert (dep.data_dir / "meta").is_dir() and (dep.data_dir / "data").is_dir() and dep.config_file.is_file()
    assert dep.ok(influxdb_state="absent")["changed"] == 0

    # Back again: the same data (point and users) is still there.
    dep.ok()
    status, body = dep.query("SELECT * FROM k6_it", "grafana_reader", dep.secret("influxdb_grafana"))
    assert status == 200 and '"keep"' in body, body

    assert dep.ok(influxdb_state="absent", influxdb_purge=True)["changed"] >= 1
    assert container_inspect(dep.name) is None
    assert not dep.data_dir.exists() and not dep.config_file.exists()
    assert dep.creds.is_dir()  # the controller keeps the credentials


@pytest.mark.parametrize("image, expected", [
    ("influxdb:", "must be an image reference"),
    ("influx db:1.8.10", "must be an image reference"),
    ("influxdb:2.7.12", "needs an InfluxDB 1.x image"),
])
def test_bad_image_fails_with_a_clear_message_and_leaves_no_container(deploy, image, expected):
    dep = deploy()
    proc = dep.run(influxdb_docker_image=image)
    assert proc.returncode != 0 and recap(proc)["failed"] == 1
    out = proc.stdout + proc.stderr
    assert expected in out and json.dumps(image) in out, out[-3000:]
    assert container_inspect(dep.name) is None
    assert not dep.data_dir.exists()


def test_unknown_method_is_rejected_naming_the_choices(deploy):
    dep = deploy()
    proc = dep.run(influxdb_install_method="docker_v3")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "docker_v3" in out and "package, docker_v1, docker_v2" in out, out[-3000:]
    assert container_inspect(dep.name) is None
