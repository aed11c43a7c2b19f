# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: k6_progress
short_description: One progress line from k6's REST API metrics
version_added: 0.1.0
description:
  - Reads the JSON of k6's C(GET /v1/metrics) (the running test's metrics so far) and returns one
    line - elapsed and expected time, active VUs, requests, error rate and p95 request duration.
  - Values k6 has not reported yet (no request made) show as C(-).
positional: _input
options:
  _input:
    description: The parsed body of C(/v1/metrics), or null when k6's API did not answer.
    type: raw
    required: true
  elapsed_s:
    description: Seconds since the run started.
    type: float
    required: true
  total_s:
    description: The scenario's expected duration in seconds (from C(k6 inspect)).
    type: float
    default: 0
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Show progress
  ansible.builtin.debug:
    msg: "{{ metrics_probe.json | default(none) | loadops.k6.k6_progress(elapsed_s=42, total_s=840) }}"
"""

RETURN = r"""
_value:
  description: The progress line.
  type: str
"""


def _clock(seconds):
    seconds = int(max(0, round(float(seconds or 0))))
    return "%d:%02d" % (seconds // 60, seconds % 60) if seconds < 3600 else "%d:%02d:%02d" % (
        seconds // 3600, seconds // 60 % 60, seconds % 60)


def _samples(body):
    found = {}
    data = body.get("data") if isinstance(body, dict) else None
    for item in data or []:
        if isinstance(item, dict):
            found[item.get("id")] = ((item.get("attributes") or {}).get("sample") or {})
    return found


def k6_progress(body, elapsed_s, total_s=0):
    elapsed = _clock(elapsed_s)
    total = _clock(total_s) if total_s else "?"
    if not isinstance(body, dict):
        return "%s of %s elapsed; k6 is not reporting yet (starting, or its API did not answer)" % (elapsed, total)
    samples = _samples(body)
    vus = samples.get("vus", {}).get("value")
    requests = samples.get("http_reqs", {}).get("count")
    rate = samples.get("http_req_failed", {}).get("rate")
    p95 = samples.get("http_req_duration", {}).get("p(95)")
    return "%s of %s elapsed, %s VUs, %s requests, errors %s, p95 %s" % (
        elapsed, total,
        "-" if vus is None else int(vus),
        "-" if requests is None else int(requests),
        "-" if rate is None else "%.2f%%" % (float(rate) * 100),
        "-" if p95 is None else "%.1f ms" % float(p95))


class FilterModule(object):
    def filters(self):
        return {"k6_progress": k6_progress}
