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
  - One row per threshold (metric, expression, observed value, PASS or FAIL), then the verdict,
    the load generator's health and the artifact paths.
positional: _input
options:
  _input:
    description: The registered result of M(loadops.k6.k6_run).
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
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import format_observed


def _mib(value):
    return "%.0f MiB" % (value / 1048576.0) if value else "-"


def verdict_table(result, host=""):
    if not isinstance(result, dict):
        raise AnsibleFilterError("verdict_table expects the registered result of loadops.k6.k6_run, got %s" % type(result).__name__)
    rows = [("THRESHOLD", "OBSERVED", "RESULT")]
    for th in result.get("thresholds") or []:
        rows.append(("%s %s" % (th.get("metric"), th.get("expression")), format_observed(th.get("observed")),
                     "PASS" if th.get("passed") else "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    title = "k6 run %s%s" % (result.get("testid", "?"), (" on %s" % host) if host else "")
    lines.append(title)
    lines.append("=" * len(title))
    if len(rows) > 1:
        for i, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
    else:
        lines.append("(no thresholds reported)")
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
    gen = result.get("generator") or {}
    if gen:
        health = "SATURATED: " + "; ".join(gen.get("reasons") or []) if gen.get("saturated") else "not saturated"
        lines.append("load generator: %s (limiter %s, memory peak %s of limit %s, cpu %ss)" % (
            health, gen.get("limiter"), _mib(gen.get("memory_peak_bytes")), _mib(gen.get("memory_limit_bytes")),
            gen.get("cpu_seconds") if gen.get("cpu_seconds") is not None else "-"))
    lines.append("VERDICT: %s (k6 rc %s) - %s" % (str(result.get("verdict") or "error").upper(), result.get("rc", "-"), result.get("msg", "")))
    artifacts = result.get("artifacts") or {}
    for key in ("summary", "html_report", "log"):
        if artifacts.get(key):
            lines.append("%s: %s" % (key, artifacts[key]))
    return "\n".join(lines)


class FilterModule(object):
    def filters(self):
        return {"verdict_table": verdict_table}
