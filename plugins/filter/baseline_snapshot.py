# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: baseline_snapshot
short_description: The numbers of a run that a later run is compared with
version_added: 0.1.0
description:
  - From the M(loadops.k6.k6_run) results of every load machine of one run, the p95 latency per
    series and the error rate, as saved in C(baselines/<scenario>.json) and compared by
    P(loadops.k6.regression_report#filter).
  - Per endpoint when the run's summary holds C(name) submetrics (the module's C(endpoints) return,
    filled when the script's thresholds mention C(http_req_duration{name:...})); C(source) is then
    V(endpoints).
  - Otherwise per request type and overall, from what the summary does hold - the
    C(http_req_duration{...}) thresholds observed at p(95) and the overall C(http_req_duration)
    p95 - with C(source) V(request_types) and a C(note) saying so. No number is made up; a series
    without samples is left out.
  - Several load machines are combined conservatively - the highest p95 of any machine, request
    counts added, error rates weighted by requests.
positional: _input
options:
  _input:
    description: Mapping of load machine name to its registered M(loadops.k6.k6_run) result.
    type: dict
    required: true
  scenario:
    description: Scenario name.
    type: str
    required: true
  run_id:
    description: The run's id.
    type: str
    required: true
  created_at:
    description: When the run started (ISO 8601).
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Save this run as the scenario's baseline
  ansible.builtin.copy:
    content: "{{ results_by_host | loadops.k6.baseline_snapshot(scenario='load', run_id=testid) | to_nice_json }}"
    dest: baselines/load.json
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The snapshot.
  type: dict
  contains:
    scenario: {description: Scenario name., type: str}
    run_id: {description: The run it was taken from., type: str}
    created_at: {description: When that run started., type: str}
    source: {description: V(endpoints) or V(request_types)., type: str}
    note: {description: Why per-endpoint numbers are missing, or empty., type: str}
    series: {description: "Series name -> C(p95_ms), C(count), C(failure_rate) (null when unknown).", type: dict}
    requests: {description: Requests over all machines., type: int}
    error_rate: {description: Share of failed requests over all machines (null when unknown)., type: float}
    hosts: {description: The load machines of the run., type: list}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import as_number

NOTE_NO_ENDPOINTS = ("per-endpoint p95 is not in this run's summary (the scenario has no "
                     "http_req_duration{name:...} submetrics), so the comparison uses the request types "
                     "and the overall p95 that the summary does hold")


class _Series(object):
    def __init__(self):
        self.p95 = None
        self.count = 0
        self.failed = 0.0
        self.rate_known = True

    def add(self, p95, count, failure_rate):
        p95 = as_number(p95)
        if p95 is not None:
            self.p95 = p95 if self.p95 is None else max(self.p95, p95)
        count = int(as_number(count) or 0)
        self.count += count
        rate = as_number(failure_rate)
        if rate is None:
            self.rate_known = False
        else:
            self.failed += rate * count

    def doc(self):
        rate = None
        if self.rate_known and self.count:
            rate = round(self.failed / self.count, 6)
        return {"p95_ms": None if self.p95 is None else round(self.p95, 3), "count": self.count, "failure_rate": rate}


def _by_endpoint(result, series):
    for endpoint in result.get("endpoints") or []:
        # count is None when the script has no http_reqs{name:...} submetric: p95 still counts.
        if endpoint.get("count") == 0 or endpoint.get("p95_ms") is None:
            continue
        series.setdefault("endpoint %s" % endpoint.get("name"), _Series()).add(
            endpoint.get("p95_ms"), endpoint.get("count"), endpoint.get("failure_rate"))


def _by_type(result, series):
    for threshold in result.get("thresholds") or []:
        metric = str(threshold.get("metric") or "")
        observed = threshold.get("observed") or {}
        if not metric.startswith("http_req_duration{") or observed.get("stat") != "p(95)":
            continue
        if observed.get("value") is None:
            continue
        series.setdefault(metric, _Series()).add(observed.get("value"), None, None)
    p95 = ((result.get("metrics") or {}).get("duration_ms") or {}).get("p95")
    if p95 is not None:
        metrics = result.get("metrics") or {}
        series.setdefault("http_req_duration", _Series()).add(p95, metrics.get("requests"), metrics.get("failure_rate"))


def baseline_snapshot(results, scenario, run_id, created_at=""):
    if not isinstance(results, dict):
        raise AnsibleFilterError("baseline_snapshot expects a mapping of host name to k6_run result, got %s"
                                 % type(results).__name__)
    usable = {host: r for host, r in results.items() if isinstance(r, dict)}
    with_endpoints = any(any(e.get("count") != 0 and e.get("p95_ms") is not None for e in (r.get("endpoints") or []))
                         for r in usable.values())
    series = {}
    requests, failed, rate_known = 0, 0.0, False
    for host in sorted(usable):
        result = usable[host]
        (_by_endpoint if with_endpoints else _by_type)(result, series)
        metrics = result.get("metrics") or {}
        count = int(as_number(metrics.get("requests")) or 0)
        rate = as_number(metrics.get("failure_rate"))
        requests += count
        if rate is not None:
            failed += rate * count
            rate_known = True
    docs = {name: s.doc() for name, s in sorted(series.items())}
    # Series that carried no count of their own (request types) get no failure_rate.
    for name, doc in docs.items():
        if not with_endpoints and name != "http_req_duration":
            doc["count"] = None
            doc["failure_rate"] = None
    return {
        "scenario": scenario,
        "run_id": run_id,
        "created_at": created_at,
        "source": "endpoints" if with_endpoints else "request_types",
        "note": "" if with_endpoints else NOTE_NO_ENDPOINTS,
        "series": docs,
        "requests": requests,
        "error_rate": round(failed / requests, 6) if rate_known and requests else None,
        "hosts": sorted(usable),
    }


class FilterModule(object):
    def filters(self):
        return {"baseline_snapshot": baseline_snapshot}
