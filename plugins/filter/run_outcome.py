# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_outcome
short_description: The record of one scenario run that the scenario_run role keeps in scenario_run_outcomes
version_added: 0.1.0
description:
  - Returns the record the role C(loadops.k6.scenario_run) appends to its output variable
    C(scenario_run_outcomes) for each run - scenario, run id, outcome, verdict and message.
  - Without O(failure) the run went through - outcome C(passed) (C(checked) in check mode), the
    verdict of O(_input) (C(checked) when there is none).
  - With O(failure) (the C(ansible_failed_result) of the role's rescue) the run failed - outcome
    C(failed), the run's verdict from O(doc) (else the verdict of O(_input), else C(not run)), and the
    failure's message cut to 300 characters.
positional: _input
options:
  _input:
    description: This machine's registered M(loadops.k6.k6_run) result; empty when k6 did not run.
    type: dict
    required: true
  scenario:
    description: Scenario name.
    type: str
    required: true
  run_id:
    description: The run id; empty when the run never got one.
    type: str
    default: ""
  check_mode:
    description: Whether the play runs in check mode.
    type: bool
    default: false
  doc:
    description: The document of P(loadops.k6.run_verdict#filter), or empty when the run was not judged.
    type: dict
    default: {}
  failure:
    description: The failed task's result (C(ansible_failed_result)); null when the run did not fail.
    type: dict
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Record the failure
  ansible.builtin.set_fact:
    scenario_run_outcomes: >-
      {{ scenario_run_outcomes | default([])
         + [k6_result | loadops.k6.run_outcome('smoke', testid, doc=run_doc, failure=ansible_failed_result)] }}
"""

RETURN = r"""
_value:
  description: The record.
  type: dict
  contains:
    scenario: {description: Scenario name., type: str}
    run_id: {description: The run id, or empty., type: str}
    outcome: {description: "C(passed), C(failed), or C(checked) in check mode.", type: str}
    verdict: {description: "The run's verdict, C(checked) in check mode, C(not run) when k6 did not run.", type: str}
    msg: {description: Why the run failed (at most 300 characters); empty when it did not., type: str}
"""

from ansible.errors import AnsibleFilterError

MSG_LENGTH = 300


def _truncate(text, length=MSG_LENGTH, end="...", leeway=5):
    """Jinja's truncate filter with its defaults: whole words, a few characters of leeway."""
    if len(text) <= length + leeway:
        return text
    return text[:length - len(end)].rsplit(" ", 1)[0] + end


def run_outcome(result, scenario, run_id="", check_mode=False, doc=None, failure=None):
    result = result if isinstance(result, dict) else {}
    if doc is not None and not isinstance(doc, dict):
        raise AnsibleFilterError("run_outcome: doc must be the document of loadops.k6.run_verdict, got %s" % type(doc).__name__)
    doc = doc or {}
    record = {"scenario": scenario, "run_id": run_id or ""}
    if failure is None:
        record.update(outcome="checked" if check_mode else "passed", verdict=result.get("verdict", "checked"), msg="")
        return record
    failure = failure if isinstance(failure, dict) else {"msg": failure}
    verdict = doc["verdict"] if "verdict" in doc else result.get("verdict", "not run")
    msg = failure.get("msg")
    record.update(outcome="failed", verdict=verdict, msg=_truncate("" if msg is None else str(msg)))
    return record


class FilterModule(object):
    def filters(self):
        return {"run_outcome": run_outcome}
