# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: regression_report
short_description: Compare a run's snapshot with the scenario's baseline
version_added: 0.1.0
description:
  - Compares the p95 of every series of the baseline (per endpoint or per request type, see
    P(loadops.k6.baseline_snapshot#filter)) and the error rates with the current run.
  - A p95 regresses when it exceeds the baseline by more than O(margin) (0.2 = 20 %) B(and) by more
    than O(min_delta_ms) milliseconds; the absolute floor keeps sub-millisecond noise on a fast
    endpoint from counting as a regression. An error rate regresses when it exceeds the baseline by
    more than O(margin) and by more than O(min_delta_rate) (0.001 = 0.1 percentage points), so a
    baseline of 0 errors still tolerates nothing above that floor.
  - A series of the baseline that the current run did not measure is listed as C(not measured),
    never as a pass or a regression.
positional: _input
options:
  _input:
    description: The current run's snapshot.
    type: dict
    required: true
  baseline:
    description: The saved baseline snapshot; empty or null when there is none.
    type: dict
    required: true
  margin:
    description: Tolerated relative increase.
    type: float
    default: 0.2
  min_delta_ms:
    description: Tolerated absolute p95 increase in milliseconds.
    type: float
    default: 5.0
  min_delta_rate:
    description: Tolerated absolute error rate increase.
    type: float
    default: 0.001
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Compare with the baseline
  ansible.builtin.set_fact:
    _report: "{{ current | loadops.k6.regression_report(baseline, margin=0.2) }}"
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dict
  contains:
    status: {description: "V(passed), V(regressed) or V(no_baseline).", type: str}
    regressions: {description: The rows that regressed., type: list}
    rows: {description: "Every comparison: series, stat, baseline, current, change, limit, status.", type: list}
    table: {description: The rows as a text table., type: str}
    text: {description: "A heading (baseline, margin, status), the table and the note, as printed.", type: str}
    note: {description: What the comparison could not cover., type: str}
    baseline_run_id: {description: The run the baseline came from., type: str}
    margin: {description: The margin used., type: float}
    source: {description: V(endpoints) or V(request_types)., type: str}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import as_number


def _fmt(value, kind):
    if value is None:
        return "-"
    return "%.2f ms" % value if kind == "ms" else "%.2f%%" % (value * 100)


def _change(base, cur, kind):
    if base is None or cur is None:
        return "-"
    if base > 0:
        return "%+.0f%%" % ((cur - base) / base * 100)
    return "+%s" % _fmt(cur - base, kind) if cur > base else "+0"


def _row(series, stat, kind, base, cur, margin, floor):
    base, cur = as_number(base), as_number(cur)
    row = {"series": series, "stat": stat, "baseline": base, "current": cur, "limit": None,
           "baseline_text": _fmt(base, kind), "current_text": _fmt(cur, kind), "change_text": _change(base, cur, kind)}
    if base is None:
        row["status"] = "no baseline"
    elif cur is None:
        row["status"] = "not measured"
    else:
        row["limit"] = max(base * (1 + margin), base + floor)
        row["status"] = "REGRESSED" if cur > row["limit"] else "ok"
    row["limit_text"] = _fmt(row["limit"], kind)
    return row


def _table(rows):
    head = ("SERIES", "STAT", "BASELINE", "NOW", "CHANGE", "LIMIT", "RESULT")
    cells = [head] + [(r["series"], r["stat"], r["baseline_text"], r["current_text"], r["change_text"],
                       r["limit_text"], r["status"]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = []
    for i, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def regression_report(current, baseline, margin=0.2, min_delta_ms=5.0, min_delta_rate=0.001):
    if not isinstance(current, dict):
        raise AnsibleFilterError("regression_report expects the current run's baseline_snapshot, got %s"
                                 % type(current).__name__)
    margin, min_delta_ms, min_delta_rate = as_number(margin), as_number(min_delta_ms), as_number(min_delta_rate)
    if margin is None or margin < 0:
        raise AnsibleFilterError("regression_report: margin must be a number >= 0 (0.2 = 20 %%), got %r" % (margin,))
    if min_delta_ms is None or min_delta_ms < 0 or min_delta_rate is None or min_delta_rate < 0:
        raise AnsibleFilterError("regression_report: min_delta_ms and min_delta_rate must be numbers >= 0")
    result = {"status": "no_baseline", "regressions": [], "rows": [], "table": "", "note": "", "text": "",
              "baseline_run_id": None, "margin": margin, "source": current.get("source")}
    if not baseline:
        result["note"] = "no baseline for scenario %s yet; save one with scenario_run_save_baseline=true" % current.get("scenario")
        result["text"] = result["note"]
        return result
    if not isinstance(baseline, dict) or not isinstance(baseline.get("series"), dict):
        raise AnsibleFilterError("regression_report: the baseline is not a loadops.k6 baseline snapshot (no 'series')")
    result["baseline_run_id"] = baseline.get("run_id")
    notes = []
    if baseline.get("source") != current.get("source"):
        notes.append("the baseline was taken per %s and this run per %s: only series present in both are compared"
                     % (str(baseline.get("source")).replace("_", " "), str(current.get("source")).replace("_", " ")))
    elif current.get("note"):
        notes.append(current["note"])
    rows = []
    cur_series = current.get("series") or {}
    for name in sorted(baseline["series"]):
        base = baseline["series"][name] or {}
        cur = cur_series.get(name) or {}
        rows.append(_row(name, "p95", "ms", base.get("p95_ms"), cur.get("p95_ms"), margin, min_delta_ms))
        if as_number(base.get("failure_rate")) is not None and name != "http_req_duration":
            rows.append(_row(name, "error rate", "rate", base.get("failure_rate"), cur.get("failure_rate"),
                             margin, min_delta_rate))
    rows.append(_row("all requests", "error rate", "rate", baseline.get("error_rate"), current.get("error_rate"),
                     margin, min_delta_rate))
    new = sorted(set(cur_series) - set(baseline["series"]))
    if new:
        notes.append("not in the baseline, so not compared: %s" % ", ".join(new))
    rows = [r for r in rows if r["status"] != "no baseline"]
    result["rows"] = rows
    result["regressions"] = [r for r in rows if r["status"] == "REGRESSED"]
    result["status"] = "regressed" if result["regressions"] else "passed"
    result["table"] = _table(rows)
    result["note"] = "; ".join(notes)
    result["text"] = "\n".join(
        ["Regression check against baseline %s (margin %s %%, at least %s ms for p95): %s"
         % (result["baseline_run_id"], _trim(margin * 100), _trim(min_delta_ms), result["status"].upper()),
         result["table"]] + (["note: " + result["note"]] if result["note"] else []))
    return result


def _trim(number):
    return ("%.1f" % number).rstrip("0").rstrip(".")


class FilterModule(object):
    def filters(self):
        return {"regression_report": regression_report}
