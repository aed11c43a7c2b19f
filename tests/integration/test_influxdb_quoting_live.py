"""The influxdb role's InfluxQL statements against a real influxd (Debian's 1.6.7): user names and
passwords with quotes and backslashes are created, reset and granted correctly.

The role's own tasks (database.yml, user.yml) run through ansible-playbook against a private
influxd with authentication on (tests/integration/services.py); the passwords are then tried over
HTTP, the way k6 and Grafana log in.
"""
from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from services import INFLUXD, Influxd, need, recap, run_playbook

ADMIN_PASSWORD = "adm'in\\pass\"word"
K6_PASSWORD = "it's\\a\"test"
K6_NEW_PASSWORD = "new'\\'one\\n"
GRAFANA_USER = 'graf"ana\\reader'
GRAFANA_PASSWORD = "'; DROP DATABASE k6; --"

PLAYBOOK = """\
- name: The influxdb role's database and user tasks against a running influxd
  hosts: load_generators
  gather_facts: false
  tasks:
    - name: Database, admin and users
      ansible.builtin.include_role:
        name: loadops.k6.influxdb
        tasks_from: database.yml
"""


@pytest.fixture
def influxd(tmp_path):
    need(os.path.exists(INFLUXD), "Debian's influxd (%s) is not installed" % INFLUXD)
    server = Influxd(tmp_path / "influxd-data", auth=True)
    (tmp_path / "influxd-data").mkdir()
    server.start()
    yield server
    server.stop()


def _vars(influxd, k6_password):
    return {
        "influxdb_http_port": influxd.port, "influxdb_bind_address": "127.0.0.1", "influxdb_auth_enabled": True,
        "influxdb_database": "k6", "influxdb_retention": "1d",
        "influxdb_admin_user": "loadops_admin", "influxdb_admin_password": ADMIN_PASSWORD,
        "influxdb_k6_user": "k6_writer", "influxdb_k6_password": k6_password,
        "influxdb_grafana_user": GRAFANA_USER, "influxdb_grafana_password": GRAFANA_PASSWORD,
    }


def _status(influxd, path, user, password, data=None):
    """HTTP status of one request with Basic authentication (as k6 and Grafana send it)."""
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    request = urllib.request.Request(influxd.url + path, data=data, headers={"Authorization": "Basic " + token})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _query(path_q, db="k6"):
    return "/query?%s" % urllib.parse.urlencode({"db": db, "q": path_q})


def test_users_with_quotes_and_backslashes_are_created_reset_and_granted(tmp_path, influxd):
    playbook = tmp_path / "users.yml"
    playbook.write_text(PLAYBOOK)

    proc = run_playbook(tmp_path, playbook, _vars(influxd, K6_PASSWORD))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    for secret in (ADMIN_PASSWORD, K6_PASSWORD, GRAFANA_PASSWORD):
        assert secret not in proc.stdout + proc.stderr

    # Each user logs in with its password, byte for byte, and holds exactly its privilege.
    assert _status(influxd, _query("SHOW USERS"), "loadops_admin", ADMIN_PASSWORD) == 200
    assert _status(influxd, "/write?db=k6", "k6_writer", K6_PASSWORD, data=b"probe value=1") == 204
    assert _status(influxd, _query("SELECT count(value) FROM probe"), "k6_writer", K6_PASSWORD) == 403
    assert _status(influxd, _query("SELECT count(value) FROM probe"), GRAFANA_USER, GRAFANA_PASSWORD) == 200
    assert _status(influxd, "/write?db=k6", GRAFANA_USER, GRAFANA_PASSWORD, data=b"probe value=1") == 403
    # What the unescaped quoting would have set (the value cut at its first quote) does not log in.
    assert _status(influxd, "/write?db=k6", "k6_writer", "it", data=b"probe value=1") == 401
    users = influxd.query("SHOW USERS", user="loadops_admin", password=ADMIN_PASSWORD)
    assert sorted(row[0] for row in users["results"][0]["series"][0]["values"]) == sorted(
        ["loadops_admin", "k6_writer", GRAFANA_USER])
    databases = influxd.query("SHOW DATABASES", user="loadops_admin", password=ADMIN_PASSWORD)
    assert ["k6"] in databases["results"][0]["series"][0]["values"]

    # A second run changes nothing.
    again = run_playbook(tmp_path, playbook, _vars(influxd, K6_PASSWORD))
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]

    # A new password goes through SET PASSWORD FOR, escaped the same way.
    reset = run_playbook(tmp_path, playbook, _vars(influxd, K6_NEW_PASSWORD))
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-4000:]
    assert recap(reset)["changed"] == 1, reset.stdout[-3000:]
    assert _status(influxd, "/write?db=k6", "k6_writer", K6_NEW_PASSWORD, data=b"probe value=2") == 204
    assert _status(influxd, "/write?db=k6", "k6_writer", K6_PASSWORD, data=b"probe value=3") == 401
    rows = influxd.query("SELECT count(value) FROM probe", db="k6", user=GRAFANA_USER, password=GRAFANA_PASSWORD)
    assert rows["results"][0]["series"][0]["values"][0][1] == 2
