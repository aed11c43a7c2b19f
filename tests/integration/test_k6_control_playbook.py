"""k6_control through ansible-playbook against real k6 processes (v1.1.0) on the loopback: the fleet
start - two k6 started with --paused --no-setup, setup() run once on the first, its data handed to
the second, both resumed at one moment - and the failures: k6 that dies during its init, an address
that is not the loopback.

The test starts every k6 itself (its REST API bound to 127.0.0.1 only; the scripts do no network
traffic) and kills each by its pid at the end. Two inventory hosts, both this machine over the
local connection, stand for two load machines so that their tasks run in parallel as in a fleet.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest

from conftest import find_free_port
from services import recap, run_playbook

FLEET_SCRIPT = """\
export const options = { vus: 1, iterations: 3 };
export function setup() {
  console.log('SETUP-RAN');
  return { token: 'abc', n: 42 };
}
export default function (data) {
  console.log('SETUP-DATA ' + JSON.stringify(data));
}
"""
BROKEN_SCRIPT = """\
export const options = { vus: 1, iterations: 1 };
throw new Error('boom at init');
export default function () {}
"""


def _start_k6(k6_bin, k6_env, script, port, log):
    return subprocess.Popen([k6_bin, "run", "--paused", "--no-setup", "--address", "127.0.0.1:%d" % port,
                             "--quiet", "--no-summary", str(script)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=k6_env)


def _kill(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _inventory(hosts):
    lines = ["all:", "  hosts:"]
    for name, variables in hosts.items():
        lines += ["    %s:" % name, "      ansible_connection: local",
                  "      ansible_python_interpreter: '{{ ansible_playbook_python }}'"]
        lines += ["      %s: %s" % (key, json.dumps(value)) for key, value in variables.items()]
    return "\n".join(lines) + "\n"


def _task(name, args, register, **extra):
    return dict({"name": name, "loadops.k6.k6_control": args, "register": register}, **extra)


def _dump(cases_dir, names, **expressions):
    content = "{{ {%s} | to_nice_json }}" % ", ".join(
        ["'%s': (%s | default({})), '%s_failed': (%s is failed)" % (n, n, n, n) for n in names]
        + ["'%s': (%s)" % item for item in expressions.items()])
    return {"name": "dump", "ansible.builtin.copy": {"dest": "%s/{{ inventory_hostname }}.json" % cases_dir,
                                                     "content": content, "mode": "0600"}}


def _play(tasks):
    return [{"name": "k6_control", "hosts": "all", "gather_facts": False, "tasks": tasks}]


def test_two_k6_start_in_sync_with_setup_run_once_and_its_data_on_both(tmp_path, k6_bin, k6_env):
    script = tmp_path / "fleet.js"
    script.write_text(FLEET_SCRIPT)
    cases = tmp_path / "cases"
    cases.mkdir()
    ports = {"lg1": find_free_port(), "lg2": find_free_port()}
    logs = {name: open(tmp_path / ("%s.log" % name), "w+") for name in ports}
    leases = {name: tmp_path / ("%s.lease" % name) for name in ports}
    leases["lg1"].write_text("1\n")
    os.utime(leases["lg1"], (1000.0, 1000.0))
    procs = {}
    try:
        for name, port in ports.items():
            procs[name] = _start_k6(k6_bin, k6_env, script, port, logs[name])
        tasks = [
            _task("wait until paused", {"api_address": "{{ k6_api }}", "action": "wait_paused", "timeout": 30}, "r_wait"),
            _task("setup once", {"api_address": "{{ k6_api }}", "action": "setup"}, "r_setup",
                  no_log=True, when="inventory_hostname == 'lg1'"),
            _task("hand the data on", {"api_address": "{{ k6_api }}", "action": "put_setup",
                                       "data": "{{ hostvars['lg1'].r_setup.data }}"}, "r_put",
                  no_log=True, when="inventory_hostname == 'lg2'"),
            {"name": "start in 2 s", "ansible.builtin.set_fact": {"_at": "{{ now().timestamp() + 2 }}"},
             "when": "inventory_hostname == 'lg1'"},
            # lg1's lease is renewed while its resume waits for the instant; lg2's is absent and stays so.
            _task("resume together", {"api_address": "{{ k6_api }}", "action": "resume", "lease_file": "{{ lease }}",
                                      "at": "{{ hostvars['lg1']._at }}"}, "r_resume"),
            _dump(cases, ["r_wait", "r_setup", "r_put", "r_resume"], at="hostvars['lg1']._at | float"),
        ]
        playbook = tmp_path / "fleet.yml"
        playbook.write_text(json.dumps(_play(tasks)))
        proc = run_playbook(tmp_path, playbook, {}, timeout=60, inventory_text=_inventory(
            {name: {"k6_api": "127.0.0.1:%d" % port, "lease": str(leases[name])} for name, port in ports.items()}))
        output = proc.stdout[-6000:] + proc.stderr[-3000:]
        assert recap(proc, "lg1")["failed"] == 0 and recap(proc, "lg2")["failed"] == 0, output
        rcs = {name: p.wait(timeout=20) for name, p in procs.items()}
        k6_out = {}
        for name, log in logs.items():
            log.seek(0)
            k6_out[name] = log.read()
    finally:
        _kill(procs.values())
        for log in logs.values():
            log.close()
    results = {name: json.loads((cases / ("%s.json" % name)).read_text()) for name in ports}
    assert rcs == {"lg1": 0, "lg2": 0}, k6_out
    for name in ports:
        assert results[name]["r_wait"]["status"] == 4 and results[name]["r_wait"]["status_name"] == "PausedBeforeRun"
        resume = results[name]["r_resume"]
        assert resume["changed"] is True
        assert abs(resume["resumed_at"] - results[name]["at"]) < 0.05, resume
        assert 0 <= resume["late_ms"] < 50, resume
        # VUs got the setup data from the first k6 (run there) and the second (handed over)
        assert k6_out[name].count('SETUP-DATA {\\"n\\":42,\\"token\\":\\"abc\\"}') + \
            k6_out[name].count('SETUP-DATA {\\"token\\":\\"abc\\",\\"n\\":42}') == 3, k6_out[name]
    assert results["lg1"]["r_setup"]["data"] == {"token": "abc", "n": 42}
    assert results["lg2"]["r_put"]["data"] == {"token": "abc", "n": 42}
    assert "SETUP-RAN" in k6_out["lg1"] and "SETUP-RAN" not in k6_out["lg2"], k6_out
    assert abs(results["lg1"]["r_resume"]["resumed_at"] - results["lg2"]["r_resume"]["resumed_at"]) < 0.05
    # renewed up to the resume (at least once during the 2 s wait), never created
    assert os.stat(leases["lg1"]).st_mtime >= results["lg1"]["at"] - 1.5
    assert not leases["lg2"].exists()


def _finish_job_when(proc, job_file):
    """Stand in for async_wrapper + k6_run: when k6 exits, write the module's result into the job file."""
    job_file.write_text(json.dumps({"started": 1, "finished": 0, "ansible_job_id": job_file.name}))

    def watch():
        rc = proc.wait()
        job_file.write_text(json.dumps({"failed": True, "rc": rc, "verdict": "script_error",
                                        "msg": "k6 exited with %d: boom at init" % rc,
                                        "invocation": {"module_args": {"env": {"TOKEN": "do-not-show"}}}}))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_k6_that_dies_during_init_fails_wait_paused_at_once_and_a_remote_address_is_refused(tmp_path, k6_bin, k6_env):
    script = tmp_path / "broken.js"
    script.write_text(BROKEN_SCRIPT)
    cases = tmp_path / "cases"
    cases.mkdir()
    jobs = tmp_path / "async"
    jobs.mkdir()
    log = open(tmp_path / "k6.log", "w+")
    k6 = _start_k6(k6_bin, k6_env, script, find_free_port(), log)
    try:
        address = k6.args[k6.args.index("--address") + 1]
        _finish_job_when(k6, jobs / "j42.1")
        tasks = [
            _task("wait until paused", {"api_address": address, "action": "wait_paused", "timeout": 50,
                                        "jid": "j42.1", "async_dir": str(jobs)}, "r_wait", ignore_errors=True),
            _task("remote address", {"api_address": "192.0.2.10:6565", "action": "status"}, "r_remote",
                  ignore_errors=True),
            _dump(cases, ["r_wait", "r_remote"]),
        ]
        playbook = tmp_path / "broken.yml"
        playbook.write_text(json.dumps(_play(tasks)))
        started = time.monotonic()
        proc = run_playbook(tmp_path, playbook, {}, timeout=60, inventory_text=_inventory({"lg1": {}}))
        elapsed = time.monotonic() - started
    finally:
        _kill([k6])
        log.close()
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert recap(proc, "lg1")["failed"] == 0, output
    result = json.loads((cases / "lg1.json").read_text())
    wait = result["r_wait"]
    assert result["r_wait_failed"] is True, wait
    assert wait["msg"].startswith("k6 ended before it was ready: k6 exited with "), wait["msg"]
    assert set(wait["job_result"]) == {"msg", "verdict"} and wait["job_result"]["verdict"] == "script_error"
    assert "do-not-show" not in json.dumps(wait)
    assert elapsed < 30, "wait_paused waited for its timeout instead of failing when the job ended"
    remote = result["r_remote"]
    assert result["r_remote_failed"] is True
    assert "'192.0.2.10:6565'" in remote["msg"] and "loopback" in remote["msg"], remote["msg"]


@pytest.fixture(autouse=True)
def _bounded(request):
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 45, "%s took too long" % request.node.name
