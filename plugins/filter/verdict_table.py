# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: verdict_table
short_description: Render a k6_run result as a plain-text threshold table
version_added: 0.1.0
description:
  - One row per threshold (metric, expression, observed value, PASS or FAIL), then the checks and
    the request totals.
  - When the result has C(endpoints), up to five worst endpoints, one line each (requests, share
    failed, p95, statuses seen; status 0 means no HTTP response). Endpoints with failed requests come
    first (most failed requests first), then the slowest by p95.
  - When the result has C(errors), up to ten classes of failed requests (count, status, endpoint), each
    with its hint and k6's own error text.
  - A line naming the differences when k6's summary and loadops' own reduction of the samples
    disagree (C(evaluator.agrees) false).
  - Then the verdict, the load generator's health and the artifact paths (summary, report, log,
    reduction).
  - Missing or empty C(endpoints), C(errors) and C(evaluator) (results of older versions) print nothing.
  - Given the document of P(loadops.k6.run_verdict#filter) of a fleet run (it has C(distribution)), the
    table is the whole test's, judged on all machines' samples, then one line per machine (its own
    verdict, segment, start offset and requests).
positional: _input
options:
  _input:
    description: The registered result of M(loadops.k6.k6_run), or a fleet run's document.
    type: dict
    required: true
  host:
    description: Name printed in the heading.
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ k6_result | loadops.k6.verdict_table(host=inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The table, lines separated by newlines.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import as_number, error_hint, format_observed

WORST_ENDPOINTS = 5
ERROR_CLASSES = 10
ARTIFACTS = ("summary", "html_report", "log", "reduction")


def _mib(value):
    return "%.0f MiB" % (value / 1048576.0) if value else "-"


def _failed_count(endpoint):
    """Failed requests of an endpoint: its own count, else failure_rate x count, else None."""
    failed = as_number(endpoint.get("failed"))
    if failed is not None:
        return int(failed)
    rate, count = as_number(endpoint.get("failure_rate")), as_number(endpoint.get("count"))
    return int(round(rate * count)) if rate is not None and count is not None else None


def _failed_share(endpoint):
    rate = as_number(endpoint.get("failure_rate"))
    if rate is None:
        failed, count = _failed_count(endpoint), as_number(endpoint.get("count"))
        rate = failed / count if failed is not None and count else None
    return rate


def _statuses_text(statuses):
    if not isinstance(statuses, dict) or not statuses:
        return "-"
    counts = sorted(statuses.items(), key=lambda item: (-(as_number(item[1]) or 0), str(item[0])))
    return ", ".join("%s=%s" % (status, count) for status, count in counts)


def _worst_first(endpoint):
    failed = _failed_count(endpoint) or 0
    p95 = as_number(endpoint.get("p95_ms"))
    return (failed == 0 and not _failed_share(endpoint), -failed, -(_failed_share(endpoint) or 0),
            p95 is None, -(p95 or 0), str(endpoint.get("name")))


def _table_lines(rows, indent="", rule=False):
    """Rows of cells in aligned columns; with rule, a line of dashes under the first row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [(indent + "  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row))).rstrip() for row in rows]
    if rule:
        lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return lines


def _endpoint_lines(endpoints):
    """Up to WORST_ENDPOINTS endpoints that saw requests, worst first; [] when there are none."""
    measured = [e for e in endpoints if isinstance(e, dict) and e.get("count") != 0]
    if not measured:
        return []
    rows = []
    for endpoint in sorted(measured, key=_worst_first)[:WORST_ENDPOINTS]:
        share, p95 = _failed_share(endpoint), as_number(endpoint.get("p95_ms"))
        rows.append((str(endpoint.get("name")),
                     "%s req" % ("-" if endpoint.get("count") is None else endpoint.get("count")),
                     "failed %s" % ("-" if share is None else "%.2f%%" % (share * 100)),
                     "p95 %s" % ("-" if p95 is None else "%.2f ms" % p95),
                     "statuses %s" % _statuses_text(endpoint.get("statuses"))))
    heading = "endpoints, worst first (%d of %d):" % (len(rows), len(measured)) if len(measured) > len(rows) \
        else "endpoints, worst first:"
    return [heading] + _table_lines(rows, "  ")


def _error_lines(errors):
    """One line per class of failed requests (up to ERROR_CLASSES); [] when there are none."""
    errors = [e for e in errors if isinstance(e, dict)]
    if not errors:
        return []
    errors = sorted(errors, key=lambda e: -(as_number(e.get("count")) or 0))
    lines = ["failed requests by status:"]
    for error in errors[:ERROR_CLASSES]:
        status = error.get("status")
        hint = error.get("hint") or error_hint(status)
        line = "  %s x status %s on %s: %s" % (error.get("count"), status, error.get("endpoint"), hint)
        lines.append(line + (" (k6: %s)" % error["error"] if error.get("error") else ""))
    rest = errors[ERROR_CLASSES:]
    if rest:
        lines.append("  ... and %d more classes (%d requests)" % (
            len(rest), sum(int(as_number(e.get("count")) or 0) for e in rest)))
    return lines


def _evaluator_lines(evaluator):
    if not isinstance(evaluator, dict) or evaluator.get("agrees") is not False:
        return []
    differences = [str(d) for d in evaluator.get("differences") or []]
    return ["k6 and loadops disagree on: %s" % ("; ".join(differences) or "(no details given)")]


def _threshold_lines(result):
    rows = [("THRESHOLD", "OBSERVED", "RESULT")]
    for th in result.get("thresholds") or []:
        verdict = "PASS" if th.get("passed") else "FAIL"
        if "final" in th:  # an incomplete fleet run: judged on the samples that arrived
            verdict += " (final)" if th["final"] else " (so far)"
        rows.append(("%s %s" % (th.get("metric"), th.get("expression")), format_observed(th.get("observed")), verdict))
    if len(rows) == 1:
        return ["(no thresholds reported)"]
    return _table_lines(rows, rule=True)


def _totals_lines(result):
    lines = []
    checks = result.get("checks") or []
    if checks:
        fails = sum(c.get("fails", 0) for c in checks)
        total = fails + sum(c.get("passes", 0) for c in checks)
        lines.append("checks: %d of %d passed" % (total - fails, total))
    metrics = result.get("metrics") or {}
    if metrics:
        lines.append("requests: %s (%.1f/s), failed %.2f%%, iterations %s, max VUs %s" % (
            metrics.get("requests", 0), metrics.get("request_rate") or 0.0, (metrics.get("failure_rate") or 0.0) * 100,
            metrics.get("iterations", 0), metrics.get("vus_max", "-")))
    return lines


def _fleet_lines(doc):
    start = doc.get("start") or {}
    distribution = doc.get("distribution") or {}
    segments = distribution.get("hosts") or {}
    lines = ["load machines (%s%s; start skew %s):" % (
        distribution.get("mode") or "?", (", sequence " + distribution["sequence"]) if distribution.get("sequence") else "",
        "%.1f ms" % start["skew_ms"] if start.get("skew_ms") is not None else "-")]
    for host in sorted(doc.get("hosts") or {}):
        entry = doc["hosts"][host] or {}
        resumed = (start.get("hosts") or {}).get(host) or {}
        late = resumed.get("late_ms")
        lines.append("  %s: %s, segment %s, started %s, %s requests%s" % (
            host, entry.get("verdict"), (segments.get(host) or {}).get("segment") or "whole script",
            "%+.1f ms" % late if late is not None else "-", (entry.get("metrics") or {}).get("requests", "-"),
            (" - " + entry["msg"]) if entry.get("verdict") not in ("passed", "thresholds_failed") and entry.get("msg") else ""))
    return lines


def _head_lines(result, title):
    """Title, thresholds, totals, worst endpoints and failed requests: one machine's or the fleet's."""
    lines = [title, "=" * len(title)] + _threshold_lines(result) + _totals_lines(result)
    return lines + _endpoint_lines(result.get("endpoints") or []) + _error_lines(result.get("errors") or [])


def _fleet_table(doc, host):
    result = {"testid": doc.get("run_id"), "thresholds": doc.get("thresholds"), "checks": (doc.get("checks") or {}).get("list"),
              "metrics": doc.get("metrics"), "endpoints": doc.get("endpoints"), "errors": doc.get("errors")}
    lines = _head_lines(result, "k6 run %s on %s" % (
        doc.get("run_id", "?"), host or "all %d load machines" % len(doc.get("hosts") or {})))
    lines += _fleet_lines(doc)
    lines.append("VERDICT: %s (all load machines' samples) - %s" % (str(doc.get("verdict") or "error").upper(), doc.get("reason", "")))
    return "\n".join(lines)


def verdict_table(result, host=""):
    if not isinstance(result, dict):
        raise AnsibleFilterError("verdict_table expects the registered result of loadops.k6.k6_run, got %s" % type(result).__name__)
    if "hosts" in result and result.get("distribution"):
        return _fleet_table(result, host)
    lines = _head_lines(result, "k6 run %s%s" % (result.get("testid", "?"), (" on %s" % host) if host else ""))
    lines += _evaluator_lines(result.get("evaluator"))
    gen = result.get("generator") or {}
    if gen:
        health = "SATURATED: " + "; ".join(gen.get("reasons") or []) if gen.get("saturated") else "not saturated"
        lines.append("load generator: %s (limiter %s, memory peak %s of limit %s, cpu %ss)" % (
            health, gen.get("limiter"), _mib(gen.get("memory_peak_bytes")), _mib(gen.get("memory_limit_bytes")),
            gen.get("cpu_seconds") if gen.get("cpu_seconds") is not None else "-"))
    lines.append("VERDICT: %s (k6 rc %s) - %s" % (str(result.get("verdict") or "error").upper(), result.get("rc", "-"), result.get("msg", "")))
    artifacts = result.get("artifacts") or {}
    for key in ARTIFACTS:
        if artifacts.get(key):
            lines.append("%s: %s" % (key, artifacts[key]))
    return "\n".join(lines)


class FilterModule(object):
    def filters(self):
        return {"verdict_table": verdict_table}
