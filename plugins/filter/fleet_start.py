# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet_start
short_description: How far a fleet run's synchronized start got, and its skew
version_added: 0.1.0
description:
  - Reads the registered M(loadops.k6.k6_control) results of a fleet run's start (every k6 paused
    and initialized, C(setup()) once, its data handed on, every machine resumed at one instant) and
    says whether each step held on every machine, what stopped it, and the measured start skew.
  - A step that failed on any machine stops the run everywhere; RV(_value.problem) names the first
    machine and step that failed, with the module's message.
positional: _input
options:
  _input:
    description: The load machines' inventory names.
    type: list
    elements: str
    required: true
  ready:
    description: The C(action=wait_paused) results, one per machine, in the order of O(_input).
    type: list
    elements: dict
    default: []
  setup:
    description: The C(action=setup) results, in that order (skipped on all but O(first)).
    type: list
    elements: dict
    default: []
  put:
    description: The C(action=put_setup) results, in that order (skipped on O(first)).
    type: list
    elements: dict
    default: []
  resumed:
    description: The C(action=resume) results, in that order.
    type: list
    elements: dict
    default: []
  first:
    description: The machine that runs C(setup()) and C(teardown()).
    type: str
    required: true
  at:
    description: The agreed start instant (epoch seconds), when it has been chosen.
    type: float
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Note the start
  ansible.builtin.set_fact:
    start: "{{ ansible_play_hosts | loadops.k6.fleet_start(ready=ready_results, first='lg1') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The start.
  type: dict
  contains:
    ready: {description: Every machine's k6 reported paused and initialized., type: bool}
    set_up: {description: "Also C(setup()) ran and every machine got its data.", type: bool}
    started: {description: Also every machine resumed., type: bool}
    problem: {description: "What stopped the start (machine, step, message), or empty.", type: str}
    at: {description: The agreed instant (epoch seconds) or null., type: float}
    skew_ms: {description: "Latest minus earliest resume, milliseconds (null unless started).", type: float}
    hosts: {description: "Per machine: C(resumed_at) (epoch seconds) and C(late_ms).", type: dict}
"""

from ansible.errors import AnsibleFilterError


def _ok(result, key):
    return isinstance(result, dict) and not result.get("skipped") and key in result


def _why(result):
    if not isinstance(result, dict) or not result:
        return "no result"
    return str(result.get("msg") or "failed without a message")


def _by_host(hosts, results, name):
    results = list(results or [])
    if results and len(results) != len(hosts):
        raise AnsibleFilterError("fleet_start: %s has %d results for %d load machines" % (name, len(results), len(hosts)))
    return dict(zip(hosts, results)) if results else {}


def fleet_start(hosts, ready=None, setup=None, put=None, resumed=None, first=None, at=None):
    if not isinstance(hosts, (list, tuple)) or not hosts:
        raise AnsibleFilterError("fleet_start expects the list of load machines, got %r" % (hosts,))
    hosts = [str(h) for h in hosts]
    if first not in hosts:
        raise AnsibleFilterError("fleet_start: first machine %r is not one of %s" % (first, ", ".join(hosts)))
    ready, setup, put, resumed = (_by_host(hosts, r, n) for r, n in (
        (ready, "ready"), (setup, "setup"), (put, "put"), (resumed, "resumed")))
    out = {"ready": False, "set_up": False, "started": False, "problem": "", "at": at, "skew_ms": None, "hosts": {}}
    not_ready = [h for h in hosts if not (_ok(ready.get(h), "status") and ready[h].get("status") == 4)]
    if not_ready:
        out["problem"] = "; ".join("%s is not ready: %s" % (h, _why(ready.get(h))) for h in not_ready)
        return out
    out["ready"] = True
    if not setup:
        return out
    if not _ok(setup.get(first), "data"):
        out["problem"] = "setup() failed on %s: %s" % (first, _why(setup.get(first)))
        return out
    if put:
        missed = [h for h in hosts if h != first and not _ok(put.get(h), "data")]
        if missed:
            out["problem"] = "; ".join("setup()'s data did not reach %s: %s" % (h, _why(put.get(h))) for h in missed)
            return out
    out["set_up"] = True
    if not resumed:
        return out
    late = [h for h in hosts if not _ok(resumed.get(h), "resumed_at")]
    if late:
        out["problem"] = "; ".join("%s did not start: %s" % (h, _why(resumed.get(h))) for h in late)
        return out
    times = {h: float(resumed[h]["resumed_at"]) for h in hosts}
    out["started"] = True
    out["hosts"] = {h: {"resumed_at": times[h], "late_ms": round((times[h] - at) * 1000, 3) if at else None}
                    for h in hosts}
    out["skew_ms"] = round((max(times.values()) - min(times.values())) * 1000, 3)
    return out


class FilterModule(object):
    def filters(self):
        return {"fleet_start": fleet_start}
