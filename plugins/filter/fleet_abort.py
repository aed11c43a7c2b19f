# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: fleet_abort
short_description: Whether a fleet run's abortOnFail thresholds stop it, on every load machine's samples so far
version_added: 0.1.0
description:
  - In a fleet run no load machine stops the test on its own numbers - each k6 runs with
    C(--no-thresholds) (M(loadops.k6.k6_run) O(loadops.k6.k6_run#module:local_thresholds=false)) and
    writes the exact reduction of its samples so far every few seconds
    (O(loadops.k6.k6_run#module:live_interval)). At each check the role reads those files
    (M(loadops.k6.k6_lease) O(loadops.k6.k6_lease#module:live_file)) and this filter merges them and
    judges the script's C(abortOnFail) thresholds on the union, the way k6 judges them on one machine
    while it runs (k6 1.1.0) - a threshold whose metric or sub-metric has no sample yet is not judged; a
    crossed one stops the test when it has no C(delayAbortEval) or the test has run longer than that;
    a counter's rate is over the time run so far.
  - Pure computation on the controller; a machine whose file is missing (not written yet) counts with
    no samples.
positional: _input
options:
  _input:
    description: Per load machine, its live reduction (RV(loadops.k6.k6_lease#module:live)) or null.
    type: dict
    required: true
  thresholds:
    description:
      - The script's thresholds as k6 read them, at least those with C(abortOnFail) (C(abort_thresholds)
        in M(loadops.k6.k6_run)'s RV(loadops.k6.k6_run#module:requirements)).
    type: dict
    required: true
  elapsed_s:
    description: Seconds the test has run, from the agreed start.
    type: float
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Judge the abortOnFail thresholds on every load machine's samples so far
  ansible.builtin.set_fact:
    abort: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['poll', 'live'])))
         | loadops.k6.fleet_abort(thresholds=plan.requirements.abort_thresholds, elapsed_s=now().timestamp() - started) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    abort: {description: "Whether to stop every machine now.", type: bool}
    breached:
      description: The crossed C(abortOnFail) thresholds that stop the test, as M(loadops.k6.k6_merge) lists thresholds.
      type: list
      elements: dict
    waiting:
      description: Crossed C(abortOnFail) thresholds whose C(delayAbortEval) has not passed yet.
      type: list
      elements: dict
    samples: {description: "Samples merged.", type: int}
    hosts: {description: "Machines whose live reduction was read.", type: list, elements: str}
    missing: {description: "Machines without one (not written yet, or their run has ended).", type: list, elements: str}
    elapsed_s: {description: "O(elapsed_s), rounded.", type: float}
    summary: {description: "One line for the play's output (empty when nothing is crossed).", type: str}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils import k6_fleet
from ansible_collections.loadops.k6.plugins.module_utils import k6_samples


def _label(item):
    observed = item.get("observed") or {}
    value = observed.get("value")
    shown = ("%g" % value) if isinstance(value, (int, float)) else "?"
    unit = observed.get("unit") or ""
    return "%s %s (%s=%s%s)" % (item.get("metric"), item.get("expression"), observed.get("stat"), shown,
                                (" " + unit) if unit and unit not in (observed.get("stat"), "count") else "")


def fleet_abort(live, thresholds=None, elapsed_s=0.0):
    if not isinstance(live, dict):
        raise AnsibleFilterError("fleet_abort expects a mapping of load machine to its live reduction, got %s"
                                 % type(live).__name__)
    if thresholds is not None and not isinstance(thresholds, dict):
        raise AnsibleFilterError("fleet_abort's thresholds must be the script's thresholds object, got %s"
                                 % type(thresholds).__name__)
    try:
        elapsed = float(elapsed_s)
    except (TypeError, ValueError):
        raise AnsibleFilterError("fleet_abort's elapsed_s must be a number of seconds, got %r" % (elapsed_s,))
    reductions, missing = {}, []
    for host in sorted(live, key=str):
        if not isinstance(live[host], dict):
            missing.append(str(host))  # not written yet, or its run has ended
            continue
        try:
            reductions[str(host)] = k6_samples.load(live[host])
        except (ValueError, KeyError, TypeError) as exc:
            raise AnsibleFilterError("the live reduction of %s cannot be read: %s" % (host, exc))
    try:
        result = k6_fleet.abort_check(reductions, thresholds or {}, elapsed)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))
    result["missing"] = missing
    parts = []
    if result["breached"]:
        parts.append("crossed on all machines' samples after %.1f s, stopping every machine: %s"
                     % (elapsed, ", ".join(_label(t) for t in result["breached"])))
    if result["waiting"]:
        parts.append("crossed, within delayAbortEval: %s" % ", ".join(
            "%s (until %g s)" % (_label(t), t["delay_abort_eval_s"]) for t in result["waiting"]))
    result["summary"] = "; ".join(parts)
    return result


class FilterModule(object):
    def filters(self):
        return {"fleet_abort": fleet_abort}
