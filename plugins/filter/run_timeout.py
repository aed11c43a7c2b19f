# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_timeout
short_description: Seconds a k6 run may take before it is stopped
version_added: 0.1.0
description:
  - An explicit O(timeout) (a positive number) wins.
  - Otherwise (V(0), empty or null) the scenario's own length plus a margin - O(margin) of it, and
    at least O(minimum_margin) seconds - rounded up to a whole second. The length is
    C(requirements.total_duration_s) of M(loadops.k6.k6_run) in check mode, which includes every
    scenario's C(gracefulStop) and C(gracefulRampDown).
positional: _input
options:
  _input:
    description: The scenario's expected duration in seconds.
    type: float
    required: true
  timeout:
    description: The timeout asked for; V(0), empty or null means "follow the scenario".
    type: raw
    default: 0
  margin:
    description: Share of the duration added to it (V(0.2) = 20 %).
    type: float
    default: 0.2
  minimum_margin:
    description: Seconds added at least.
    type: float
    default: 120
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Run k6 with the timeout the scenario calls for (smoke, 40 s -> 160 s)
  loadops.k6.k6_run:
    script: /opt/loadops/k6/scripts/scenarios/smoke.js
    timeout: "{{ plan.requirements.total_duration_s | loadops.k6.run_timeout(scenario_run_timeout) }}"
"""

RETURN = r"""
_value:
  description: Whole seconds, at least 1.
  type: int
"""

import math

from ansible.errors import AnsibleFilterError


def run_timeout(total_s, timeout=0, margin=0.2, minimum_margin=120):
    try:
        explicit = float(timeout) if timeout not in (None, "") else 0.0
        total, share, floor = float(total_s or 0), float(margin), float(minimum_margin)
    except (TypeError, ValueError):
        raise AnsibleFilterError("run_timeout needs numbers, got total_s=%r timeout=%r margin=%r minimum_margin=%r"
                                 % (total_s, timeout, margin, minimum_margin))
    if not all(math.isfinite(v) for v in (explicit, total, share, floor)) or min(explicit, total, share, floor) < 0:
        raise AnsibleFilterError("run_timeout needs finite numbers of at least 0, got total_s=%r timeout=%r margin=%r "
                                 "minimum_margin=%r" % (total_s, timeout, margin, minimum_margin))
    if explicit > 0:
        return max(1, int(math.ceil(explicit)))
    return max(1, int(math.ceil(total + max(total * share, floor))))


class FilterModule(object):
    def filters(self):
        return {"run_timeout": run_timeout}
