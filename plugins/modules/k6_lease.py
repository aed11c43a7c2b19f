#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: k6_lease
short_description: Renew the controller's lease on a k6 run and report whether its async job finished
version_added: 0.1.0
description:
  - M(loadops.k6.k6_run) started with O(loadops.k6.k6_run#module:lease_file) stops k6 (verdict
    C(interrupted)) when that file is older than O(loadops.k6.k6_run#module:lease_ttl) seconds or
    gone. The controller keeps the run alive by calling this module every few seconds; when the
    controller goes away (Ctrl-C, a cancelled CI job, a killed C(ansible-playbook)) the renewals
    stop and the run ends within about the lease's time to live.
  - Renewing sets the lease file's modification time to now. A missing lease is never created -
    it means the run has ended (the module removes its lease) or someone stopped it
    (C(playbooks/stop.yml) removes the leases).
  - With O(jid), also reads the status file of that async job the way C(ansible.builtin.async_status)
    does and returns C(finished), so that one task both renews and polls. The job's result itself
    is left to C(ansible.builtin.async_status).
  - Renewing a lease is not a change of the machine's state; renewing never reports C(changed).
  - With O(state=expired) it stops runs instead - C(playbooks/stop.yml) - removing the lease O(path)
    (or every lease in the directory O(path)) so that each M(loadops.k6.k6_run) stops its k6 (verdict
    C(interrupted)), collects and cleans up; then it waits up to O(wait) seconds for those modules and
    for every k6 whose command line names the results directory (the leases directory's parent) to
    end, and stops (SIGTERM, then SIGKILL after 5 s) any such k6 still running after that.
author:
  - loadops.k6 developers (@loadops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the job's status and the lease's age without renewing it.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
options:
  path:
    description:
      - The lease file to renew, the O(loadops.k6.k6_run#module:lease_file) of the run.
      - Not created when it does not exist; RV(renewed) is then false.
      - With O(state=expired), a lease file or a directory of lease files
        (C(<results_dir>/.leases) of the C(loadops.k6.scenario_run) role).
    type: path
  state:
    description:
      - V(renewed) sets the lease's modification time to now.
      - V(expired) removes the lease(s) and waits for their runs to end (see the description).
    type: str
    choices: [renewed, expired]
    default: renewed
  wait:
    description:
      - With O(state=expired), seconds to wait for the runs to end before stopping what is left of their k6.
      - M(loadops.k6.k6_run) gives k6 30 s to stop after SIGTERM; wait longer than that.
    type: float
    default: 60
  jid:
    description:
      - Id of the async job that runs M(loadops.k6.k6_run) (C(ansible_job_id) of the task started
        with C(async) and C(poll=0)).
    type: str
  async_dir:
    description:
      - Directory of Ansible's async job status files on this host, where O(jid) is looked up.
      - The task that started the job returns its status file as C(results_file); its directory is
        the safest value. Otherwise the C(async_dir) shell option (E(ANSIBLE_ASYNC_DIR)), by default
        V(~/.ansible_async).
    type: path
    default: ~/.ansible_async
  live_file:
    description:
      - A run's C(reduction.live.json) (M(loadops.k6.k6_run) with O(loadops.k6.k6_run#module:live_interval)),
        returned parsed as RV(live) in the same call, so that one task renews, polls and reads the samples
        so far. A missing or unreadable file (not written yet, or the run has ended) gives null.
    type: path
notes:
  - Give at least one of O(path) and O(jid); O(state=expired) needs O(path).
  - O(state=expired) reads C(/proc) to find the runs' processes (Linux load machines).
seealso:
  - module: loadops.k6.k6_run
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Start k6 with a lease
  loadops.k6.k6_run:
    script: /opt/loadops/k6/scripts/scenarios/load.js
    lease_file: /var/lib/loadops/results/.leases/load-1
    lease_ttl: 10
  async: 1500
  poll: 0
  register: job

- name: Keep the lease while k6 runs (k6 stops about 10 s after the controller goes away)
  loadops.k6.k6_lease:
    path: /var/lib/loadops/results/.leases/load-1
    jid: "{{ job.ansible_job_id }}"
    async_dir: "{{ job.results_file | dirname }}"
  register: lease
  until: lease is finished
  retries: 750
  delay: 2

- name: Read the run's result
  ansible.builtin.async_status:
    jid: "{{ job.ansible_job_id }}"
  register: result

- name: Stop every run whose lease is in this directory, and wait until they have ended
  loadops.k6.k6_lease:
    path: /var/lib/loadops/results/.leases
    state: expired
    wait: 60
  register: stopped
"""

RETURN = r"""
renewed:
  description: Whether the lease existed and its modification time was set to now (false in check mode).
  returned: always
  type: bool
  sample: true
lease_age_s:
  description: Seconds since the lease was last renewed, read before this renewal; null when there is no lease.
  returned: always
  type: float
  sample: 2.4
ansible_job_id:
  description: The async job's id, as given in O(jid).
  returned: when O(jid) is given
  type: str
  sample: j646373524174.20321
job_found:
  description:
    - Whether the job's status file exists. A job whose file is gone (cleaned up, or a wrong
      O(async_dir)) counts as finished, so that a wait on it ends.
  returned: always
  type: bool
  sample: true
started:
  description: Whether the job started; true when O(jid) is given, as C(ansible.builtin.async_status) says.
  returned: always
  type: bool
  sample: true
finished:
  description: Whether the job has ended (its status file holds its result, or is gone); false without O(jid).
  returned: always
  type: bool
  sample: false
verdict:
  description:
    - The verdict in the finished job's result (M(loadops.k6.k6_run)'s), or null when it has none; a
      fleet run stops its other machines when one ends early with a verdict other than C(passed) or
      C(thresholds_failed).
  returned: when O(jid) is given and the job has finished with its status file in place
  type: str
  sample: interrupted
live:
  description:
    - The parsed O(live_file) (the exact reduction of the run's samples so far, see
      M(loadops.k6.k6_merge)'s O(loadops.k6.k6_merge#module:live)), or null when there is none to read.
  returned: when O(live_file) is given
  type: dict
  sample: {"format": "loadops.k6/reduction", "version": 1, "live": true, "samples": 1200, "series": []}
results_file:
  description: The job's status file.
  returned: when O(jid) is given
  type: str
  sample: /root/.ansible_async/j646373524174.20321
stopped:
  description:
    - With O(state=expired), one entry per lease removed - C(testid) (the lease's name), C(pid) of the
      M(loadops.k6.k6_run) module that held it (null if the lease did not say) and C(ended), whether
      that module has ended.
  returned: when O(state=expired)
  type: list
  elements: dict
  sample: [{"testid": "load-20261201T101500Z-1234", "pid": 4242, "ended": true}]
killed:
  description: With O(state=expired), pids of k6 processes of these runs still running after O(wait) and then stopped.
  returned: when O(state=expired)
  type: list
  elements: int
  sample: []
remaining:
  description: With O(state=expired), pids of modules or k6 processes of these runs that still run at the end (the task then fails).
  returned: when O(state=expired)
  type: list
  elements: int
  sample: []
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.loadops.k6.plugins.module_utils.k6_jobs import read_job, read_json_object, renew_lease


def job_status(async_dir, jid):
    """The async job's state, read as ansible.builtin.async_status reads it."""
    results_file, found, finished, result = read_job(async_dir, jid)
    status = {"ansible_job_id": jid, "results_file": results_file, "started": True, "job_found": found,
              "finished": finished}
    if found and finished:
        status["verdict"] = result.get("verdict")
    return status


def lease_files(path):
    """The lease file PATH, or the regular files in the directory PATH (sorted); [] when absent."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, name) for name in os.listdir(path)
                      if os.path.isfile(os.path.join(path, name)) and not os.path.islink(os.path.join(path, name)))
    return [path] if os.path.isfile(path) else []


def lease_pid(path):
    """The pid k6_run wrote in its lease (first line), or None."""
    try:
        with open(path) as handle:
            return int(handle.readline().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return [arg.decode("utf-8", "replace") for arg in handle.read().split(b"\0") if arg]
    except OSError:
        return None


def module_running(pid):
    """Whether PID is still a running k6_run module (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    argv = _cmdline(pid)
    if argv is None:  # no /proc to ask, or it just ended
        return os.path.exists("/proc/%d" % pid) or not os.path.isdir("/proc")
    return any("k6_run" in arg for arg in argv)


def k6_processes(results_dir, proc="/proc"):
    """Pids of k6 processes whose command line names a file under RESULTS_DIR (its runs' artifacts)."""
    prefix = results_dir.rstrip("/") + "/"
    found = []
    try:
        names = os.listdir(proc)
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(os.path.join(proc, name, "cmdline"), "rb") as handle:
                argv = [a.decode("utf-8", "replace") for a in handle.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "k6" and any(a.startswith(prefix) or ("=" + prefix) in a for a in argv):
            found.append(int(name))
    return sorted(found)


def expire(path, wait, check_mode=False, running=module_running, find_k6=k6_processes,
           kill=os.kill, clock=time.monotonic, sleep=time.sleep):
    """Remove the lease(s), wait for their modules and k6 to end, stop leftover k6. -> result dict."""
    leases = lease_files(path)
    # PATH is <results_dir>/.leases, or one lease in it.
    leases_dir = os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else os.path.abspath(path)
    results_dir = os.path.dirname(leases_dir)
    runs = [{"testid": os.path.basename(lease_path), "pid": lease_pid(lease_path), "ended": False} for lease_path in leases]
    result = {"changed": bool(leases), "stopped": runs, "killed": [], "remaining": []}
    if check_mode:
        return result
    for lease_path in leases:
        try:
            os.unlink(lease_path)
        except FileNotFoundError:
            pass  # the run ended meanwhile
    deadline = clock() + max(0.0, float(wait))
    while True:
        for run in runs:
            run["ended"] = run["ended"] or run["pid"] is None or not running(run["pid"])
        k6 = find_k6(results_dir)
        if (all(run["ended"] for run in runs) and not k6) or clock() >= deadline:
            break
        sleep(0.5)
    if k6:
        result["changed"] = True
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for pid in k6:
                try:
                    kill(pid, sig)
                except ProcessLookupError:
                    pass
            result["killed"] = sorted(set(result["killed"]) | set(k6))
            until = clock() + grace
            while k6 and clock() < until:
                sleep(0.2)
                k6 = find_k6(results_dir)
            if not k6:
                break
    for run in runs:
        run["ended"] = run["ended"] or run["pid"] is None or not running(run["pid"])
    result["remaining"] = sorted(set(k6) | {run["pid"] for run in runs if not run["ended"]})
    return result


def lease(params, check_mode=False, now=None):
    result = {"changed": False, "renewed": False, "lease_age_s": None,
              "job_found": False, "started": False, "finished": False}
    if params.get("path"):
        result["renewed"], result["lease_age_s"] = renew_lease(params["path"], check_mode=check_mode, now=now)
    if params.get("jid"):
        result.update(job_status(params["async_dir"], params["jid"]))
    if params.get("live_file"):
        # None when not written yet, already removed (the run has ended) or unreadable.
        result["live"] = read_json_object(params["live_file"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            jid=dict(type="str"),
            async_dir=dict(type="path", default="~/.ansible_async"),
            state=dict(type="str", choices=["renewed", "expired"], default="renewed"),
            wait=dict(type="float", default=60.0),
            live_file=dict(type="path"),
        ),
        required_one_of=[("path", "jid")],
        required_if=[("state", "expired", ("path",))],
        supports_check_mode=True,
    )
    if module.params["state"] == "expired":
        try:
            result = expire(module.params["path"], module.params["wait"], check_mode=module.check_mode)
        except OSError as exc:
            module.fail_json(msg="cannot expire the leases in %s: %s" % (module.params["path"], exc))
        if result["remaining"]:
            module.fail_json(msg="still running after %g s (pids %s); stop them by hand" % (
                module.params["wait"], ", ".join(str(pid) for pid in result["remaining"])), **result)
        module.exit_json(**result)
    try:
        result = lease(module.params, check_mode=module.check_mode)
    except OSError as exc:
        module.fail_json(msg="cannot renew the lease or read the job status: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
