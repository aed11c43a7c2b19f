# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k6's thresholds judged by us, from a reduction (k6_samples), with k6 1.1.0's semantics.

Private to the loadops.k6 collection: no stability promise outside it. Standard library only.

What k6 1.1.0 does, and this module repeats (metrics/sink.go, metrics/thresholds.go,
metrics/metric.go, internal/metrics/engine/engine.go at tag v1.1.0):

* A threshold's key is cut at the first ``{``: the metric's name, then a selector
  ``key:value,...`` whose keys and values are trimmed of spaces and of ``"`` and ``'``. A sample
  belongs to the submetric when its tags hold every pair of the selector.
* Trend: min, max, avg = sum / count, med = P(0.5), p(X) = P(X / 100), where P sorts the values
  and interpolates linearly at rank p * (n - 1). No values: every stat is 0.
* Rate: non-zero values / all values; no values: the threshold passes (there is no "rate").
* Counter: count = the sum, rate = the sum / the test's duration. Gauge: the last value.
* At the end of the test every threshold is evaluated, empty or not; operators are those
  k6_summary.parse_threshold_expression accepts, and ``==`` equals ``===``.

Also from the reduction: every endpoint (k6's ``name`` tag, which is the URL when the script set
no name) with its count, failures, statuses and latency, and the failed requests by endpoint and
status, each with a hint.
"""
from __future__ import annotations

import math
import operator

from . import k6_summary as summ

# Built-in metrics of k6 1.1.0 and their kind (custom ones are known from the stream or the
# summary export).
_COUNTERS = ("http_reqs", "iterations", "data_sent", "data_received", "dropped_iterations", "ws_msgs_sent",
             "ws_msgs_received", "ws_sessions", "grpc_streams", "grpc_streams_msgs_sent", "grpc_streams_msgs_received")
_TRENDS = ("http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking",
           "http_req_sending", "http_req_waiting", "http_req_receiving", "iteration_duration", "group_duration",
           "ws_connecting", "ws_session_duration", "ws_ping", "grpc_req_duration")
BUILTIN_KINDS = dict([(name, "counter") for name in _COUNTERS] + [(name, "trend") for name in _TRENDS]
                     + [("http_req_failed", "rate"), ("checks", "rate"), ("vus", "gauge"), ("vus_max", "gauge")])

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "===": operator.eq, "!=": operator.ne}


def percentile(values, pct):
    """k6's TrendSink.P over sorted values, pct in 0..1."""
    count = len(values)
    if count == 0:
        return 0.0
    if count == 1:
        return values[0]
    rank = pct * (float(count) - 1.0)
    low = values[int(math.floor(rank))]
    high = values[int(math.ceil(rank))]
    return low + (high - low) * (rank - math.floor(rank))


def parse_selector(key):
    """('http_req_duration', {'name': 'ok'}) from a threshold's key, as k6 cuts and trims it.

    ValueError (naming the key) for what k6 refuses: a ``{`` without the closing ``}`` at the
    end, an empty selector, a pair without a value."""
    name, brace, rest = key.partition("{")
    if not brace:
        if "}" in key:
            raise ValueError("metric %r has a closing brace without an opening one" % key)
        return key, {}
    if not rest.endswith("}"):
        raise ValueError("metric %r: a submetric is written metric{key:value}, ending in '}'" % key)
    inner = rest[:-1].strip()
    if not inner:
        raise ValueError("metric %r: the submetric selector is empty" % key)
    tags = {}
    for pair in inner.split(","):
        if not pair:
            continue
        tag, _sep, value = pair.partition(":")
        if not value.strip():
            raise ValueError("metric %r: the selector part %r has no value" % (key, pair.strip()))
        tags[tag.strip().strip("\"'")] = value.strip().strip("\"'")
    return name, tags


def matching(reduction, metric, tags):
    """The series of ``metric`` whose tags hold every selector pair."""
    wanted = set(tags.items())
    return [s for s in reduction.series.values() if s.metric == metric and wanted.issubset(s.tags)]


def kind_of(reduction, metric, hints=None):
    known = (reduction.types.get(metric) or {}).get("type")
    return known or BUILTIN_KINDS.get(metric) or (hints or {}).get(metric)


def _sorted_values(series):
    runs = [s.values for s in series if s.values is not None]
    if len(runs) == 1:
        return runs[0]
    return sorted(v for run in runs for v in run)


def stat_value(kind, series, stat, duration_ns):
    """The value k6 would compare for ``stat``: a float, or None when k6 has none (empty Rate, a
    percentile of a trend whose values were not kept, a stat the kind lacks)."""
    count = sum(s.count for s in series)
    if kind == "counter":
        total = sum(s.sum for s in series)
        if stat == "count":
            return total
        return total / (duration_ns / 1e9) if stat == "rate" and duration_ns else (0.0 if stat == "rate" else None)
    if kind == "rate":
        return (sum(s.trues for s in series) / float(count) if count else None) if stat == "rate" else None
    if kind == "gauge":
        return _gauge(series, stat)
    if kind == "trend":
        return _trend(series, count, stat)
    return None


def _gauge(series, stat):
    if not series:
        return 0.0 if stat in ("value", "max", "min") else None
    if stat == "value":
        return max(series, key=lambda s: s.seq).last
    if stat == "max":
        return max([0.0] + [s.max for s in series])  # k6's GaugeSink.Max starts at 0
    return min(s.min for s in series) if stat == "min" else None


def _trend(series, count, stat):
    if stat == "min":
        return min(s.min for s in series) if count else 0.0
    if stat == "max":
        return max(s.max for s in series) if count else 0.0
    if stat == "avg":
        return sum(s.sum for s in series) / count if count else 0.0
    if stat == "count":
        return None  # k6 refuses count on a trend
    pct = 0.5 if stat == "med" else _pct(stat)
    if pct is None:
        return None
    if count and any(s.values is None for s in series):
        return None
    return percentile(_sorted_values(series), pct)


def _pct(stat):
    if not stat.startswith("p(") or not stat.endswith(")"):
        return None
    try:
        return float(stat[2:-1]) / 100
    except ValueError:
        return None


def evaluate(reduction, declared, duration_ns, hints=None):
    """Every threshold of the script's options.thresholds, judged on the reduction.

    [{"metric", "expression", "passed", "observed": {"stat", "value", "unit"}, "abort_on_fail"}];
    ``passed`` is None (and ``problem`` says why) when it cannot be judged here."""
    out = []
    for metric_key, expression, abort in summ.declared_entries(declared):
        item = {"metric": metric_key, "expression": expression, "abort_on_fail": abort}
        try:
            metric, tags = parse_selector(metric_key)
            parsed = summ.parse_threshold_expression(expression)
        except ValueError as exc:
            out.append(dict(item, passed=None, observed=None, problem=str(exc)))
            continue
        kind = kind_of(reduction, metric, hints)
        value = stat_value(kind, matching(reduction, metric, tags), parsed["stat"], duration_ns)
        item["observed"] = {"stat": parsed["stat"], "value": value, "unit": summ.unit_for(metric, kind, parsed["stat"])}
        if kind is None:
            item.update(passed=None, problem="the kind of metric %s is unknown (no samples, no export)" % metric)
        elif value is None and not (kind == "rate" and parsed["stat"] == "rate"):
            item.update(passed=None, problem="%s of %s cannot be computed from the reduction" % (parsed["stat"], metric))
        else:
            item["passed"] = True if value is None else _OPS[parsed["op"]](value, parsed["value"])
        out.append(item)
    return out


def _close(ours, theirs):
    if ours == theirs:
        return True
    if ours is None or theirs is None:
        return False
    return abs(ours - theirs) <= 1e-12 * max(abs(ours), abs(theirs), 1.0)


def compare(k6_thresholds, ours):
    """k6's verdicts (k6_summary.parse_thresholds) against ours, threshold by threshold.

    Returns (differences, compared). A value k6 did not export (a percentile that is not in
    summaryTrendStats) is filled in from ours, in place, with ``source: loadops``."""
    mine = dict(((summ.canonical_key(t["metric"]), t["expression"].strip()), t) for t in ours)
    differences, compared = [], 0
    for theirs in k6_thresholds:
        label = "%s %s" % (theirs["metric"], theirs["expression"])
        own = mine.get((summ.canonical_key(theirs["metric"]), theirs["expression"].strip()))
        if own is None or own.get("passed") is None:
            differences.append("%s: not judged by loadops (%s)" % (label, (own or {}).get("problem", "not declared")))
            continue
        compared += 1
        if own["passed"] != theirs["passed"]:
            differences.append("%s: k6 says %s, loadops says %s" % (
                label, _word(theirs["passed"]), _word(own["passed"])))
        observed = theirs.get("observed") or {}
        own_value = (own.get("observed") or {}).get("value")
        if own_value is None and own["passed"] and observed.get("stat") == "rate":
            continue  # an empty Rate: k6 has no value to judge (it passes) and exports 0
        if observed.get("value") is None:
            if own_value is not None and observed.get("stat"):
                theirs["observed"] = dict(observed, value=own_value, source="loadops")
        elif not _close(own_value, observed["value"]):
            differences.append("%s: k6 observed %r, loadops %r" % (label, observed["value"], own_value))
    return differences, compared


def _word(passed):
    return "passed" if passed else "failed"


def duration_ns_from(summary_metrics, reduction):
    """The test's duration as k6 counted it: from a counter's count / rate in the export (k6
    divides by exactly that duration); else the span of the samples."""
    for name in ("iterations", "http_reqs", "data_sent"):
        values = summary_metrics.get(name) if isinstance(summary_metrics, dict) else None
        if isinstance(values, dict) and values.get("rate") and values.get("count"):
            return int(round(values["count"] / values["rate"] * 1e9))
    return _span_ns(reduction.first_time, reduction.last_time)


def _span_ns(first, last):
    if not first or not last:
        return 0
    return max(_epoch_ns(last) - _epoch_ns(first), 0)


def _epoch_ns(stamp):
    import calendar
    import time
    head, _dot, frac = stamp.rstrip("Z").partition(".")
    try:
        seconds = calendar.timegm(time.strptime(head[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0
    return seconds * 10 ** 9 + int((frac + "000000000")[:9] or 0)


def kinds_from_export(summary_metrics):
    """{metric: kind} from a summary export (it has no type field; k6_summary infers it)."""
    kinds = {}
    for key, values in (summary_metrics or {}).items():
        if isinstance(values, dict):
            kind = summ.metric_kind(values)
            if kind:
                kinds.setdefault(summ.parse_metric_key(key)[0], kind)
    return kinds


# ---------------------------------------------------------------------------------------------
# Endpoints and failures
# ---------------------------------------------------------------------------------------------
def _endpoint_of(tags):
    return tags.get("name") or tags.get("url") or "(unnamed)"


def endpoints(reduction):
    """One entry per endpoint, sorted by name: count, failed, failure_rate, p50/p95/p99/avg/max in
    ms (None without requests), methods and the count of each status ("0": no response)."""
    found = {}
    for series in reduction.series.values():
        if series.metric not in ("http_reqs", "http_req_failed", "http_req_duration"):
            continue
        tags = dict(series.tags)
        entry = found.setdefault(_endpoint_of(tags), {"count": 0, "failed": 0, "judged": 0, "methods": set(),
                                                      "statuses": {}, "durations": []})
        if series.metric == "http_reqs":
            entry["count"] += int(series.sum)
            status = tags.get("status", "")
            entry["statuses"][status] = entry["statuses"].get(status, 0) + int(series.sum)
            entry["methods"].add(tags.get("method", ""))
        elif series.metric == "http_req_failed":
            entry["failed"] += series.trues
            entry["judged"] += series.count
        else:
            entry["durations"].append(series)
    return [_endpoint(name, found[name]) for name in sorted(found)]


def _endpoint(name, entry):
    durations = entry["durations"]
    count = sum(s.count for s in durations)
    out = {"name": name, "methods": sorted(m for m in entry["methods"] if m), "count": entry["count"],
           "failed": entry["failed"],
           "failure_rate": entry["failed"] / float(entry["judged"]) if entry["judged"] else None,
           "statuses": dict(sorted(entry["statuses"].items()))}
    for key, stat in (("p50_ms", "p(50)"), ("p95_ms", "p(95)"), ("p99_ms", "p(99)"), ("avg_ms", "avg"),
                      ("max_ms", "max")):
        out[key] = _trend(durations, count, stat) if count else None
    return out


def errors(reduction):
    """Failed requests (k6's http_req_failed) by endpoint and status, most frequent first:
    [{"endpoint", "status", "count", "hint", "error"}]; ``error`` is k6's own error text, if any."""
    found = {}
    for series in reduction.series.values():
        if series.metric != "http_req_failed" or not series.trues:
            continue
        tags = dict(series.tags)
        status = _status(tags.get("status"))
        key = (_endpoint_of(tags), status)
        entry = found.setdefault(key, {"endpoint": key[0], "status": status, "count": 0,
                                       "hint": summ.error_hint(status), "error": ""})
        entry["count"] += series.trues
        entry["error"] = entry["error"] or tags.get("error", "")
    return sorted(found.values(), key=lambda e: (-e["count"], e["endpoint"], str(e["status"])))


def _status(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return text
