# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to the loadops.k6 collection: no stability promise outside it, not meant to be
# imported by other collections.

"""Parse the results of a k6 1.1.0 run into plain data (the verdict is k6_result's).

Pure Python 3.9+ standard library; no Ansible imports, so it runs on any target and in plain
pytest. The shapes below were measured on real k6 1.1.0 runs; the fixtures and the script that
captured them are in ``tests/unit/fixtures/k6_1.1.0/``.

``--summary-export`` file, as k6 1.1.0 writes it::

    {"root_group": {"name": "", "path": "", "id": ...,
                    "groups": {"<name>": {<group>}, ...},
                    "checks": {"<name>": {"name", "path", "id", "passes", "fails"}, ...}},
     "metrics": {"<metric or metric{tag:value}>": {<values>, "thresholds": {"<expr>": bool}}}}

* Trend:   avg, min, med, max, p(90), p(95) (whatever ``summaryTrendStats`` asks for, e.g.
  p(99) and count). A percentile used by a threshold but missing from summaryTrendStats is NOT
  exported.
* Rate:    passes, fails, value. ``passes`` counts non-zero samples: for ``http_req_failed``
  that is the number of FAILED requests.
* Counter: count, rate.   * Gauge: value, min, max.
* The export carries no metric type; the type is inferred from these keys.
* ``thresholds`` map each expression, verbatim as written in the script, to **true when the
  threshold was crossed** (failed). This module turns that around: ``passed`` is True when the
  threshold held.
* Submetrics (``http_req_duration{name:/api/tasks/}``) appear only when a threshold references
  them (plus ``http_req_duration{expected_response:true}``, which k6 always adds). A submetric
  that matched no samples is exported with zeros and its thresholds pass.
* The metric key keeps the script's selector text except for whitespace next to the braces:
  ``iteration_duration{ scenario: default }`` is exported as ``iteration_duration{scenario: default}``.
"""

import json
import re

__all__ = [
    "parse_threshold_expression",
    "parse_metric_key",
    "parse_thresholds",
    "parse_checks",
    "parse_metrics",
    "parse_endpoints",
    "parse_summary",
    "error_hint",
    "load_summary_file",
    "declared_entries",
    "canonical_key",
    "unit_for",
    "metric_kind",
]


# ---------------------------------------------------------------------------------------------
# Threshold expressions
# ---------------------------------------------------------------------------------------------
_AGGREGATIONS = ("avg", "min", "max", "med", "count", "rate", "value")
_OPERATORS = ("===", "==", "!=", ">=", "<=", ">", "<")  # longest first
_EXPR = re.compile(
    r"^\s*(?P<stat>[A-Za-z]+|p\([^)]*\))\s*(?P<op>===|==|!=|>=|<=|>|<)\s*(?P<value>\S.*?)\s*$"
)
_NUMBER = re.compile(
    r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$", re.IGNORECASE
)
_PERCENTILE = re.compile(r"^p\((?P<n>\d+(?:\.\d+)?)\)$")


def parse_threshold_expression(expr):
    """Parse one k6 threshold expression such as ``p(95)<200``.

    Returns ``{"stat": "p(95)", "op": "<", "value": 200.0}``. Raises ValueError, naming the
    expression, for anything k6 would reject (``p(95)<200ms``, ``p95<200``, ``med=1``,
    ``p( 95 )<1``, ``AVG<1``). It is slightly stricter than k6 1.1.0 in one place: k6 accepts a
    percentile above 100 (``p(101)``); this raises.
    """
    if not isinstance(expr, str):
        raise ValueError("threshold expression must be a string, got %r" % (expr,))
    match = _EXPR.match(expr)
    if not match:
        raise ValueError(
            "invalid threshold expression %r: expected '<stat> <operator> <number>', e.g. "
            "'p(95)<200' (operators: %s)" % (expr, ", ".join(_OPERATORS))
        )
    stat, op, raw_value = match.group("stat"), match.group("op"), match.group("value")
    if stat.startswith("p("):
        pct = _PERCENTILE.match(stat)
        if not pct:
            raise ValueError(
                "invalid threshold expression %r: malformed percentile %r, write e.g. p(95) or "
                "p(99.9) with no spaces" % (expr, stat)
            )
        if not 0 <= float(pct.group("n")) <= 100:
            raise ValueError(
                "invalid threshold expression %r: percentile %s is outside 0..100"
                % (expr, pct.group("n"))
            )
    elif stat not in _AGGREGATIONS:
        raise ValueError(
            "invalid threshold expression %r: unknown aggregation %r (use one of %s or p(N))"
            % (expr, stat, ", ".join(_AGGREGATIONS))
        )
    if not _NUMBER.match(raw_value):
        raise ValueError(
            "invalid threshold expression %r: right-hand side %r is not a plain number "
            "(no units: durations are in milliseconds, rates between 0 and 1)" % (expr, raw_value)
        )
    return {"stat": stat, "op": op, "value": float(raw_value)}


# ---------------------------------------------------------------------------------------------
# Metric keys and values
# ---------------------------------------------------------------------------------------------
# Built-in k6 trends whose values are milliseconds. Custom Trends cannot be told apart in the
# export (it has no isTime flag), so they get unit "" unless their name ends in _duration.
_TIME_TRENDS = frozenset(
    (
        "http_req_duration",
        "http_req_blocked",
        "http_req_connecting",
        "http_req_tls_handshaking",
        "http_req_sending",
        "http_req_waiting",
        "http_req_receiving",
        "iteration_duration",
        "group_duration",
        "ws_connecting",
        "ws_session_duration",
        "ws_ping",
        "grpc_req_duration",
    )
)


def parse_metric_key(key):
    """Split ``http_req_duration{name:/api/tasks/,type:read}`` into name and tags.

    Returns ``("http_req_duration", {"name": "/api/tasks/", "type": "read"})``; tags are ``{}``
    for a plain metric. Whitespace and quotes around tag keys and values are dropped, like k6
    does when it parses a threshold's selector.
    """
    key = key.strip()
    brace = key.find("{")
    if brace < 0 or not key.endswith("}"):
        return key, {}
    name, inner = key[:brace].strip(), key[brace + 1:-1]
    tags = {}
    for part in inner.split(","):
        if not part.strip():
            continue
        tag, sep, value = part.partition(":")
        if not sep:
            return key, {}  # not a selector k6 would accept; keep the key whole
        tags[tag.strip().strip("'\"")] = value.strip().strip("'\"")
    return name, tags


def canonical_key(key):
    name, tags = parse_metric_key(key)
    return name, tuple(sorted(tags.items()))


def metric_kind(values):
    """trend, rate, counter or gauge, from the keys k6 exported for the metric."""
    if "passes" in values and "fails" in values:
        return "rate"
    if any(k in values for k in ("avg", "med")) or any(k.startswith("p(") for k in values):
        return "trend"
    if "count" in values and "rate" in values:
        return "counter"
    if "value" in values:
        return "gauge"
    return ""


def _stat_key(kind, stat, values):
    """The key under which the export holds ``stat`` for a metric of this kind."""
    if kind == "rate" and stat == "rate":
        return "value"
    if stat in values or not stat.startswith("p("):
        return stat
    wanted = _PERCENTILE.match(stat)
    if wanted:  # p(95) written in the threshold, p(95.0) in summaryTrendStats, or the reverse
        for candidate in values:
            found = _PERCENTILE.match(candidate)
            if found and float(found.group("n")) == float(wanted.group("n")):
                return candidate
    return stat


def unit_for(metric_name, kind, stat):
    if kind == "rate":
        return "rate"
    if kind == "counter":
        return "count/s" if stat == "rate" else "count"
    if kind == "trend":
        if stat == "count":
            return "count"
        if metric_name in _TIME_TRENDS or metric_name.endswith("_duration"):
            return "ms"
    return ""


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _observe(metric_key, values, stat):
    if stat is None:
        return {"stat": None, "value": None, "unit": ""}
    name, _tags = parse_metric_key(metric_key)
    kind = metric_kind(values)
    return {
        "stat": stat,
        "value": _number(values.get(_stat_key(kind, stat, values))),
        "unit": unit_for(name, kind, stat),
    }


def _metrics(summary):
    if not isinstance(summary, dict):
        return {}
    metrics = summary.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


# ---------------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------------
def declared_entries(declared):
    """[(metric_key, expression, abort_on_fail)] from a script's options.thresholds object."""
    entries = []
    if not isinstance(declared, dict):
        return entries
    for metric, items in declared.items():
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, (list, tuple)):
            continue
        for item in items:
            if isinstance(item, str):
                entries.append((metric, item, False))
            elif isinstance(item, dict) and isinstance(item.get("threshold"), str):
                entries.append((metric, item["threshold"], bool(item.get("abortOnFail", False))))
    return entries


def _crossed(flag):
    """The export says True when the threshold was crossed; handleSummary says {"ok": bool}."""
    if isinstance(flag, dict) and "ok" in flag:
        return not bool(flag["ok"])
    return bool(flag)


def parse_thresholds(summary, declared=None):
    """Every threshold in the export, with ``passed`` True when it HELD.

    ``declared`` is the script's thresholds object (entries are strings or
    ``{"threshold", "abortOnFail", ...}``); it supplies ``abort_on_fail`` (default False) and the
    order: declared thresholds first, in script order, then any others sorted by metric.
    """
    entries = declared_entries(declared)
    abort = {}
    order = {}
    for index, (metric, expression, abort_on_fail) in enumerate(entries):
        ident = (canonical_key(metric), expression.strip())
        abort[ident] = abort.get(ident, False) or abort_on_fail
        order.setdefault(ident, index)

    results = []
    for metric_key, values in _metrics(summary).items():
        if not isinstance(values, dict) or not isinstance(values.get("thresholds"), dict):
            continue
        for expression, flag in values["thresholds"].items():
            try:
                stat = parse_threshold_expression(expression)["stat"]
            except ValueError:
                stat = None
            ident = (canonical_key(metric_key), expression.strip())
            results.append(
                {
                    "metric": metric_key,
                    "expression": expression,
                    "passed": not _crossed(flag),
                    "observed": _observe(metric_key, values, stat),
                    "abort_on_fail": abort.get(ident, False),
                    "_order": (0, order[ident], "") if ident in order else (1, 0, metric_key),
                }
            )
    results.sort(key=lambda item: item["_order"])
    for item in results:
        del item["_order"]
    return results


# ---------------------------------------------------------------------------------------------
# Checks, metrics, endpoints
# ---------------------------------------------------------------------------------------------
def _children(container):
    if isinstance(container, dict):
        return [v for v in container.values() if isinstance(v, dict)]
    if isinstance(container, list):
        return [v for v in container if isinstance(v, dict)]
    return []


def as_number(value):
    """A float from a number or numeric string (JSON files, Jinja); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_observed(obs):
    """``{"stat": "p(95)", "value": 12.3, "unit": "ms"}`` -> ``p(95)=12.30 ms`` for tables and reports."""
    if not obs or obs.get("value") is None:
        return "no samples"
    value, unit = obs["value"], obs.get("unit") or ""
    if unit == "rate":
        text = "%.2f%%" % (value * 100)
    elif unit == "ms":
        text = "%.2f ms" % value
    elif isinstance(value, float) and not value.is_integer():
        text = "%.2f %s" % (value, unit)
    else:
        text = "%d %s" % (value, unit)
    return "%s=%s" % (obs.get("stat", "?"), text.strip())


def parse_checks(summary):
    """All checks from root_group and its nested groups, sorted by group path then name.

    ``path`` is the path of the group holding the check: ``""`` for the root group,
    ``"::read"`` for ``group('read', ...)``.
    """
    checks = []
    root = summary.get("root_group") if isinstance(summary, dict) else None
    pending = [root] if isinstance(root, dict) else []
    while pending:
        group = pending.pop()
        group_path = group.get("path", "")
        for check in _children(group.get("checks")):
            checks.append(
                {
                    "name": check.get("name", ""),
                    "path": group_path,
                    "passes": check.get("passes", 0),
                    "fails": check.get("fails", 0),
                }
            )
        pending.extend(_children(group.get("groups")))
    checks.sort(key=lambda c: (c["path"], c["name"]))
    return checks


_DURATION_STATS = (("avg", "avg"), ("med", "med"), ("p90", "p(90)"), ("p95", "p(95)"),
                   ("p99", "p(99)"), ("max", "max"))


def parse_metrics(summary):
    """Headline numbers of the run.

    Counts default to 0 when their metric is absent (no request made, nothing dropped);
    ``failure_rate`` and ``vus_max`` are None when absent; ``duration_ms`` holds only the stats
    that were exported.
    """
    metrics = _metrics(summary)

    def value(metric, key, default=None):
        values = metrics.get(metric)
        if isinstance(values, dict):
            found = _number(values.get(key))
            if found is not None:
                return found
        return default

    duration = metrics.get("http_req_duration")
    duration = duration if isinstance(duration, dict) else {}
    duration_ms = {}
    for out_key, stat in _DURATION_STATS:
        found = _number(duration.get(_stat_key("trend", stat, duration)))
        if found is not None:
            duration_ms[out_key] = found
    return {
        "requests": value("http_reqs", "count", 0),
        "request_rate": value("http_reqs", "rate", 0.0),
        "failure_rate": value("http_req_failed", "value"),
        "duration_ms": duration_ms,
        "iterations": value("iterations", "count", 0),
        "vus_max": value("vus_max", "value"),
        "data_sent_bytes": value("data_sent", "count", 0),
        "data_received_bytes": value("data_received", "count", 0),
        "dropped_iterations": value("dropped_iterations", "count", 0),
    }


def parse_endpoints(summary):
    """Per-endpoint numbers from submetrics selected by the ``name`` tag alone.

    Only what the script's thresholds made k6 export is available: ``count`` from
    ``http_reqs{name:X}`` (else the trend's count or the rate's samples), ``failure_rate`` from
    ``http_req_failed{name:X}``, ``p95_ms`` from ``http_req_duration{name:X}``; a missing one is
    None. An endpoint with no samples gets None for failure_rate and p95_ms (k6 exports zeros).
    Sorted by name.
    """
    found = {}
    for metric_key, values in _metrics(summary).items():
        if not isinstance(values, dict):
            continue
        name, tags = parse_metric_key(metric_key)
        if set(tags) != {"name"}:
            continue
        entry = found.setdefault(tags["name"], {})
        entry[name] = values

    endpoints = []
    for endpoint in sorted(found):
        series = found[endpoint]
        reqs = series.get("http_reqs", {})
        failed = series.get("http_req_failed", {})
        duration = series.get("http_req_duration", {})
        count = _number(reqs.get("count"))
        if count is None:
            count = _number(duration.get("count"))
        if count is None and "passes" in failed:
            count = (_number(failed.get("passes")) or 0) + (_number(failed.get("fails")) or 0)
        failure_rate = _number(failed.get("value"))
        if failed and (_number(failed.get("passes")) or 0) + (_number(failed.get("fails")) or 0) == 0:
            failure_rate = None
        p95 = _number(duration.get(_stat_key("trend", "p(95)", duration)))
        if count == 0:
            p95 = None
        endpoints.append(
            {"name": endpoint, "count": count, "failure_rate": failure_rate, "p95_ms": p95}
        )
    return endpoints


def parse_summary(summary, declared=None):
    """Everything above in one dict: thresholds, checks, metrics, endpoints."""
    return {
        "thresholds": parse_thresholds(summary, declared),
        "checks": parse_checks(summary),
        "metrics": parse_metrics(summary),
        "endpoints": parse_endpoints(summary),
    }


# ---------------------------------------------------------------------------------------------
# Hints and files
# ---------------------------------------------------------------------------------------------
_HINTS = {
    0: "no HTTP response: the target is unreachable (not running, wrong URL or port, DNS "
       "failure, or the request timed out)",
    400: "400 Bad Request: the target likely rejects the Host header (add the host name k6 "
         "uses to the target's ALLOWED_HOSTS)",
    401: "401 Unauthorized: missing or wrong credentials/token for the test user",
    403: "403 Forbidden: the test user's credentials lack permission for this endpoint",
    404: "404 Not Found: wrong path or base URL",
    429: "429 Too Many Requests: the target rate-limits the load generator (raise or exempt "
         "its limit, or lower the load)",
}


def error_hint(status):
    """A one-line hint for an HTTP status seen in failed requests (0 = no response)."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return "unrecognised status %r: check k6's log for the request error" % (status,)
    if code in _HINTS:
        return _HINTS[code]
    if 500 <= code <= 599:
        return "%d server error: the target failed while handling requests (check the "\
               "target's logs)" % code
    if 400 <= code <= 499:
        return "%d client error: the target refused the request as sent (check the request "\
               "and the target's logs)" % code
    return "HTTP %d: unexpected status for this endpoint (check expected_statuses and the "\
           "target's logs)" % code


def load_summary_file(path):
    """The parsed ``--summary-export`` file, or None when there is no usable one.

    None for a missing, empty, truncated (k6 killed mid-write) or non-object file; no
    ValueError escapes. Other OS errors (e.g. permission denied) propagate: they point at the
    runner's setup, not at k6's outcome.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    return data
