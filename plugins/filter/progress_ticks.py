# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: progress_ticks
short_description: When to print progress lines during a k6 run
version_added: 0.1.0
description:
  - The seconds after the start of a run at which the controller prints a progress line - every
    O(interval) seconds during the expected duration, one just after its end, then up to ten more
    every O(interval) seconds while k6 overruns, never beyond O(timeout).
positional: _input
options:
  _input:
    description: The run's expected duration in seconds (C(requirements.total_duration_s) of M(loadops.k6.k6_run)).
    type: float
    required: true
  interval:
    description: Seconds between lines; values below 1 count as 1.
    type: int
    default: 30
  timeout:
    description: Seconds after which the run is stopped anyway.
    type: int
    default: 3600
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: One progress line per tick
  ansible.builtin.include_tasks: progress.yml
  loop: "{{ plan.requirements.total_duration_s | loadops.k6.progress_ticks(interval=30, timeout=3600) }}"
"""

RETURN = r"""
_value:
  description: Ascending whole seconds.
  type: list
  elements: int
"""

import math

from ansible.errors import AnsibleFilterError

OVERRUN_TICKS = 10


def progress_ticks(total_s, interval=30, timeout=3600):
    try:
        total, step, limit = float(total_s or 0), max(int(interval), 1), int(timeout)
    except (TypeError, ValueError):
        raise AnsibleFilterError("progress_ticks needs numbers, got total_s=%r interval=%r timeout=%r"
                                 % (total_s, interval, timeout))
    end = int(math.ceil(total)) + 1
    ticks = list(range(step, end, step)) + [end]
    ticks += list(range(end + step, end + OVERRUN_TICKS * step + 1, step))
    return [t for t in ticks if t <= max(limit, step)] or [step]


class FilterModule(object):
    def filters(self):
        return {"progress_ticks": progress_ticks}
