# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet_clocks
short_description: The load machines' clock offsets from the controller's, before a fleet run starts
version_added: 0.1.0
description:
  - A fleet run resumes every load machine at one instant by each machine's own clock, so a machine
    whose clock is off starts that much early or late. Before the start, the role reads every machine's
    clock in one task and notes the controller's clock just before and just after that task. A
    machine's offset then lies between its time minus the controller's "after" and its time minus the
    controller's "before"; the estimate is the middle, the uncertainty half the width (how long the task
    took, a second or so; this finds clocks that are off by seconds, not milliseconds - the measured
    start skew in C(verdict.json) shows the rest).
  - A machine whose offset is certainly beyond O(max_offset) (even at the edge of the uncertainty) is a
    problem, and the run does not start.
positional: _input
options:
  _input:
    description: The load machines' inventory names.
    type: list
    elements: str
    required: true
  times:
    description: Each machine's clock (epoch seconds, as text or a number), in the order of O(_input).
    type: list
    elements: raw
    required: true
  before:
    description: The controller's clock (epoch seconds) just before the machines were asked.
    type: float
    required: true
  after:
    description: The controller's clock just after every machine answered.
    type: float
    required: true
  max_offset:
    description: Seconds a machine's clock may be off the controller's; 0 turns the check off.
    type: float
    default: 1.0
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Work out the load machines' clock offsets
  ansible.builtin.set_fact:
    clocks: >-
      {{ ansible_play_hosts | loadops.k6.fleet_clocks(times=machine_times, before=asked_at, after=answered_at) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The offsets.
  type: dict
  contains:
    hosts:
      description:
        - Per machine, C(offset_s) (its clock minus the controller's; positive is ahead), C(within_s) (the
          uncertainty) and C(problem) (empty, or why its clock is refused).
      type: dict
    spread_s: {description: "Largest minus smallest estimated offset, seconds.", type: float}
    uncertainty_s: {description: "Half the time the reading took, seconds.", type: float}
    problems: {description: "One sentence per machine whose clock is certainly off by more than O(max_offset).", type: list}
    summary: {description: One line for the play's output., type: str}
"""

import math

from ansible.errors import AnsibleFilterError


def _number(value, what):
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise AnsibleFilterError("fleet_clocks: %s %r is not a number of epoch seconds" % (what, value))
    if not math.isfinite(number):
        raise AnsibleFilterError("fleet_clocks: %s %r is not a finite number of epoch seconds" % (what, value))
    return number


def fleet_clocks(hosts, times, before, after, max_offset=1.0):
    hosts = [str(h) for h in hosts or []]
    times = list(times or [])
    if len(times) != len(hosts):
        raise AnsibleFilterError("fleet_clocks: %d machines but %d clock readings" % (len(hosts), len(times)))
    before, after = _number(before, "before"), _number(after, "after")
    if after < before:
        raise AnsibleFilterError("fleet_clocks: after (%r) is earlier than before (%r)" % (after, before))
    max_offset = _number(max_offset, "max_offset")
    if max_offset < 0:
        raise AnsibleFilterError("fleet_clocks: max_offset %r must be 0 (no check) or a positive number of seconds" % max_offset)
    half = (after - before) / 2.0
    out, problems = {}, []
    for host, reading in zip(hosts, times):
        machine = _number(reading, "%s's clock" % host)
        low, high = machine - after, machine - before
        offset = (low + high) / 2.0
        out[host] = {"offset_s": round(offset, 3), "within_s": round(half, 3), "problem": ""}
        nearest = 0.0 if low <= 0.0 <= high else min(abs(low), abs(high))
        if max_offset and nearest > max_offset:
            out[host]["problem"] = (
                "%s's clock is %.1f s %s the controller's (at least %.1f s; at most %g s is allowed): sync the clocks "
                "(chrony/NTP) or raise scenario_run_max_clock_offset"
                % (host, abs(offset), "ahead of" if offset > 0 else "behind", nearest, max_offset))
            problems.append(out[host]["problem"])
    offsets = [entry["offset_s"] for entry in out.values()]
    spread = round(max(offsets) - min(offsets), 3) if offsets else 0.0
    summary = "clock offsets from the controller (within %.2f s): %s" % (
        half, ", ".join("%s %+.2f s" % (host, out[host]["offset_s"]) for host in hosts) or "none")
    return {"hosts": out, "spread_s": spread, "uncertainty_s": round(half, 3), "problems": problems, "summary": summary}


class FilterModule(object):
    def filters(self):
        return {"fleet_clocks": fleet_clocks}
