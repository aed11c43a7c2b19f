"""The grafana role installing Grafana with install method docker, for real: the real docker
daemon, community.docker, the role run by ansible-playbook (local connection), and a real influxd
with authentication (Debian's 1.6.7) holding the read-only user Grafana's datasource logs in as.

What stands in: Grafana itself. The image is loadops/grafana-standin:test
(tests/images/grafana-standin), a small server that reads the env, password file, mounts and
provisioning files the way the official grafana-oss image does and answers the API calls the role
makes; its datasource health call really queries the influxd. It proves the container wiring
(mounts, env, password file, listen address, file permissions for uid 472 / gid 0), NOT that real
Grafana accepts the provisioning files. The apt method is not run here (the project's test
machines reach no vendor repository and do not run systemd as PID 1).

Docker, the image or influxd missing: the tests skip, except in CI (CI=true), where they fail.
Every container is named loadops-grafana-test-<pid>-<n> and removed by name in a finalizer.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import services
from services import container_inspect, docker, need
from k6run_helpers import docker_ok, image_present

IMAGE = "loadops/grafana-standin:test"
PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "grafana_docker.yml"
DB = "k6"
READER = "grafana_reader"
DS_UID = "it-grafana-ds"
_names = itertools.count()


@pytest.fixture(autouse=True)
def prerequisites():
    need(os.geteuid() == 0, "the grafana role writes root-owned files and talks to docker; run as root")
    ok, why = docker_ok()
    need(ok, "no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % why)
    need(image_present(IMAGE), "image %s absent: bash scripts/build-images.sh --only grafana" % IMAGE)


@pytest.fixture
def container(request):
    """A fresh container name; whatever has that name is removed at the end, even on failure."""
    name = "loadops-grafana-test-%d-%d" % (os.getpid(), next(_names))
    request.addfinalizer(lambda: docker("rm", "-f", name))
    return name


@pytest.fixture
def creds(tmp_path, monkeypatch) -> Path:
    """The controller-side secret store (loadops.k6.credential) in tmp_path, not in ~/.loadops."""
    base = tmp_path / "credentials"
    monkeypatch.setenv("LOADOPS_CREDENTIALS_DIR", str(base))
    return base


@pytest.fixture
def influx(tmp_path):
    """influxd with authentication: an admin, database k6 with one point, a read-only user."""
    need(os.access(services.INFLUXD, os.X_OK), "%s is missing (scripts/host-prereqs.sh installs it)" % services.INFLUXD)
    root = tmp_path / "influxd"
    root.mkdir()
    server = services.Influxd(root, auth=True).start()
    try:
        admin_pw, reader_pw = secrets.token_hex(12), secrets.token_hex(12)
        server.query("CREATE USER admin WITH PASSWORD '%s' WITH ALL PRIVILEGES" % admin_pw)
        server.query("CREATE DATABASE %s" % DB, user="admin", password=admin_pw)
        server.query("CREATE USER %s WITH PASSWORD '%s'" % (READER, reader_pw), user="admin", password=admin_pw)
        server.query("GRANT READ ON %s TO %s" % (DB, READER), user="admin", password=admin_pw)
        write = "%s/write?%s" % (server.url, urllib.parse.urlencode({"db": DB, "u": "admin", "p": admin_pw}))
        with urllib.request.urlopen(write, data=b"http_reqs,scenario=it value=1", timeout=10) as resp:
            assert resp.status == 204
        server.reader_password = reader_pw
        yield server
    finally:
        server.stop()


def _vars(tmp_path: Path, name: str, influx_url: str, reader_pw: str, **more) -> dict:
    return dict({
        "grafana_install_method": "docker",
        "grafana_image": IMAGE,
        "grafana_container_name": name,
        "grafana_http_port": services.free_port(),  # never 3000
        "grafana_provisioning_dir": str(tmp_path / "provisioning"),
        "grafana_dashboard_provider_dir": str(tmp_path / "dashboards"),
        "grafana_data_dir": str(tmp_path / "data"),
        "grafana_admin_password_file": str(tmp_path / "secrets" / "admin-password"),
        "grafana_datasource_uid": DS_UID,
        "grafana_influxdb_url": influx_url,
        "grafana_influxdb_database": DB,
        "grafana_influxdb_user": READER,
        "grafana_influxdb_password": reader_pw,
    }, **more)


def _play(tmp_path: Path, extra: dict, *args: str) -> subprocess.CompletedProcess:
    return services.run_playbook(tmp_path, PLAYBOOK, extra, *args, group="grafana")


def _out(proc: subprocess.CompletedProcess) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def _get(url: str, auth=None):
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "{}")


def _listeners(port: int):
    out = subprocess.run(["ss", "-H", "-ltn", "sport = :%d" % port], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def test_docker_method_installs_checks_and_removes_grafana(tmp_path, container, creds, influx):
    extra = _vars(tmp_path, container, influx.url, influx.reader_password)
    port = extra["grafana_http_port"]

    first = _play(tmp_path, extra)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert services.recap(first)["changed"] > 0
    password = (creds / "localhost" / "grafana_admin").read_text().strip()
    assert len(password) >= 16

    # The container: host network, the image's uid/gid, listening on 127.0.0.1:<port> only.
    info = container_inspect(container)
    assert info and info["State"]["Running"], info and info["State"]
    assert info["HostConfig"]["NetworkMode"] == "host"
    assert info["Config"]["User"] == "472:0"
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/loadops-grafana/admin-password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_ANALYTICS_REPORTING_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    mounts = {m["Destination"]: (m["Source"], m["RW"]) for m in info["Mounts"]}
    assert mounts["/etc/grafana/provisioning"] == (extra["grafana_provisioning_dir"], False)
    assert mounts[extra["grafana_dashboard_provider_dir"]] == (extra["grafana_dashboard_provider_dir"], False)
    assert mounts["/var/lib/grafana"] == (extra["grafana_data_dir"], True)
    assert _listeners(port) == {"127.0.0.1:%d" % port}

    # The secret: a tight file, never in the container's config nor in ansible's output.
    pw_file = Path(extra["grafana_admin_password_file"])
    mode = stat.S_IMODE(pw_file.stat().st_mode)
    assert mode in (0o600, 0o640) and not mode & 0o007, oct(mode)
    assert pw_file.read_text().strip() == password
    assert password not in docker("container", "inspect", container).stdout
    assert password not in first.stdout + first.stderr
    assert influx.reader_password not in first.stdout + first.stderr
    # The data directory belongs to the container's user, who could write into it.
    assert (tmp_path / "data").stat().st_uid == 472 and (tmp_path / "data" / "grafana-standin.db").exists()

    # Anonymous access is off; the generated admin password works.
    base = "http://127.0.0.1:%d" % port
    assert _get(base + "/api/user")[0] == 401
    assert _get(base + "/api/user", ("admin", password))[0] == 200
    # The live checks ran and passed: the datasource reached the real influxd as the reader.
    assert "TASK [loadops.k6.grafana : Check the datasource reaches InfluxDB]" in first.stdout
    status, health = _get(base + "/api/datasources/uid/%s/health" % DS_UID, ("admin", password))
    assert (status, health["status"]) == (200, "OK") and "1 measurements found" in health["message"], health
    assert _get(base + "/api/dashboards/uid/loadops-k6", ("admin", password))[0] == 200
    logs = docker("logs", container).stderr
    assert "GET /api/datasources/uid/%s/health HTTP/1.1\" 200" % DS_UID in logs, logs[-2000:]
    assert "GET /api/dashboards/uid/loadops-k6 HTTP/1.1\" 200" in logs, logs[-2000:]

    # Second run: nothing changes, the container is not restarted.
    again = _play(tmp_path, extra)
    assert again.returncode == 0 and services.recap(again)["changed"] == 0, again.stdout[-5000:]
    assert container_inspect(container)["State"]["StartedAt"] == info["State"]["StartedAt"]
    assert password not in again.stdout + again.stderr

    # InfluxDB gone: the live checks fail and say why.
    influx.stop()
    down = _play(tmp_path, extra)
    assert down.returncode != 0
    assert "datasource %s cannot reach InfluxDB at %s (database k6)" % (DS_UID, influx.url) in _out(down), down.stdout[-4000:]

    # Absent: container, provisioning files, dashboards and password file go; the data stays.
    gone = _play(tmp_path, dict(extra, grafana_state="absent"))
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert container_inspect(container) is None
    assert not (tmp_path / "provisioning" / "datasources" / "loadops-k6.yml").exists()
    assert not (tmp_path / "provisioning" / "dashboards" / "loadops-k6.yml").exists()
    assert not (tmp_path / "dashboards" / "loadops-k6.json").exists()
    assert not pw_file.exists()
    assert (tmp_path / "data" / "grafana-standin.db").exists()
    # Purge: the data directory goes too.
    purged = _play(tmp_path, dict(extra, grafana_state="absent", grafana_purge=True))
    assert purged.returncode == 0, purged.stdout[-4000:]
    assert not (tmp_path / "data").exists()


def test_check_mode_with_diff_changes_nothing_on_a_fresh_host(tmp_path, container, creds):
    extra = _vars(tmp_path, container, "http://127.0.0.1:1", "unused-reader-pw")
    proc = _play(tmp_path, extra, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert services.recap(proc)["changed"] > 0
    assert container_inspect(container) is None
    for path in ("provisioning", "dashboards", "data", "secrets"):
        assert not (tmp_path / path).exists(), path
    assert (creds / "localhost" / "grafana_admin").read_text().strip() not in proc.stdout + proc.stderr
    assert "unused-reader-pw" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("override, expected", [
    ({"grafana_install_method": "podman"}, ["podman", "none, docker, apt"]),
    ({"grafana_image": "grafana/grafana-oss"}, ['grafana_image "grafana/grafana-oss" must be an image reference pinned']),
    ({"grafana_image": "grafana/grafana-oss:latest"}, ['grafana_image "grafana/grafana-oss:latest" must be an image reference pinned']),
    ({"grafana_image": "Grafana/OSS image:1"}, ['grafana_image "Grafana/OSS image:1" must be an image reference pinned']),
    ({"grafana_http_port": 70000}, ["grafana_http_port 70000 must be a port number 1-65535"]),
    ({"grafana_version": "11.x"}, ['grafana_version "11.x" is not a Grafana version']),
], ids=["method", "untagged-image", "latest-image", "malformed-image", "port", "version"])
def test_bad_settings_fail_before_anything_changes(tmp_path, container, creds, override, expected):
    proc = _play(tmp_path, dict(_vars(tmp_path, container, "http://127.0.0.1:1", "x"), **override))
    assert proc.returncode != 0
    out = _out(proc)
    for text in expected:
        assert text in out, proc.stdout[-3000:]
    assert container_inspect(container) is None
    assert not (tmp_path / "provisioning").exists() and not (tmp_path / "data").exists()


def test_standin_refuses_to_start_on_an_unreadable_provisioning_file(tmp_path, container):
    """What makes the wiring checks above meaningful: uid 472 / gid 0 must be able to read every file."""
    datasources = tmp_path / "provisioning" / "datasources"
    datasources.mkdir(parents=True)
    (tmp_path / "provisioning").chmod(0o755)
    datasources.chmod(0o755)
    source = datasources / "loadops-k6.yml"
    source.write_text("apiVersion: 1\ndatasources:\n  - name: x\n    uid: x\n")
    source.chmod(0o600)  # root only: not even group 0
    proc = docker("run", "--name", container, "--network", "host",
                  "-e", "GF_SERVER_HTTP_PORT=%d" % services.free_port(),
                  "-v", "%s:/etc/grafana/provisioning:ro" % (tmp_path / "provisioning"), IMAGE)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot read provisioning file /etc/grafana/provisioning/datasources/loadops-k6.yml" in proc.stderr
    assert "Permission denied" in proc.stderr
