"""The demo target honours the API contract the k6 scenarios rely on, and its knobs work."""

from __future__ import annotations

import http.client
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import pytest

from services import free_port, need, run_playbook

DEMO_TARGET = Path(__file__).resolve().parents[2] / "roles" / "demo_target" / "files" / "loadops_demo_target.py"

EMAIL, PASSWORD = "demo@example.com", "demo-password"
PROTECTED_LISTS = ["/auth/me/teams/", "/api/tasks/", "/api/campaigns/", "/api/core/projects/",
                   "/api/assets/", "/api/budgets/"]
PAGES = ["/", "/login", "/tasks", "/campaigns", "/projects"]


class Reply:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes, elapsed: float) -> None:
        self.status, self.headers, self.body, self.elapsed = status, headers, body, elapsed

    def json(self) -> Any:
        return json.loads(self.body)


def call(base_url: str, method: str, path: str, *, json_body: Any = None, token: Optional[str] = None,
         host: Optional[str] = None, timeout: float = 10.0) -> Reply:
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1", "tests only talk to loopback"
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {}
    body = None
    if json_body is not None:
        body = json.dumps(json_body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:
        headers["Host"] = host
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, dict(resp.getheaders()), data, time.monotonic() - started)
    finally:
        conn.close()


def login(base_url: str, email: str = EMAIL, password: str = PASSWORD) -> Reply:
    return call(base_url, "POST", "/auth/login/", json_body={"email": email, "password": password})


def token_for(base_url: str) -> str:
    reply = login(base_url)
    assert reply.status == 200, reply.body
    return reply.json()["token"]


# --- contract ---------------------------------------------------------------------------------


def test_health_answers_ok_without_token(demo_target):
    reply = call(demo_target, "GET", "/health/")
    assert (reply.status, reply.body) == (200, b"OK")


def test_login_with_configured_credentials_returns_token(demo_target):
    reply = login(demo_target)
    assert reply.status == 200
    token = reply.json()["token"]
    assert isinstance(token, str) and len(token) > 20


@pytest.mark.parametrize("email,password", [(EMAIL, "wrong"), ("other@example.com", PASSWORD), ("", "")])
def test_login_with_wrong_credentials_is_401(demo_target, email, password):
    reply = login(demo_target, email, password)
    assert reply.status == 401
    assert "token" not in reply.json()


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"email": "demo@example.com"}'])
def test_login_with_malformed_body_is_400(demo_target, body):
    parts = urlsplit(demo_target)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/auth/login/", body=body, headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 400
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/auth/me/", *PROTECTED_LISTS])
def test_protected_endpoints_require_a_valid_bearer_token(demo_target, path):
    assert call(demo_target, "GET", path).status == 401
    assert call(demo_target, "GET", path, token="forged.token").status == 401
    token = token_for(demo_target)
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert call(demo_target, "GET", path, token=tampered).status == 401
    assert call(demo_target, "GET", path, token=token).status == 200


def test_me_returns_the_logged_in_user(demo_target):
    reply = call(demo_target, "GET", "/auth/me/", token=token_for(demo_target))
    assert reply.status == 200
    assert reply.json()["email"] == EMAIL


@pytest.mark.parametrize("path", PROTECTED_LISTS)
def test_reads_return_non_empty_json_lists(demo_target, path):
    reply = call(demo_target, "GET", path, token=token_for(demo_target))
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    data = reply.json()
    assert isinstance(data, list) and data


def test_create_task_returns_201_and_is_listed(demo_target):
    token = token_for(demo_target)
    reply = call(demo_target, "POST", "/api/tasks/", json_body={"title": "from pytest"}, token=token)
    assert reply.status == 201
    created = reply.json()
    assert created["title"] == "from pytest" and isinstance(created["id"], int)
    listed = call(demo_target, "GET", "/api/tasks/", token=token).json()
    assert listed[0] == created  # newest first


@pytest.mark.parametrize("payload", [{}, {"title": ""}, {"title": 3}, ["x"]])
def test_create_task_rejects_invalid_payload(demo_target, payload):
    token = token_for(demo_target)
    assert call(demo_target, "POST", "/api/tasks/", json_body=payload, token=token).status == 400


def test_create_task_requires_token(demo_target):
    assert call(demo_target, "POST", "/api/tasks/", json_body={"title": "x"}).status == 401


def test_task_store_is_capped(demo_target_factory):
    target = demo_target_factory("--max-tasks", "5")
    token = token_for(target.url)
    ids = [call(target.url, "POST", "/api/tasks/", json_body={"title": f"t{i}"}, token=token).json()["id"]
           for i in range(12)]
    listed = call(target.url, "GET", "/api/tasks/", token=token).json()
    assert [task["id"] for task in listed] == list(reversed(ids[-5:]))


@pytest.mark.parametrize("path", PAGES)
def test_pages_return_small_html(demo_target, path):
    reply = call(demo_target, "GET", path)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"<html" in reply.body and len(reply.body) < 4096


def test_unknown_path_is_404_and_wrong_method_is_405(demo_target):
    assert call(demo_target, "GET", "/api/nope/").status == 404
    reply = call(demo_target, "DELETE", "/api/tasks/", token=token_for(demo_target))
    assert reply.status == 405
    assert set(reply.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_keep_alive_serves_several_requests_on_one_connection(demo_target):
    parts = urlsplit(demo_target)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for _attempt in range(3):
            conn.request("GET", "/health/")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"OK")
    finally:
        conn.close()


# --- knobs ------------------------------------------------------------------------------------


def test_latency_flag_delays_only_that_endpoint(demo_target_factory):
    target = demo_target_factory("--latency", "/api/tasks/=300")
    token = token_for(target.url)
    slow = call(target.url, "GET", "/api/tasks/", token=token)
    fast = call(target.url, "GET", "/api/campaigns/", token=token)
    assert slow.status == 200 and slow.elapsed >= 0.3
    assert fast.status == 200 and fast.elapsed < 0.2


def test_knob_file_with_default_and_method_specific_entries(demo_target_factory, tmp_path):
    knobs = tmp_path / "knobs.json"
    knobs.write_text(json.dumps({
        "default": {"latency_ms": 0, "error_rate": 0},
        "/api/budgets/": {"latency_ms": 250},
        "POST /api/tasks/": {"error_rate": 1},
    }))
    target = demo_target_factory("--config", str(knobs))
    token = token_for(target.url)
    assert call(target.url, "GET", "/api/budgets/", token=token).elapsed >= 0.25
    assert call(target.url, "GET", "/api/tasks/", token=token).status == 200
    assert call(target.url, "POST", "/api/tasks/", json_body={"title": "x"}, token=token).status == 500


def test_cli_flags_override_the_knob_file(demo_target_factory, tmp_path):
    knobs = tmp_path / "knobs.json"
    knobs.write_text(json.dumps({"/api/assets/": {"error_rate": 1, "latency_ms": 200}}))
    target = demo_target_factory("--config", str(knobs), "--error-rate", "/api/assets/=0")
    reply = call(target.url, "GET", "/api/assets/", token=token_for(target.url))
    assert reply.status == 200 and reply.elapsed >= 0.2  # latency from the file kept


def test_error_rate_one_always_gives_500(demo_target_factory):
    target = demo_target_factory("--error-rate", "/api/assets/=1")
    token = token_for(target.url)
    assert {call(target.url, "GET", "/api/assets/", token=token).status for _i in range(10)} == {500}
    assert call(target.url, "GET", "/api/budgets/", token=token).status == 200


def test_default_error_rate_affects_every_endpoint(demo_target_factory):
    target = demo_target_factory("--error-rate", "default=1")
    assert call(target.url, "GET", "/health/").status == 500
    assert call(target.url, "GET", "/tasks").status == 500


def test_allowed_hosts_rejects_other_host_headers_with_400(demo_target_factory):
    target = demo_target_factory("--allowed-hosts", "localhost,.example.com")
    port = urlsplit(target.url).port
    assert call(target.url, "GET", "/health/").status == 400  # Host: 127.0.0.1:<port>
    assert call(target.url, "GET", "/health/", host="evil.test").status == 400
    assert call(target.url, "GET", "/health/", host=f"localhost:{port}").status == 200
    assert call(target.url, "GET", "/health/", host="example.com").status == 200
    assert call(target.url, "GET", "/health/", host="api.example.com").status == 200


def test_allow_all_hosts_by_default(demo_target):
    assert call(demo_target, "GET", "/health/", host="anything.invalid").status == 200


def test_credentials_come_from_env_and_flags_override_env(demo_target_factory):
    env = {**os.environ, "LOADOPS_DEMO_EMAIL": "env@example.com", "LOADOPS_DEMO_PASSWORD": "env-pw"}
    from_env = demo_target_factory(env=env)
    assert login(from_env.url, "env@example.com", "env-pw").status == 200
    assert login(from_env.url).status == 401
    from_flags = demo_target_factory("--email", "flag@example.com", "--password", "flag-pw", env=env)
    assert login(from_flags.url, "flag@example.com", "flag-pw").status == 200
    assert login(from_flags.url, "env@example.com", "env-pw").status == 401


@pytest.mark.parametrize("args,message", [
    (["--error-rate", "/api/tasks/=2"], "between 0 and 1"),
    (["--latency", "/api/tasks/=-5"], ">= 0"),
    (["--latency", "api/tasks=5"], "expected 'default'"),
    (["--latency", "/api/tasks/"], "PATH=VALUE"),
])
def test_invalid_knobs_exit_2_with_a_message(args, message):
    result = subprocess.run(check=False, args=[sys.executable, str(DEMO_TARGET), "--port", "0", *args],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert message in result.stderr


# --- process behaviour ------------------------------------------------------------------------


def test_quiet_by_default_and_sigterm_exits_cleanly(demo_target_factory):
    target = demo_target_factory()
    for path in ("/health/", "/", "/nope"):
        call(target.url, "GET", path)
    assert target.stop() == 0
    assert target.stderr() == ""


def test_verbose_logs_each_request(demo_target_factory):
    target = demo_target_factory("--verbose")
    call(target.url, "GET", "/health/")
    assert target.stop() == 0
    assert "GET /health/" in target.stderr()


# --- the role: the login never sits in a world-readable file ------------------------------------

ROLE_SECRET = "it's a \"demo\" \\ pa$$word"
ROLE_PLAYBOOK = """\
- name: The demo_target role on this machine
  hosts: load_generators
  gather_facts: false
  roles:
    - role: loadops.k6.demo_target
- name: The systemd unit it would write, rendered next to it
  hosts: load_generators
  gather_facts: false
  vars_files:
    - "{{ playbook_dir_repo }}/roles/demo_target/defaults/main.yml"
    - "{{ playbook_dir_repo }}/roles/demo_target/vars/main.yml"
  tasks:
    - name: Render the unit
      ansible.builtin.template:
        src: "{{ playbook_dir_repo }}/roles/demo_target/templates/loadops-demo-target.service.j2"
        dest: "{{ demo_target_install_dir }}/rendered.service"
        mode: "0644"
"""


@pytest.fixture
def role_host(tmp_path):
    """Runs the role here (no systemd: the init script path) and removes what it added. A demo
    target the README's demo installed here is stopped and set aside meanwhile, then put back."""
    need(os.geteuid() == 0 and shutil.which("start-stop-daemon") and not os.path.exists("/run/systemd/system"),
         "root, start-stop-daemon and no systemd as PID 1")
    installed = Path("/etc/init.d/loadops-demo-target")
    aside = Path(tempfile.mkdtemp(prefix="loadops-demo-aside-", dir="/var/tmp")) / "loadops-demo-target"
    was_running = False
    if installed.exists():
        was_running = subprocess.run([str(installed), "status"], capture_output=True, timeout=60, check=False).returncode == 0
        subprocess.run([str(installed), "stop"], capture_output=True, timeout=60, check=False)
        shutil.move(str(installed), str(aside))
    try:
        pwd.getpwnam("loadops-demo")
        user_existed = True
    except KeyError:
        user_existed = False
    install_dir = Path(tempfile.mkdtemp(prefix="loadops-demo-role-", dir="/var/tmp"))
    install_dir.chmod(0o755)
    playbook = tmp_path / "demo_target.yml"
    playbook.write_text(ROLE_PLAYBOOK)
    port = free_port()
    settings = {"demo_target_install_dir": str(install_dir / "app"), "demo_target_port": port,
                "demo_target_password": ROLE_SECRET, "demo_target_email": "role@example.net",
                "playbook_dir_repo": str(DEMO_TARGET.parents[3])}

    def run(**extra):
        return run_playbook(tmp_path, playbook, {**settings, **extra}, timeout=300)

    yield run, install_dir / "app", "http://127.0.0.1:%d" % port
    remove = tmp_path / "remove.yml"
    remove.write_text("- hosts: load_generators\n  gather_facts: false\n  roles:\n    - role: loadops.k6.demo_target\n")
    run_playbook(tmp_path, remove, {**settings, "demo_target_state": "absent"}, timeout=300)
    shutil.rmtree(install_dir, ignore_errors=True)
    if not user_existed:
        subprocess.run(["userdel", "loadops-demo"], check=False, capture_output=True, timeout=60)
    if aside.exists():
        shutil.move(str(aside), str(installed))
        if was_running:
            subprocess.run([str(installed), "start"], capture_output=True, timeout=60, check=False)
    shutil.rmtree(str(aside.parent), ignore_errors=True)


def test_the_role_keeps_the_login_in_a_root_only_file_and_the_service_reads_it(role_host):
    run, app_dir, url = role_host
    proc = run()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert ROLE_SECRET not in proc.stdout + proc.stderr

    init_script = Path("/etc/init.d/loadops-demo-target")
    env_file = app_dir / "demo-target.env"
    unit = app_dir / "rendered.service"
    for public in (init_script, unit):
        mode = stat.S_IMODE(public.stat().st_mode)
        assert mode & 0o004, "%s should stay world-readable (%o)" % (public, mode)
        text = public.read_text()
        assert "pa$$word" not in text and "role@example.net" not in text, public
        assert str(env_file) in text, public
    assert "EnvironmentFile=%s" % env_file in unit.read_text()
    info = env_file.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)

    # The service got the login from that file, quotes, backslash and dollars intact.
    assert login(url, "role@example.net", ROLE_SECRET).status == 200
    assert login(url).status == 401
    # ... and the command line of the running server does not carry it.
    pid = Path("/run/loadops-demo-target.pid").read_text().strip()
    assert "pa$$word" not in Path("/proc/%s/cmdline" % pid).read_bytes().decode(errors="replace")

    # A second run leaves the file alone (whole-role idempotence is Molecule's check).
    again = run()
    assert again.returncode == 0, again.stdout[-3000:]
    assert re.search(r"login to a root-only environment file\] \*+\nok: ", again.stdout), again.stdout[-3000:]
