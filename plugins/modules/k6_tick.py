#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: k6_tick
short_description: Keep a k6 run's lease until the next tick and read its progress, in one task
version_added: 0.1.0
description:
  - One tick of the controller's wait on a k6 run started by M(loadops.k6.k6_run) with a lease. It renews
    the lease (M(loadops.k6.k6_lease)) every 2 s until O(until), renews it once more (reading
    O(live_file) when given), and with O(api_port) reads k6's metrics so far from its REST API on the
    load machine's loopback and returns one progress line as RV(msg).
  - The wait ends early when the async job finishes, and at once when the C(ansible-playbook) that runs
    the task is gone (its worker would otherwise go on renewing), so that the lease expires and k6 stops.
  - All the renewals happen inside this one task, so the default callback prints one task per tick
    (no C(FAILED - RETRYING) line per renewal); show RV(msg) with C(ansible.builtin.debug).
  - Given the previous tick's result in O(previous) that says the run has finished, it does nothing
    and reports skipped, carrying RV(finished), RV(verdict) and RV(live) over.
  - This is an action plugin; it runs on the controller and calls M(loadops.k6.k6_lease) and
    M(ansible.builtin.uri) on the load machine.
author:
  - loadops.k6 developers (@loadops)
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: none
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  lease_file:
    description: The run's lease file (O(loadops.k6.k6_run#module:lease_file)) on the load machine.
    type: path
    required: true
  jid:
    description: Id of the async job that runs M(loadops.k6.k6_run).
    type: str
    required: true
  async_dir:
    description: Directory of the async job status files on the load machine (see M(loadops.k6.k6_lease)).
    type: path
    required: true
  until:
    description: Epoch seconds (controller clock) at which the tick ends; a time already past renews once.
    type: float
    required: true
  live_file:
    description: The run's C(reduction.live.json), read by the last renewal and returned as RV(live).
    type: path
  api_port:
    description:
      - Port of k6's REST API on the load machine's 127.0.0.1. With it the tick reads k6's metrics and
        returns a progress line; without it (a tick that only checks abortOnFail) it returns none.
    type: int
  label:
    description: Text put before the progress line, for example the host and the scenario.
    type: str
    default: ""
  started:
    description: Epoch seconds (controller clock) at which the run started, for the elapsed time.
    type: float
    default: 0
  total_s:
    description: The run's expected length in seconds; 0 prints C(?).
    type: float
    default: 0
  previous:
    description: The previous tick's registered result; when it says finished, this tick does nothing.
    type: dict
    default: {}
seealso:
  - module: loadops.k6.k6_lease
  - module: loadops.k6.k6_run
"""

EXAMPLES = r"""
- name: Keep the lease for 30 s, then read k6's progress
  loadops.k6.k6_tick:
    lease_file: /var/lib/loadops/results/.leases/load-1
    jid: "{{ job.ansible_job_id }}"
    async_dir: "{{ job.results_file | dirname }}"
    until: "{{ started_epoch | float + 30 }}"
    api_port: 6565
    label: "{{ inventory_hostname }} load:"
    started: "{{ started_epoch }}"
    total_s: 600
    previous: "{{ tick | default({}) }}"
  register: tick

- name: Show progress
  ansible.builtin.debug:
    msg: "{{ tick.msg }}"
  when: tick.msg | length > 0
"""

RETURN = r"""
finished:
  description: Whether the async job has ended (its status file holds its result, or is gone).
  returned: always
  type: bool
  sample: false
verdict:
  description: The finished job's verdict (M(loadops.k6.k6_run)'s), else null.
  returned: always
  type: str
  sample: passed
live:
  description: The parsed O(live_file) read by the last renewal, or null.
  returned: always
  type: dict
  sample: null
renewals:
  description: How many times the lease was renewed in this tick.
  returned: when the tick ran
  type: int
  sample: 15
msg:
  description: One progress line (elapsed and expected time, VUs, requests, errors, p95), or empty.
  returned: always
  type: str
  sample: "localhost load: 0:30 of 10:00 elapsed, 50 VUs, 12034 requests, errors 0.00%, p95 84.2 ms"
"""
