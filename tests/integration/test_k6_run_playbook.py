"""k6_run through ansible-playbook, the way an operator uses it: rules that Ansible adds on top of
the module (a non-zero `rc` without a `failed` key fails the task, ...) only show up here.

One playbook (module-scoped fixture) runs every case on this machine (local connection); each
task registers the module's result with `ignore_errors: true`, and the next task dumps it, with
Ansible's own `is failed` verdict, to <cases>/<name>.json. Each test then reads one case.

Scripts do no HTTP at all (thresholds cross on k6's `iterations` counter); k6's REST API is only
ever asked to bind 127.0.0.1. Every run is bounded to a few seconds.
"""
from __future__ import annotations

import json
import socket

import pytest

from services import recap, run_playbook

# vus set explicitly: the threshold cases must not depend on the VU defaulting fix.
CROSSING_SCRIPT = """\
export const options = {
  vus: 1,
  iterations: 3,
  thresholds: { iterations: ['count>1000'] },
};
export default function () {}
"""
OK_SCRIPT = """\
export const options = { vus: 1, iterations: 1 };
export default function () {}
"""
DURATION_ONLY_SCRIPT = """\
import { sleep } from 'k6';
export const options = { duration: '2s' };
export default function () { sleep(0.5); }
"""
ITERATIONS_ONLY_SCRIPT = """\
export const options = { iterations: 3 };
export default function () {}
"""
MALFORMED_API_ADDRESSES = {"api_bogus": "bogus", "api_port_out_of_range": "127.0.0.1:99999"}


def _case(name, script, results_dir, cases_dir, check_mode=False, **args):
    module_args = dict(script=str(script), limiter="none", html_report=False, timeout=60,
                       results_dir=str(results_dir), **args)
    task = {
        "name": "case %s" % name,
        "loadops.k6.k6_run": module_args,
        "register": "r_%s" % name,
        "ignore_errors": True,
    }
    if check_mode:
        task["check_mode"] = True
    dump = {
        "name": "dump case %s" % name,
        "ansible.builtin.copy": {
            "dest": str(cases_dir / ("%s.json" % name)),
            "content": "{{ {'ansible_failed': (r_%s is failed), 'result': r_%s} | to_nice_json }}" % (name, name),
            "mode": "0600",
        },
    }
    return [task, dump]


@pytest.fixture(scope="module")
def cases(tmp_path_factory, k6_bin):
    """Run the playbook once; return a loader: name -> (ansible_failed, result, results_dir)."""
    root = tmp_path_factory.mktemp("k6_run_playbook")
    scripts, cases_dir = root / "scripts", root / "cases"
    scripts.mkdir()
    cases_dir.mkdir()
    files = {}
    for name, text in (("crossing", CROSSING_SCRIPT), ("ok", OK_SCRIPT),
                       ("duration_only", DURATION_ONLY_SCRIPT), ("iterations_only", ITERATIONS_ONLY_SCRIPT)):
        files[name] = scripts / ("%s.js" % name)
        files[name].write_text(text)

    def results(name):
        return root / "results" / name

    # a port we hold with a listening socket for the whole playbook run: k6 cannot bind it
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = "127.0.0.1:%d" % holder.getsockname()[1]
    common = {"k6_path": k6_bin}
    tasks = []
    tasks += _case("thresholds_not_fatal", files["crossing"], results("thresholds_not_fatal"), cases_dir,
                   fail_on_thresholds=False, **common)
    tasks += _case("thresholds_fatal", files["crossing"], results("thresholds_fatal"), cases_dir, **common)
    tasks += _case("duration_only", files["duration_only"], results("duration_only"), cases_dir, **common)
    tasks += _case("iterations_only", files["iterations_only"], results("iterations_only"), cases_dir, **common)
    tasks += _case("duration_only_check", files["duration_only"], results("duration_only_check"), cases_dir,
                   check_mode=True, **common)
    tasks += _case("iterations_only_check", files["iterations_only"], results("iterations_only_check"), cases_dir,
                   check_mode=True, **common)
    tasks += _case("api_busy", files["ok"], results("api_busy"), cases_dir, api_address=busy, **common)
    for name, value in MALFORMED_API_ADDRESSES.items():
        tasks += _case(name, files["ok"], results(name), cases_dir, api_address=value, **common)
    playbook = root / "k6_run_cases.yml"
    playbook.write_text(json.dumps([{
        "name": "k6_run cases through ansible-playbook",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": tasks,
    }], indent=2))  # JSON is YAML
    try:
        proc = run_playbook(root, playbook, {}, group="all", timeout=240)
    finally:
        holder.close()
    output = (proc.stdout[-6000:] + proc.stderr[-3000:])
    assert recap(proc)["failed"] == 0, "the playbook itself failed (not a module task):\n" + output

    def load(name):
        path = cases_dir / ("%s.json" % name)
        assert path.exists(), "case %s was not dumped:\n%s" % (name, output)
        data = json.loads(path.read_text())
        msg = str(data["result"].get("msg", ""))
        # the engine's own "internal error", or Ansible's words for an unhandled exception in the module
        if any(crash in msg for crash in ("internal error", "Module failed:", "MODULE FAILURE")):
            pytest.fail("case %s: the module crashed, not the behaviour under test: %s" % (name, msg))
        return data["ansible_failed"], data["result"], results(name)

    load.busy_address = busy
    return load


def _flat(text):
    return " ".join(str(text).split())


def test_fail_on_thresholds_false_keeps_the_task_ok_through_ansible(cases):
    failed, result, _unused = cases("thresholds_not_fatal")
    summary = {k: result.get(k) for k in ("verdict", "rc", "failed", "msg")}
    assert result.get("verdict") == "thresholds_failed", summary
    assert result.get("rc") == 99, summary
    assert failed is False and result.get("failed") is False, \
        "Ansible failed the task although fail_on_thresholds is false: %s" % summary


def test_fail_on_thresholds_default_fails_the_task_with_the_verdict_through_ansible(cases):
    failed, result, _unused = cases("thresholds_fatal")
    summary = {k: result.get(k) for k in ("verdict", "rc", "failed", "msg")}
    assert failed is True and result.get("failed") is True, summary
    assert result.get("verdict") == "thresholds_failed", summary
    assert result.get("rc") == 99, summary


@pytest.mark.parametrize("case", ["duration_only", "iterations_only"])
def test_script_with_only_duration_or_only_iterations_runs_with_one_vu_through_ansible(cases, case):
    failed, result, _unused = cases(case)
    summary = {k: result.get(k) for k in ("verdict", "rc", "failed", "msg")}
    assert failed is False and result.get("verdict") == "passed", summary
    assert result.get("rc") == 0, summary


@pytest.mark.parametrize("case", ["duration_only_check", "iterations_only_check"])
def test_check_mode_plans_one_vu_for_a_script_with_only_duration_or_only_iterations(cases, case):
    failed, result, _unused = cases(case)
    summary = {k: result.get(k) for k in ("verdict", "failed", "msg", "requirements")}
    assert failed is False, summary
    assert (result.get("requirements") or {}).get("max_vus") == 1, summary


def test_api_address_k6_cannot_bind_fails_naming_the_option_and_the_address(cases):
    failed, result, _unused = cases("api_busy")
    msg = _flat(result.get("msg", ""))
    summary = {k: result.get(k) for k in ("verdict", "rc", "failed", "msg")}
    assert failed is True, summary
    assert "api_address" in msg and cases.busy_address in msg, summary
    assert result.get("verdict") == "config_error", summary


@pytest.mark.parametrize("case", sorted(MALFORMED_API_ADDRESSES))
def test_malformed_api_address_is_refused_before_k6_starts_and_leaves_nothing(cases, case):
    failed, result, results_dir = cases(case)
    value = MALFORMED_API_ADDRESSES[case]
    msg = _flat(result.get("msg", ""))
    summary = {k: result.get(k) for k in ("verdict", "rc", "failed", "msg", "cmd")}
    assert failed is True, summary
    assert "api_address" in msg and value in msg, summary
    assert "host:port" in msg.lower() and any(off in msg for off in ("''", '""', "empty")), \
        "the message must give the expected form (host:port, or '' to turn the API off): %s" % summary
    leftovers = sorted(p.name for p in results_dir.iterdir()) if results_dir.exists() else []
    assert leftovers == [], "run directories left under results_dir: %s (%s)" % (leftovers, summary)
