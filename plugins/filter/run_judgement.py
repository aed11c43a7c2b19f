# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_judgement
short_description: Whether a run passed, and why not, as seen from one load machine
version_added: 0.1.0
description:
  - Reads the document of P(loadops.k6.run_verdict#filter) and answers, for one load machine, whether
    the play accepts the run and, when it does not, the one-line reason the play fails with.
  - The run passes when the document's C(outcome) is C(passed).
  - Otherwise the reason names, in this order, the first that applies - this machine's own verdict
    when it is not accepted (C(passed), or C(thresholds_failed) with O(fail_on_thresholds=false));
    the series that regressed against the baseline; or the verdict the run ended with on another
    load machine.
positional: _input
options:
  _input:
    description: The document of P(loadops.k6.run_verdict#filter); empty when the run was not judged.
    type: dict
    required: true
  host:
    description: The load machine the answer is for (a key of the document's C(hosts)).
    type: str
    required: true
  result:
    description:
      - The machine's registered M(loadops.k6.k6_run) result, whose C(msg) is quoted when the document
        has no entry for O(host).
    type: dict
    default: {}
  run_id:
    description: The run id quoted in the reason; empty takes the document's C(run_id).
    type: str
    default: ""
  results_dir:
    description: The run's results directory on the controller, quoted in the reason.
    type: str
    default: ""
  fail_on_thresholds:
    description: Whether crossed thresholds fail the run (as given to P(loadops.k6.run_verdict#filter)).
    type: bool
    default: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Fail unless the run passed
  ansible.builtin.assert:
    that: judgement.passed
    fail_msg: "{{ judgement.reason }}"
  vars:
    judgement: "{{ run_doc | loadops.k6.run_judgement(inventory_hostname, results_dir='results/' ~ run_doc.run_id) }}"
"""

RETURN = r"""
_value:
  description: The answer.
  type: dict
  contains:
    passed: {description: Whether the play accepts the run., type: bool}
    reason:
      description:
        - Empty when O(_input) passed, else one line starting with O(host), ending with the run id and
          the results directory in parentheses.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.verdicts import is_accepted, normalize


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def run_judgement(doc, host, result=None, run_id="", results_dir="", fail_on_thresholds=True):
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise AnsibleFilterError("run_judgement expects the document of loadops.k6.run_verdict, got %s"
                                 % type(doc).__name__)
    result = result if isinstance(result, dict) else {}
    if doc.get("outcome") == "passed":
        return {"passed": True, "reason": ""}
    where = "run %s; results in %s" % (run_id or doc.get("run_id") or "", results_dir)
    if doc.get("distribution") and not is_accepted(doc.get("verdict"), fail_on_thresholds):
        return {"passed": False, "reason": "%s: the test on all %d load machines ended %s: %s (%s)" % (
            host, len(doc.get("hosts") or {}), normalize(doc.get("verdict")), doc.get("reason") or "", where)}
    entry = (doc.get("hosts") or {}).get(host)
    if isinstance(entry, dict):
        verdict = normalize(entry.get("verdict"))
        msg = entry["msg"] if "msg" in entry else result.get("msg", "no result")
    else:
        verdict, msg = "error", result.get("msg", "no result")
    if not is_accepted(verdict, fail_on_thresholds):
        return {"passed": False, "reason": "%s: %s: %s (%s)" % (host, verdict, msg, where)}
    regression = doc.get("regression") or {}
    regressions = [r for r in regression.get("regressions") or [] if isinstance(r, dict)]
    if regressions:
        series = ", ".join(str(s) for s in _unique(r.get("series") for r in regressions))
        return {"passed": False,
                "reason": "%s: the thresholds held but %d series regressed against baseline %s: %s (see the table above; %s)"
                          % (host, len(regressions), regression.get("baseline_run_id"), series, where)}
    return {"passed": False,
            "reason": "%s: passed here, but the run ended %s on another load machine (%s)"
                      % (host, normalize(doc.get("verdict")), where)}


class FilterModule(object):
    def filters(self):
        return {"run_judgement": run_judgement}
