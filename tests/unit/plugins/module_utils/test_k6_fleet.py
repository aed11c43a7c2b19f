# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_fleet.py: a real k6 1.1.0 sample stream (the fixtures of
test_k6_evaluate.py) dealt out to three "machines" line by line, reduced on each, merged and judged,
must give k6's own numbers for the whole run."""

import gzip
import json
import os

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_evaluate as ev
from ansible_collections.loadops.k6.plugins.module_utils import k6_fleet as fleet
from ansible_collections.loadops.k6.plugins.module_utils import k6_samples as smp
from ansible_collections.loadops.k6.plugins.module_utils import k6_summary as summ

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "k6_1.1.0", "samples")


def _load(name):
    with gzip.open(os.path.join(FIXTURES, name + ".samples.json.gz"), "rb") as handle:
        stream = handle.read()
    with open(os.path.join(FIXTURES, name + ".summary.json")) as handle:
        summary = json.load(handle)
    with open(os.path.join(FIXTURES, name + ".thresholds.json")) as handle:
        declared = json.load(handle)
    return stream, summary, declared


def _dealt(stream, machines, keep):
    """Every Metric line to each machine, the Point lines dealt round robin."""
    parts = [[] for _i in range(machines)]
    points = 0
    for line in stream.split(b"\n"):
        if not line:
            continue
        if b'"type":"Point"' in line:
            parts[points % machines].append(line)
            points += 1
        else:
            for part in parts:
                part.append(line)
    reducers = []
    for part in parts:
        reducer = smp.Reducer(keep_values=keep)
        reducer.feed(b"\n".join(part) + b"\n")
        reducers.append(reducer.finish())
    return reducers


@pytest.mark.parametrize("name", ["four_endpoints", "kinds"])
@pytest.mark.parametrize("machines", [1, 2, 3])
def test_merged_machines_are_judged_as_k6_judged_the_whole_run(name, machines):
    stream, summary, declared = _load(name)
    keep = {"http_req_duration"} | {ev.parse_selector(k)[0] for k, _e, _a in summ.declared_entries(declared)}
    reducers = _dealt(stream, machines, keep)
    hosts = {"lg%d" % (i + 1): r for i, r in enumerate(reducers)}
    k6_thresholds = summ.parse_thresholds(summary, declared)
    # Each machine ships its summary; only the first carries k6's count/rate for the duration here.
    summaries = {h: (summary if h == "lg1" else None) for h in hosts}
    judged = fleet.judge(hosts, summaries, [k6_thresholds])
    differences, compared = ev.compare(k6_thresholds, judged["thresholds"])
    # A Gauge's value is its last sample; across machines "last" is not recorded to the sample
    # (documented in docs/DISTRIBUTED.md), so only that one stat may differ when split.
    gauge_values = [d for d in differences if d.startswith("level") and " value" in d]
    assert compared == len(k6_thresholds) and differences == gauge_values
    assert machines > 1 or gauge_values == []
    whole = smp.Reducer(keep_values=keep)
    whole.feed(stream)
    whole.finish()
    assert judged["samples"] == whole.samples and judged["merged"] == sorted(hosts)
    assert judged["errors"] == ev.errors(whole)
    for ours, theirs in zip(judged["endpoints"], ev.endpoints(whole)):
        assert ours.pop("avg_ms") == pytest.approx(theirs.pop("avg_ms"), rel=1e-12)
        assert ours == theirs


def test_the_headline_metrics_and_checks_add_up_over_the_machines():
    stream, summary, declared = _load("four_endpoints")
    hosts = dict(zip(("a", "b", "c"), _dealt(stream, 3, {"http_req_duration"})))
    judged = fleet.judge(hosts, {"a": summary}, [summ.parse_thresholds(summary, declared)])
    expected = summ.parse_metrics(summary)
    got = judged["metrics"]
    for key in ("requests", "iterations", "data_sent_bytes", "data_received_bytes"):
        assert got[key] == expected[key], key
    assert got["failure_rate"] == expected["failure_rate"]
    for stat in ("med", "p90", "p95", "max"):
        assert got["duration_ms"][stat] == expected["duration_ms"][stat], stat
    assert got["duration_ms"]["avg"] == pytest.approx(expected["duration_ms"]["avg"], rel=1e-12)
    assert got["request_rate"] == pytest.approx(expected["request_rate"], rel=1e-9)
    checks = {(c["path"], c["name"]): (c["passes"], c["fails"]) for c in summ.parse_checks(summary)}
    assert {(c["path"], c["name"]): (c["passes"], c["fails"]) for c in judged["checks"]} == checks


def test_declared_thresholds_come_back_from_the_first_result_that_has_any():
    first = [{"metric": "http_req_duration{name:a}", "expression": "p(95)<300", "abort_on_fail": True},
             {"metric": "http_req_duration{name:a}", "expression": "max<900", "abort_on_fail": False}]
    assert fleet.declared_from([[], None, first]) == {"http_req_duration{name:a}": [
        {"threshold": "p(95)<300", "abortOnFail": True}, {"threshold": "max<900", "abortOnFail": False}]}
    assert fleet.declared_from([[], [{"metric": "x"}]]) == {}


# ------------------------------------------------------------------ abortOnFail on all machines' samples
def _abort(declared, elapsed_s=30.0, machines=3):
    stream, _summary, _declared = _load("four_endpoints")
    keep = {"http_req_duration"}
    reducers = _dealt(stream, machines, keep)
    return fleet.abort_check({"lg%d" % (i + 1): r for i, r in enumerate(reducers)}, declared, elapsed_s)


def _whole(metric, stat, tags=None):
    stream, _summary, _declared = _load("four_endpoints")
    reduced = _dealt(stream, 1, {"http_req_duration"})[0]
    kind = ev.kind_of(reduced, metric)
    return ev.stat_value(kind, ev.matching(reduced, metric, tags or {}), stat, 30e9)


def test_an_abort_threshold_crossed_on_the_union_stops_the_test():
    count = _whole("http_reqs", "count")
    declared = {"http_reqs": [{"threshold": "count<%d" % count, "abortOnFail": True, "delayAbortEval": None}]}
    # Each machine holds a third of the requests: none alone reaches `count`, the union does.
    decided = _abort(declared)
    assert decided["abort"] is True and decided["waiting"] == []
    assert [(t["metric"], t["expression"], t["observed"]["value"]) for t in decided["breached"]] == [
        ("http_reqs", "count<%d" % count, count)]
    assert decided["hosts"] == ["lg1", "lg2", "lg3"] and decided["samples"] > 0


def test_a_threshold_that_holds_or_has_no_abort_on_fail_does_not_stop_it():
    count = _whole("http_reqs", "count")
    declared = {"http_reqs": [{"threshold": "count<%d" % (count + 1), "abortOnFail": True}, "count<1"],
                "http_req_failed": [{"threshold": "rate<0.5", "abortOnFail": False}]}
    assert _abort(declared)["abort"] is False


def test_p95_on_the_union_is_judged_exactly_at_its_value():
    p95 = _whole("http_req_duration", "p(95)")
    at = {"http_req_duration": [{"threshold": "p(95)<%r" % p95, "abortOnFail": True}]}
    below = {"http_req_duration": [{"threshold": "p(95)<=%r" % p95, "abortOnFail": True}]}
    assert _abort(at)["abort"] is True and _abort(below)["abort"] is False


def test_delay_abort_eval_holds_the_abort_until_the_test_has_run_longer():
    declared = {"http_reqs": [{"threshold": "count<1", "abortOnFail": True, "delayAbortEval": "10s"}]}
    early, at, late = _abort(declared, 9.0), _abort(declared, 10.0), _abort(declared, 10.5)
    assert early["abort"] is False and early["waiting"][0]["delay_abort_eval_s"] == 10.0
    assert at["abort"] is False  # k6: the delay must be shorter than the time spent (strictly)
    assert late["abort"] is True and late["waiting"] == []


def test_a_metric_without_samples_yet_is_not_judged_mid_run():
    declared = {"http_reqs{name:never}": [{"threshold": "count>0", "abortOnFail": True}],
                "nothing_yet": [{"threshold": "count>0", "abortOnFail": True}]}
    assert _abort(declared) == dict(_abort(declared), abort=False, breached=[], waiting=[])


def test_a_counter_rate_is_over_the_time_run_so_far():
    count = _whole("http_reqs", "count")
    declared = {"http_reqs": [{"threshold": "rate<%r" % (count / 10.0), "abortOnFail": True}]}
    assert _abort(declared, elapsed_s=10.0)["abort"] is True  # exactly count/10 per second: not below it
    assert _abort(declared, elapsed_s=11.0)["abort"] is False


@pytest.mark.parametrize("value, seconds", [
    (None, None), (1500, 1.5), ("1500", 1.5), ("10s", 10.0), ("1m30s", 90.0), ("250ms", 0.25), ("1d2h", 93600.0)])
def test_delay_abort_eval_is_read_as_k6_reads_it(value, seconds):
    assert fleet.delay_seconds(value) == seconds


@pytest.mark.parametrize("value", ["soon", "10 parsecs", True])
def test_a_bad_delay_abort_eval_is_named(value):
    with pytest.raises(ValueError, match="delayAbortEval"):
        fleet.delay_seconds(value)
