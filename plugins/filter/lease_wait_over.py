# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: lease_wait_over
short_description: Whether the controller should stop waiting on a k6 run (for an until loop)
version_added: 0.1.0
description:
  - The C(until) condition of the loops that renew a run's lease with M(loadops.k6.k6_lease) while
    k6 runs. True when the async job has finished (or the module failed), when the time O(until)
    has come, or when the C(ansible-playbook) that runs this task is gone.
  - The last case matters because Ansible runs a task's retries in a worker process of its own
    session - a worker outlives a C(kill -9) of C(ansible-playbook) and would go on renewing the
    lease for the rest of its retries. With this condition it stops at the next retry, the lease
    expires and M(loadops.k6.k6_run) stops k6.
  - Evaluated on the controller, in the worker that runs the task.
positional: _input
options:
  _input:
    description: The registered result of M(loadops.k6.k6_lease).
    type: dict
    required: true
  until:
    description: Epoch seconds (controller clock) at which the wait ends anyway; null waits for the job only.
    type: float
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Keep the lease until the next progress line
  loadops.k6.k6_lease:
    path: "{{ lease_file }}"
    jid: "{{ job.ansible_job_id }}"
    async_dir: "{{ job.results_file | dirname }}"
  register: lease
  until: lease | loadops.k6.lease_wait_over(until=next_line_epoch)
  retries: 100
  delay: 2
"""

RETURN = r"""
_value:
  description: True when the wait is over.
  type: bool
"""

import multiprocessing
import os
import time
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def controller_alive():
    """Whether the process that forked this one (ansible-playbook, for a worker) still runs.

    In the controller's own process (no multiprocessing parent) this is always true.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return True
    # Reparented (to init or a subreaper) means the parent died; the sentinel pipe says so too.
    return os.getppid() == parent.pid and parent.is_alive()


def wait_over(result, until, now, alive):
    """The decision, with the clock and the controller's state given (`alive` is a callable)."""
    if not isinstance(result, Mapping):
        raise AnsibleFilterError("lease_wait_over expects the registered k6_lease result, got %r" % type(result).__name__)
    if result.get("finished") or result.get("failed"):
        return True
    if until not in (None, ""):
        try:
            deadline = float(until)
        except (TypeError, ValueError):
            raise AnsibleFilterError("lease_wait_over needs epoch seconds for until, got %r" % (until,))
        if now >= deadline:
            return True
    return not alive()


def lease_wait_over(result, until=None):
    return wait_over(result, until, time.time(), controller_alive)


class FilterModule(object):
    def filters(self):
        return {"lease_wait_over": lease_wait_over}
