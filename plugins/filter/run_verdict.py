# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_verdict
short_description: One document with the verdict of a run across all load machines
version_added: 0.1.0
description:
  - Combines the M(loadops.k6.k6_run) results of every load machine of one run into the document
    the role writes as C(verdict.json) and renders as JUnit XML.
  - The run's C(verdict) is C(passed) only when every load machine passed; otherwise it is the most
    serious verdict of any machine (C(oom_killed) before C(script_error) before ... before
    C(thresholds_failed), the order of the collection's one verdict vocabulary). A machine without a
    usable result, or with a verdict outside that vocabulary, counts as C(error).
  - C(outcome) is what the play decides. It is C(failed) when the verdict is not C(passed) (a
    C(thresholds_failed) run is accepted when O(fail_on_thresholds=false)), or when the regression
    check found regressions and O(fail_on_regression=true).
positional: _input
options:
  _input:
    description: Mapping of load machine name to its registered M(loadops.k6.k6_run) result.
    type: dict
    required: true
  run_id:
    description: The run's id (the C(testid) tag).
    type: str
    required: true
  scenario:
    description: Scenario name.
    type: str
    default: ""
  started_at:
    description: ISO 8601 time on the controller just before the run started.
    type: str
    default: ""
  ended_at:
    description: ISO 8601 time on the controller just after the run ended.
    type: str
    default: ""
  grafana_url:
    description: Link to the run in Grafana, or empty.
    type: str
    default: ""
  regression:
    description: The result of P(loadops.k6.regression_report#filter), or null when no check ran.
    type: dict
  fail_on_thresholds:
    description: Whether crossed thresholds fail the run.
    type: bool
    default: true
  fail_on_regression:
    description: Whether regressions fail the run.
    type: bool
    default: true
  fleet:
    description:
      - For a test run on several load machines at once (a fleet run), what the role knows about it as a whole -
        C(distribution) (C(mode), C(sequence), each machine's C(segment)), C(start) (when each machine
        was resumed, the skew), C(judged), the result of M(loadops.k6.k6_merge) on all machines' samples, and
        C(aborted), the controller's decision to stop every machine (M(loadops.k6.fleet_abort#filter)) or empty.
      - When given, the run's C(verdict) is the fleet's. It is C(script_error) or C(config_error) when a machine
        had one; C(incomplete) when a machine did not finish its share (lost, killed, out of memory,
        timed out, stopped); C(aborted) when an C(abortOnFail) threshold crossed on all machines' samples
        stopped the test, or C(aborted) or C(script_failed) when the script gave up; otherwise
        C(thresholds_failed) or C(passed) as the thresholds judged on all samples say. Each machine's own
        verdict (judged on its own samples) stays in C(hosts) as detail.
      - In an C(incomplete) run the thresholds are judged on the samples that arrived, as information;
        each gets C(final), true for a failure more samples could not undo (a C(max) or C(count) above its
        bound, a C(min) below it), and the C(reason) names those.
    type: dict
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Write verdict.json
  ansible.builtin.copy:
    content: "{{ results_by_host | loadops.k6.run_verdict(run_id=testid, scenario='smoke') | to_nice_json }}"
    dest: "results/{{ testid }}/verdict.json"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The run document.
  type: dict
  contains:
    run_id: {description: The run id., type: str}
    scenario: {description: Scenario name., type: str}
    started_at: {description: Controller time before the run., type: str}
    ended_at: {description: Controller time after the run., type: str}
    verdict: {description: The run's verdict over all machines., type: str}
    outcome: {description: "C(passed) or C(failed), as the play decides.", type: str}
    hosts:
      description:
        - "Per machine: verdict, rc, msg, duration_s, k6_version, thresholds, checks (passed and failed counts), metrics,
          endpoints, errors, evaluator, generator, requirements."
        - C(endpoints) and C(errors) are lists as M(loadops.k6.k6_run) returns them (empty when it returned none);
          C(evaluator) is its comparison of k6's summary with loadops' reduction of the samples (C(agrees),
          C(compared), C(differences)), or an empty dict when the result has none.
      type: dict
    grafana_url: {description: "Link to the run in Grafana, or empty.", type: str}
    regression: {description: "The regression check, or null.", type: dict}
    thresholds: {description: "Fleet runs: every threshold judged on all machines' samples.", type: list, returned: fleet runs}
    metrics: {description: "Fleet runs: the whole test's headline numbers.", type: dict, returned: fleet runs}
    checks: {description: "Fleet runs: passed and failed checks over all machines, and the list.", type: dict, returned: fleet runs}
    endpoints: {description: "Fleet runs: per endpoint over all machines.", type: list, returned: fleet runs}
    errors: {description: "Fleet runs: failed requests by endpoint and status over all machines.", type: list, returned: fleet runs}
    distribution: {description: "Fleet runs: C(mode), C(sequence) and each machine's C(segment).", type: dict, returned: fleet runs}
    start: {description: "Fleet runs: C(at) (the agreed instant), C(skew_ms), each machine's C(resumed_at).", type: dict,
            returned: fleet runs}
    aborted:
      description:
        - "Fleet runs: null, or when an C(abortOnFail) threshold crossed on all machines' samples stopped the test -
          C(elapsed_s) after the start, C(samples) judged, C(thresholds) (C(metric), C(expression), C(observed)), C(summary)."
      type: dict
      returned: fleet runs
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_fleet import final_failure
from ansible_collections.loadops.k6.plugins.module_utils.verdicts import fleet_verdict, is_accepted, normalize, worst


def _host_entry(result):
    result = result if isinstance(result, dict) else {}
    checks = [c for c in result.get("checks") or [] if isinstance(c, dict)]
    return {
        "verdict": normalize(result.get("verdict")),
        "rc": result.get("rc"),
        "msg": result.get("msg") or ("no result from loadops.k6.k6_run" if not result else ""),
        "duration_s": result.get("duration_s"),
        "k6_version": result.get("k6_version"),
        "thresholds": list(result.get("thresholds") or []),
        "checks": {"passed": sum(int(c.get("passes") or 0) for c in checks),
                   "failed": sum(int(c.get("fails") or 0) for c in checks)},
        "metrics": dict(result.get("metrics") or {}),
        "endpoints": list(result.get("endpoints") or []),
        "errors": list(result.get("errors") or []),
        "evaluator": dict(result.get("evaluator") or {}),
        "generator": dict(result.get("generator") or {}),
        "requirements": dict(result.get("requirements") or {}),
    }


def _fleet_part(fleet, hosts):
    judged = fleet.get("judged") if isinstance(fleet.get("judged"), dict) else {}
    thresholds = [t for t in judged.get("thresholds") or [] if isinstance(t, dict)]
    checks = [c for c in judged.get("checks") or [] if isinstance(c, dict)]
    part = {
        "thresholds": thresholds,
        "metrics": dict(judged.get("metrics") or {}),
        "checks": {"passed": sum(int(c.get("passes") or 0) for c in checks),
                   "failed": sum(int(c.get("fails") or 0) for c in checks), "list": checks},
        "endpoints": list(judged.get("endpoints") or []),
        "errors": list(judged.get("errors") or []),
        "samples": judged.get("samples", 0),
        "merged": list(judged.get("merged") or []),
        "missing": dict(judged.get("missing") or {}),
        "distribution": dict(fleet.get("distribution") or {}),
        "start": dict(fleet.get("start") or {}),
        "aborted": _aborted(fleet.get("aborted")),
    }
    # A machine without samples cannot be judged with the others: the run did not get all its data.
    held = all(t.get("passed") is not False for t in thresholds)
    verdicts = [entry["verdict"] for entry in hosts.values()]
    if part["missing"] and all(v in ("passed", "thresholds_failed") for v in verdicts):
        verdicts.append("error")
    verdict = fleet_verdict(verdicts, held, aborted=bool(part["aborted"]))
    if verdict == "incomplete":
        # Judged on the samples that arrived: information, except failures more samples could not undo.
        part["thresholds"] = thresholds = [dict(t, final=final_failure(t)) for t in thresholds]
    part["reason"] = _fleet_reason(verdict, hosts, part, thresholds)
    return verdict, part


def _aborted(aborted):
    """The controller's global abortOnFail decision (loadops.k6.fleet_abort), or None."""
    if not isinstance(aborted, dict) or not aborted.get("abort"):
        return None
    return {"elapsed_s": aborted.get("elapsed_s"), "samples": aborted.get("samples"),
            "thresholds": [{"metric": t.get("metric"), "expression": t.get("expression"), "observed": t.get("observed")}
                           for t in aborted.get("breached") or [] if isinstance(t, dict)],
            "summary": aborted.get("summary", "")}


def _fleet_reason(verdict, hosts, part, thresholds):
    """One sentence: why the fleet's verdict is what it is."""
    problem = part["start"].get("problem")
    if problem:
        return "the load machines did not start: %s" % problem
    if verdict == "aborted" and part["aborted"]:
        return "an abortOnFail threshold was %s" % part["aborted"]["summary"]
    others = ["%s %s%s" % (h, e["verdict"], (": " + e["msg"]) if e.get("msg") else "")
              for h, e in hosts.items() if e["verdict"] not in ("passed", "thresholds_failed")]
    if part["missing"]:
        others += ["%s: %s" % (h, why) for h, why in sorted(part["missing"].items())]
    if verdict == "incomplete":
        final = ["%s %s" % (t.get("metric"), t.get("expression")) for t in thresholds if t.get("final")]
        if final:
            others.append("crossed for good on the samples that arrived (more could not undo it): %s" % ", ".join(final))
    if verdict not in ("passed", "thresholds_failed"):
        return "; ".join(others) or verdict
    crossed = ["%s %s" % (t.get("metric"), t.get("expression")) for t in thresholds if t.get("passed") is False]
    if crossed:
        return "crossed on all machines' samples: %s" % ", ".join(crossed)
    return "every threshold held on all %d machines' samples (%d samples)" % (len(hosts), part["samples"] or 0)


def run_verdict(results, run_id, scenario="", started_at="", ended_at="", grafana_url="", regression=None,
                fail_on_thresholds=True, fail_on_regression=True, fleet=None):
    if not isinstance(results, dict):
        raise AnsibleFilterError("run_verdict expects a mapping of host name to k6_run result, got %s"
                                 % type(results).__name__)
    if fleet is not None and not isinstance(fleet, dict):
        raise AnsibleFilterError("run_verdict's fleet must be a mapping (distribution, start, judged), got %s"
                                 % type(fleet).__name__)
    hosts = {str(name): _host_entry(results[name]) for name in sorted(results, key=str)}
    part = {}
    if fleet:
        verdict, part = _fleet_part(fleet, hosts)
    else:
        verdict = worst(entry["verdict"] for entry in hosts.values())
    accepted = is_accepted(verdict, fail_on_thresholds)
    regressed = bool(regression and regression.get("regressions"))
    outcome = "passed" if accepted and not (regressed and fail_on_regression) else "failed"
    doc = {
        "run_id": run_id,
        "scenario": scenario,
        "started_at": started_at,
        "ended_at": ended_at,
        "verdict": verdict,
        "outcome": outcome,
        "hosts": hosts,
        "grafana_url": grafana_url or "",
        "regression": regression or None,
    }
    doc.update(part)
    return doc


class FilterModule(object):
    def filters(self):
        return {"run_verdict": run_verdict}
