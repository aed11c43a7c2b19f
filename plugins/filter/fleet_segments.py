# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet_segments
short_description: Each load machine's part of one k6 test split across several machines
version_added: 0.1.0
description:
  - Turns the load machines of a fleet run into k6 execution segments of one sequence, so that the
    script's numbers (iterations, VUs, arrival rates) describe the whole test and each machine runs
    its stripe of it. k6 keeps the totals exact across the segments.
  - The machines are sorted by name, so every run of the same inventory gets the same split.
  - With O(distribution=replicate) every machine runs the whole script (no segment).
  - With one machine there is nothing to split; the result is that machine with no segment.
positional: _input
options:
  _input:
    description: The load machines' inventory names.
    type: list
    elements: str
    required: true
  weights:
    description:
      - Mapping of machine name to its weight, a positive integer (for example its cores). Missing
        machines weigh 1. Equal weights give equal shares.
    type: dict
    default: {}
  distribution:
    description: V(split) divides the test, V(replicate) runs all of it on every machine.
    type: str
    choices: [split, replicate]
    default: split
  max_vus:
    description:
      - The test's peak VUs (from C(k6 inspect)). When given, RV(_value.warnings) says when they do not
        divide evenly by the shares.
    type: int
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Work out the split
  ansible.builtin.set_fact:
    fleet: "{{ ansible_play_hosts_all | loadops.k6.fleet_segments(weights={'lg1': 2}) }}"
  run_once: true
# fleet.hosts.lg1.segment == '0:1/2', fleet.sequence == '0,1/2,3/4,1' for lg1, lg2, lg3
"""

RETURN = r"""
_value:
  description: The split.
  type: dict
  contains:
    distribution: {description: "C(split), C(replicate) or C(single) (one machine).", type: str}
    sequence: {description: "The segment points, e.g. C(0,1/3,2/3,1); empty unless split.", type: str}
    hosts:
      description: "Per machine: C(segment) (e.g. C(1/3:2/3), empty unless split), C(share) (a float),
        C(index) (place in the sorted list; the machine with index 0 runs setup and teardown)."
      type: dict
    warnings: {description: Sentences about uneven VUs., type: list, elements: str}
    summary: {description: "One line: each machine and its part.", type: str}
"""

from fractions import Fraction

from ansible.errors import AnsibleFilterError


def _fraction_text(value):
    return str(value.numerator) if value.denominator == 1 else "%d/%d" % (value.numerator, value.denominator)


def _weight(host, weights):
    value = weights.get(host, 1)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit() \
            or int(value) < 1:
        raise AnsibleFilterError("load weight %r of %s is not allowed: use a positive whole number (e.g. the "
                                 "machine's cores); 1 is the default" % (value, host))
    return int(value)


def fleet_segments(hosts, weights=None, distribution="split", max_vus=None):
    if not isinstance(hosts, (list, tuple)) or not hosts:
        raise AnsibleFilterError("fleet_segments expects a non-empty list of load machines, got %r" % (hosts,))
    if distribution not in ("split", "replicate"):
        raise AnsibleFilterError("distribution %r is not known; use split or replicate" % (distribution,))
    weights = weights or {}
    names = sorted({str(h) for h in hosts})
    if len(names) == 1:
        return {"distribution": "single", "sequence": "", "warnings": [], "summary": "%s the whole script" % names[0],
                "hosts": {names[0]: {"segment": "", "share": 1.0, "index": 0}}}
    if distribution == "replicate":
        return {"distribution": "replicate", "sequence": "", "warnings": [],
                "summary": ", ".join("%s the whole script" % name for name in names),
                "hosts": {name: {"segment": "", "share": 1.0, "index": i} for i, name in enumerate(names)}}
    parts = [_weight(name, weights) for name in names]
    total = sum(parts)
    points = [Fraction(0)]
    for part in parts:
        points.append(points[-1] + Fraction(part, total))
    hosts_out = {}
    for i, name in enumerate(names):
        start, end = points[i], points[i + 1]
        hosts_out[name] = {"segment": "%s:%s" % (_fraction_text(start), _fraction_text(end)),
                           "share": float(end - start), "index": i}
    warnings = []
    if max_vus is not None and int(max_vus) > 0:
        uneven = [name for i, name in enumerate(names) if (Fraction(int(max_vus)) * (points[i + 1] - points[i])).denominator != 1]
        if uneven:
            shares = ", ".join("%s %s" % (n, _fraction_text(points[i + 1] - points[i])) for i, n in enumerate(names))
            warnings.append(
                "the test's %d VUs do not divide evenly across %d load machines (shares %s): k6 rounds each "
                "machine's part, so per-machine VUs differ by one; the totals stay exact"
                % (int(max_vus), len(names), shares))
    return {"distribution": "split", "sequence": ",".join(_fraction_text(p) for p in points),
            "hosts": hosts_out, "warnings": warnings,
            "summary": ", ".join("%s %s" % (name, hosts_out[name]["segment"]) for name in names)}


class FilterModule(object):
    def filters(self):
        return {"fleet_segments": fleet_segments}
