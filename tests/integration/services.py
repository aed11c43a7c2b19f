"""Shared helpers for the integration tests: an influxd of our own and ansible-playbook runs.

- `Influxd`: Debian's influxd (1.6.7, /usr/bin/influxd) on free 127.0.0.1 ports with its own
  data directory, optionally with authentication on; started and stopped by its pid.
- `run_playbook`: ansible-playbook from the project's venv, the way an operator runs it, with an
  inventory of this machine (local connection) and extra vars from a JSON file.
- `recap`: the ok/changed/failed counts of one host from a PLAY RECAP.
- `need`: skip a test whose prerequisite is missing, except in CI (CI=true), where it fails.
- `docker`, `container_inspect`: the docker CLI, and one container's inspect data (None if absent).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
INFLUXD = "/usr/bin/influxd"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail("CI must run this test: " + reason)
        pytest.skip(reason)


def docker(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


def container_inspect(name: str) -> Optional[dict]:
    proc = docker("container", "inspect", name)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Influxd:
    """influxd on free loopback ports; `auth=True` turns authentication on (no user yet)."""

    def __init__(self, root: Path, auth: bool = False) -> None:
        self.root, self.auth = root, auth
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def start(self, attempts: int = 3) -> "Influxd":
        for _attempt in range(attempts):
            self.port, rpc_port = free_port(), free_port()
            conf = self.root / "influxdb.conf"
            conf.write_text(
                'reporting-enabled = false\nbind-address = "127.0.0.1:%d"\n[meta]\n  dir = "%s"\n'
                '[data]\n  dir = "%s"\n  wal-dir = "%s"\n  query-log-enabled = false\n'
                '[http]\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n  max-body-size = 0\n'
                '  auth-enabled = %s\n[monitor]\n  store-enabled = false\n[logging]\n  level = "warn"\n'
                % (rpc_port, self.root / "meta", self.root / "data", self.root / "wal", self.port,
                   "true" if self.auth else "false"))
            self.log = open(self.root / "influxd.log", "ab")
            self.proc = subprocess.Popen([INFLUXD, "-config", str(conf)], stdout=self.log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_ping(20.0):
                return self
            self.stop()  # lost a port race or failed: try new ports
        raise RuntimeError("influxd did not start: %s" % (self.root / "influxd.log").read_text()[-3000:])

    def _wait_ping(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen("%s/ping" % self.url, timeout=2) as resp:
                    if resp.status == 204 and resp.headers.get("X-Influxdb-Version"):
                        return True
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        if self.proc:
            self.log.close()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def query(self, q: str, db: str = "", user: str = "", password: str = "", epoch: str = "") -> dict:
        """GET for reads, POST for statements that change something (InfluxDB 1.x insists)."""
        params = {"q": q}
        params.update({k: v for k, v in (("db", db), ("epoch", epoch), ("u", user), ("p", password)) if v})
        data = None
        if q.lstrip().upper().startswith(("CREATE", "GRANT", "REVOKE", "DROP", "ALTER", "SET")):
            data, params = urllib.parse.urlencode({"q": q}).encode(), {k: v for k, v in params.items() if k != "q"}
        with urllib.request.urlopen("%s/query?%s" % (self.url, urllib.parse.urlencode(params)),
                                    data=data, timeout=30) as resp:
            return json.loads(resp.read().decode())


def run_playbook(tmp_path: Path, playbook, extra_vars: Optional[dict] = None, *args: str,
                 host_vars: Optional[dict] = None, group: str = "load_generators",
                 inventory_text: Optional[str] = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """ansible-playbook PLAYBOOK against this machine (local connection), from the repo root.

    PLAYBOOK is a path, or a name under playbooks/. Extra vars go through a JSON file, host vars
    into the inventory; ANSIBLE_* and K6_* from the caller's environment are dropped.
    """
    playbook = Path(playbook)
    if not playbook.is_absolute() and not (REPO / playbook).exists():
        playbook = REPO / "playbooks" / playbook
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(inventory_text or (
        "%s:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n" % group
        + "".join("      %s: %s\n" % (key, json.dumps(value)) for key, value in (host_vars or {}).items())))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(extra_vars or {}))
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K6_"))}
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory), "-e", "@%s" % extra, *args],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def recap(proc: subprocess.CompletedProcess, host: str = "localhost") -> Dict[str, int]:
    """{'ok': n, 'changed': n, 'unreachable': n, 'failed': n, ...} for HOST from the PLAY RECAP."""
    match = re.search(r"^%s\s*:\s*(.+)$" % re.escape(host), proc.stdout.split("PLAY RECAP")[-1], re.M)
    assert match, "no PLAY RECAP line for %s:\n%s" % (host, (proc.stdout + proc.stderr)[-3000:])
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


# Playbook tests about other behaviour run k6 as the module's user: the test machine is not
# provisioned (no loadops-k6 user) and pytest's temporary directories are root's alone. The
# default, unprivileged path is run by test_private_results.py (a playbook), test_k6_run_security.py
# (the module), Molecule's verify and the README's demo.
AS_MODULE_USER = {"scenario_run_user": ""}
