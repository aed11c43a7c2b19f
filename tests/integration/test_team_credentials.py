"""Team credentials (issue 14): the secret store is the inventory variable loadops_credentials_dir,
so a second controller that shares it runs against machines another controller provisioned.

Controller A (its own HOME and working directory) provisions a private influxd with
authentication on (Debian's 1.6.7 on free loopback ports, tests/integration/services.py) with the
influxdb role's database and user tasks, the generated passwords going to a shared store. Controller
B (another HOME, another working directory) then runs the smoke scenario with k6 writing to that
InfluxDB: with the shared store it passes and k6's points are there; with its own default store
the preflight refuses the write. Then the store is vault-encrypted (`ansible-vault encrypt`) and B
runs with --vault-password-file. Real ansible-playbook, ansible-vault, k6 and influxd; no container.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from services import AS_MODULE_USER, INFLUXD, REPO, VENV_BIN, Influxd, need

SECRETS = ("influxdb_admin", "influxdb_k6", "influxdb_grafana")
VAULT_PASSWORD = "team-vault-password-7"

PROVISION = """\
- name: The influxdb role's database and users (what provision.yml runs after installing InfluxDB)
  hosts: load_generators
  gather_facts: false
  tasks:
    - name: Database, admin, k6 writer and Grafana reader
      ansible.builtin.include_role:
        name: loadops.k6.influxdb
        tasks_from: database.yml
"""


class Controller:
    """One operator's controller: its own HOME (so its default store is HOME/.loadops/credentials)
    and working directory holding its inventory; the collection from this checkout's ansible.cfg."""

    def __init__(self, root: Path, store: str = "") -> None:
        self.home, self.cwd = root / "home", root / "work"
        self.home.mkdir(parents=True)
        self.cwd.mkdir(parents=True)
        self.set_store(store)

    def set_store(self, store: str) -> None:
        """The inventory; loadops_credentials_dir in its `all` vars when STORE is given."""
        text = ("load_generators:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
        if store:
            text += "all:\n  vars:\n    loadops_credentials_dir: %s\n" % json.dumps(store)
        (self.cwd / "hosts.yml").write_text(text)

    @property
    def default_store(self) -> Path:
        return self.home / ".loadops" / "credentials"

    def run(self, playbook, extra_vars: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        extra = self.cwd / "extra.json"
        extra.write_text(json.dumps(extra_vars))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "K6_")) and k != "LOADOPS_CREDENTIALS_DIR"}
        env.update(HOME=str(self.home), PATH="%s:%s" % (VENV_BIN, env.get("PATH", "")), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   # HOME is faked, root's passwd home is not: with become, Ansible writes async job
                   # files under ~root while async_status reads $HOME. One absolute place for both.
                   ANSIBLE_ASYNC_DIR=str(self.home / ".ansible_async"))
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", "hosts.yml", "-e", "@%s" % extra, *args],
            cwd=str(self.cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _out(proc):
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def _flat(text):
    return " ".join(text.split())


@pytest.fixture
def influxd(tmp_path):
    """A fresh influxd with authentication on and no user yet (what the influxdb role installs)."""
    need(os.path.isfile(INFLUXD) and os.access(INFLUXD, os.X_OK),
         "%s is missing (apt-get install influxdb; scripts/host-prereqs.sh does)" % INFLUXD)
    (tmp_path / "influxd").mkdir()
    server = Influxd(tmp_path / "influxd", auth=True)
    server.start()
    yield server
    server.stop()


def _provision_vars(influxd):
    return {"influxdb_http_port": influxd.port, "influxdb_bind_address": "127.0.0.1", "influxdb_auth_enabled": True,
            "influxdb_database": "k6", "influxdb_retention": "1d"}


def _smoke_vars(root: Path, influxd, target: str) -> dict:
    """Smoke at K6_TIME_SCALE=0.1 (3 s of load), k6's metrics to the provisioned InfluxDB as k6_writer
    with the password from the store; results under ROOT."""
    return {
        "scenario_run_scripts_dir": str(REPO / "k6" / "scripts"),
        "scenario_run_base_url": target,
        "scenario_run_influxdb_url": "http://127.0.0.1:%d/k6" % influxd.port,
        "scenario_run_env": {"K6_TIME_SCALE": "0.1"},
        "scenario_run_results_dir": str(root / "on-load-machine"),
        "scenario_run_controller_results_dir": str(root / "results"),
        "scenario_run_baseline_dir": str(root / "baselines"),
        "scenario_run_progress_interval": 5,
        **AS_MODULE_USER,
    }


def _testids(root: Path):
    results = root / "results"
    return sorted(p.name for p in results.iterdir() if p.is_dir()) if results.exists() else []


def _points(influxd, store: Path, testid: str) -> int:
    admin_password = _plain(store, "influxdb_admin")
    found = influxd.query("SELECT count(value) FROM http_reqs WHERE testid = '%s'" % testid, db="k6",
                          user="loadops_admin", password=admin_password)
    series = found["results"][0].get("series")
    return series[0]["values"][0][1] if series else 0


_PLAIN = {}


def _plain(store: Path, name: str) -> str:
    """A secret of the store as generated (remembered before the store is encrypted)."""
    path = store / "localhost" / name
    text = path.read_text()
    if not text.startswith("$ANSIBLE_VAULT"):
        _PLAIN[str(path)] = text.strip()
    return _PLAIN[str(path)]


def _vault(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return subprocess.run([str(VENV_BIN / "ansible-vault"), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_second_controller_with_the_team_store_runs_against_machines_another_controller_provisioned(
        tmp_path, influxd, demo_target):
    store = tmp_path / "team-store"
    playbook = tmp_path / "provision-influxdb.yml"
    playbook.write_text(PROVISION)
    smoke = REPO / "playbooks" / "smoke.yml"

    # Controller A provisions: the admin and users get passwords generated into the team store.
    a = Controller(tmp_path / "controller-a", store=str(store))
    proc = a.run(playbook, _provision_vars(influxd))
    assert proc.returncode == 0, _out(proc)
    for name in SECRETS:
        path = store / "localhost" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert _plain(store, name) not in proc.stdout + proc.stderr
    assert stat.S_IMODE((store / "localhost").stat().st_mode) == 0o700
    assert not a.default_store.exists()

    # Controller B with the same store: k6 logs in as k6_writer and its points land in InfluxDB.
    b = Controller(tmp_path / "controller-b", store=str(store))
    proc = b.run(smoke, _smoke_vars(b.cwd, influxd, demo_target))
    assert proc.returncode == 0, _out(proc)
    [testid] = _testids(b.cwd)
    assert _points(influxd, store, testid) > 10
    assert _plain(store, "influxdb_k6") not in proc.stdout + proc.stderr
    assert not b.default_store.exists()

    # B without the variable: its own default store, a new password, and the preflight refuses.
    b.set_store("")
    proc = b.run(smoke, _smoke_vars(b.cwd, influxd, demo_target))
    assert proc.returncode != 0
    assert "InfluxDB at http://127.0.0.1:%d refused the write (401)" % influxd.port in _flat(proc.stdout), _out(proc)
    assert (b.default_store / "localhost" / "influxdb_k6").is_file()
    assert len(_testids(b.cwd)) == 1  # nothing ran
    # ... and provisioning from it is refused with a message that names the variable.
    proc = b.run(playbook, _provision_vars(influxd))
    assert proc.returncode != 0
    assert "rejects loadops_admin" in _flat(proc.stdout) and "loadops_credentials_dir" in _flat(proc.stdout), _out(proc)

    # The team encrypts the store (to commit it); B runs with the vault password.
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    files = [str(store / "localhost" / name) for name in SECRETS]
    encrypted = _vault("encrypt", "--vault-password-file", str(password_file), *files)
    assert encrypted.returncode == 0, encrypted.stderr
    assert all(Path(f).read_text().startswith("$ANSIBLE_VAULT") for f in files)

    b.set_store(str(store))
    proc = b.run(smoke, _smoke_vars(b.cwd, influxd, demo_target))
    assert proc.returncode != 0
    flat = _flat(proc.stdout + proc.stderr)
    assert "credential file %s is vault-encrypted and no vault password was given" % files[1] in flat, _out(proc)
    assert "--vault-password-file" in flat
    assert len(_testids(b.cwd)) == 1

    proc = b.run(smoke, _smoke_vars(b.cwd, influxd, demo_target), "--vault-password-file", str(password_file))
    assert proc.returncode == 0, _out(proc)
    [second] = set(_testids(b.cwd)) - {testid}
    assert _points(influxd, store, second) > 10
    assert _plain(store, "influxdb_k6") not in proc.stdout + proc.stderr
    # The vaulted files were read, not replaced.
    assert all(Path(f).read_text().startswith("$ANSIBLE_VAULT") for f in files)
