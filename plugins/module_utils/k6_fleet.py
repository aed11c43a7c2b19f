# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verdict for a test that ran on several load machines (a fleet run).

Private to the loadops.k6 collection: no stability promise outside it. Standard library only.

Each machine's k6_run wrote the exact reduction of its samples (k6_samples); the controller merges
them and judges the script's thresholds on the union with the same evaluator a single machine uses
(k6_evaluate), so every count, min, max and percentile is the one k6 would print had one machine
produced every sample (sums, hence averages, may differ in the last bits: addition order).

A counter's rate is over the test's duration: the longest of the machines' (each k6 counts from its
own start, and the machines start together).

When a machine did not deliver all of its share (an incomplete run), the thresholds judged on the
samples that did arrive are information, except a failure that more samples could not undo
(final_failure): a maximum above its bound, a minimum below its bound, a count above its bound.

abortOnFail is decided the same way, while the test runs (abort_check): each machine's k6 runs with
--no-thresholds and writes the reduction of its samples so far; the controller merges them every few
seconds and stops every machine when an abortOnFail threshold is crossed on all of them together.
"""
from __future__ import annotations

from . import k6_command as cmdlib
from . import k6_evaluate as evaluation
from . import k6_samples as samples
from . import k6_summary as summ


def declared_from(threshold_lists):
    """The script's thresholds object, rebuilt from k6_run results' ``thresholds`` lists (every
    machine ran the same script; the first list that has any wins)."""
    for items in threshold_lists:
        declared = {}
        for item in items or []:
            if isinstance(item, dict) and item.get("metric") and item.get("expression"):
                declared.setdefault(item["metric"], []).append(
                    {"threshold": item["expression"], "abortOnFail": bool(item.get("abort_on_fail"))})
        if declared:
            return declared
    return {}


def _metric_values(reduction, metric):
    return [s for s in reduction.series.values() if s.metric == metric]


def _count(reduction, metric):
    return sum(s.sum for s in _metric_values(reduction, metric))


def metrics(reduction, duration_ns, vus_max=None):
    """The headline numbers, in k6_summary.parse_metrics' shape, for the whole fleet."""
    durations = _metric_values(reduction, "http_req_duration")
    count = sum(s.count for s in durations)
    duration_ms = {}
    if count:
        for key, stat in (("avg", "avg"), ("med", "med"), ("p90", "p(90)"), ("p95", "p(95)"), ("p99", "p(99)"),
                          ("max", "max")):
            value = evaluation.stat_value("trend", durations, stat, duration_ns)
            if value is not None:
                duration_ms[key] = value
    failed = _metric_values(reduction, "http_req_failed")
    judged = sum(s.count for s in failed)
    requests = _count(reduction, "http_reqs")
    return {
        "requests": requests,
        "request_rate": requests / (duration_ns / 1e9) if duration_ns else 0.0,
        "failure_rate": sum(s.trues for s in failed) / float(judged) if judged else None,
        "duration_ms": duration_ms,
        "iterations": _count(reduction, "iterations"),
        "vus_max": vus_max,
        "data_sent_bytes": _count(reduction, "data_sent"),
        "data_received_bytes": _count(reduction, "data_received"),
        "dropped_iterations": _count(reduction, "dropped_iterations"),
    }


def checks(reduction):
    """Every check, summed over the machines: [{"name", "path", "passes", "fails"}] as k6_summary
    parses them from one machine's export."""
    found = {}
    for series in _metric_values(reduction, "checks"):
        tags = dict(series.tags)
        key = (tags.get("group", ""), tags.get("check", ""))
        entry = found.setdefault(key, {"name": key[1], "path": key[0], "passes": 0, "fails": 0})
        entry["passes"] += series.trues
        entry["fails"] += series.count - series.trues
    return [found[key] for key in sorted(found)]


def judge(reductions, summaries, threshold_lists, secrets_mask=None):
    """reductions: {host: Reducer}; summaries: {host: k6's summary export or None};
    threshold_lists: k6_run results' ``thresholds`` lists. Returns the fleet's numbers."""
    # Merged in the order the machines' streams ended, so that a Gauge's last value is the one
    # written last (to the nanosecond of k6's timestamps; a tie keeps the names' order).
    merged = samples.merge(reductions[h] for h in sorted(reductions, key=lambda h: (reductions[h].last_time or "", h)))
    hints, durations, vus_max = {}, [], 0
    for host in sorted(reductions):
        metrics_export = ((summaries.get(host) or {}).get("metrics")) or {}
        for metric, kind in evaluation.kinds_from_export(metrics_export).items():
            hints.setdefault(metric, kind)
        durations.append(evaluation.duration_ns_from(metrics_export, reductions[host]))
        vus = metrics_export.get("vus_max")
        if isinstance(vus, dict) and summ.as_number(vus.get("max", vus.get("value"))) is not None:
            vus_max += summ.as_number(vus.get("max", vus.get("value")))
    duration_ns = max(durations) if durations else 0
    thresholds = evaluation.evaluate(merged, declared_from(threshold_lists), duration_ns, hints)
    mask = secrets_mask or (lambda text: text)
    found_endpoints = evaluation.endpoints(merged)
    for entry in found_endpoints:
        entry["name"] = mask(entry["name"])
    found_errors = evaluation.errors(merged)
    for entry in found_errors:
        entry["endpoint"], entry["error"] = mask(entry["endpoint"]), mask(entry["error"])
    return {
        "thresholds": thresholds,
        "metrics": metrics(merged, duration_ns, vus_max or None),
        "checks": checks(merged),
        "endpoints": found_endpoints,
        "errors": found_errors,
        "samples": merged.samples,
        "bad_lines": merged.bad_lines,
        "duration_s": round(duration_ns / 1e9, 6),
        "merged": sorted(reductions),
    }


# Stats that only move one way as samples are added: a max only rises, a min only falls, a count only grows.
_RISING = ("max", "count")
_FALLING = ("min",)


def final_failure(threshold):
    """Whether a failed threshold would still fail with more samples of its metric (True), or more
    data might undo it (False). Only max, min and count move one way; every other stat (avg, med,
    percentiles, rates, a gauge's value) can go either way."""
    if threshold.get("passed") is not False:
        return False
    try:
        parsed = summ.parse_threshold_expression(threshold.get("expression"))
    except ValueError:
        return False
    if parsed["stat"] in _RISING:
        return parsed["op"] in ("<", "<=")
    if parsed["stat"] in _FALLING:
        return parsed["op"] in (">", ">=")
    return False


def delay_seconds(value):
    """A threshold's delayAbortEval in seconds, read as k6 reads it (types.Duration): a number or a
    string of digits is milliseconds, else a Go duration with an optional leading day count ("1d2h").
    None when absent; ValueError naming the value when it is not a duration."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("delayAbortEval %r is not a duration" % (value,))
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    text = str(value).strip()
    try:
        return float(text) / 1000.0
    except ValueError:
        pass
    days, sep, rest = text.partition("d")
    try:
        if sep:
            return int(days) * 86400.0 + (cmdlib.parse_duration(rest) if rest else 0.0)
        return cmdlib.parse_duration(text)
    except ValueError:
        raise ValueError("delayAbortEval %r is not a duration (e.g. 10s, 1m30s, 500ms)" % (value,))


def abort_entries(declared):
    """[(metric_key, expression, delay_s or None)] of the thresholds with abortOnFail."""
    entries = []
    for metric, items in (declared or {}).items() if isinstance(declared, dict) else ():
        for item in items if isinstance(items, (list, tuple)) else [items]:
            if isinstance(item, dict) and item.get("abortOnFail") and isinstance(item.get("threshold"), str):
                entries.append((metric, item["threshold"], delay_seconds(item.get("delayAbortEval"))))
    return entries


def abort_check(reductions, declared, elapsed_s):
    """Whether the abortOnFail thresholds stop the test, judged on every machine's samples so far.

    What k6 does on one machine every 2 s (k6 1.1.0, metrics engine): a threshold whose metric (or
    sub-metric) has no sample yet is not judged; a crossed abortOnFail threshold stops the test when
    it has no delayAbortEval or the test has run longer than that; a counter's rate is over the time
    run so far (``elapsed_s``, from the agreed start). reductions: {host: Reducer (live)}.
    Returns {"abort", "breached" (crossed, stopping), "waiting" (crossed, within delayAbortEval),
    "samples", "hosts"}."""
    merged = samples.merge(reductions[h] for h in sorted(reductions))
    duration_ns = max(float(elapsed_s), 0.0) * 1e9
    breached, waiting = [], []
    for metric_key, expression, delay in abort_entries(declared):
        try:
            metric, tags = evaluation.parse_selector(metric_key)
        except ValueError:
            continue  # judged (and reported) at the end
        if sum(s.count for s in evaluation.matching(merged, metric, tags)) == 0:
            continue  # an empty sink: k6 does not judge it mid-run
        item = evaluation.evaluate(merged, {metric_key: [{"threshold": expression, "abortOnFail": True}]},
                                   duration_ns)[0]
        if item.get("passed") is not False:
            continue
        item["delay_abort_eval_s"] = delay
        (breached if delay is None or delay < elapsed_s else waiting).append(item)
    return {"abort": bool(breached), "breached": breached, "waiting": waiting, "samples": merged.samples,
            "hosts": sorted(reductions), "elapsed_s": round(float(elapsed_s), 3)}
