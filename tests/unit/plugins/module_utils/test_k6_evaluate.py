# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_samples.py (the reduction) and k6_evaluate.py (k6's
threshold rules on it), driven by real k6 1.1.0 sample streams.

The fixtures in tests/unit/fixtures/k6_1.1.0/samples/ come from capture_samples.py: k6's JSON
output, its --summary-export and its thresholds, of the same run. Every number k6 exported must
come out of our reduction: percentiles and min/max bit for bit, avg to 1e-12.
"""

import gzip
import json
import os
import random
import threading
import time

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_evaluate as ev
from ansible_collections.loadops.k6.plugins.module_utils import k6_samples as smp
from ansible_collections.loadops.k6.plugins.module_utils import k6_summary as summ

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "k6_1.1.0", "samples")
CAPTURES = ("four_endpoints", "kinds")
EVERY_TREND = ("http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking",
               "http_req_sending", "http_req_waiting", "http_req_receiving", "iteration_duration", "work_ms",
               "work", "one_value")


def _capture(name):
    with gzip.open(os.path.join(FIXTURES, name + ".samples.json.gz"), "rb") as handle:
        stream = handle.read()
    with open(os.path.join(FIXTURES, name + ".summary.json")) as handle:
        summary = json.load(handle)
    with open(os.path.join(FIXTURES, name + ".thresholds.json")) as handle:
        thresholds = json.load(handle)
    return stream, summary, thresholds


def _reduce(stream, keep=EVERY_TREND, chunk=65536):
    reducer = smp.Reducer(keep)
    for start in range(0, len(stream), chunk):
        reducer.feed(stream[start:start + chunk])
    return reducer.finish()


# ------------------------------------------------------------------------------ the evaluator vs k6
@pytest.mark.parametrize("name", CAPTURES)
def test_every_threshold_is_judged_as_k6_judged_it(name):
    stream, summary, thresholds = _capture(name)
    reduction = _reduce(stream)
    ours = ev.evaluate(reduction, thresholds, ev.duration_ns_from(summary["metrics"], reduction),
                       ev.kinds_from_export(summary["metrics"]))
    k6 = summ.parse_thresholds(summary, thresholds)
    differences, compared = ev.compare(k6, ours)
    assert differences == [] and compared == len(k6) == sum(len(v) for v in thresholds.values())
    assert [t["passed"] for t in ours] == [t["passed"] for t in k6]


def _exported_stats(summary):
    for key, values in summary["metrics"].items():
        kind = summ.metric_kind(values)
        for stat, value in values.items():
            if stat in ("thresholds", "passes", "fails") or (kind == "gauge" and stat in ("min", "max")):
                continue
            if kind == "rate":
                stat = "rate"
            yield key, kind, stat, value


@pytest.mark.parametrize("name", CAPTURES)
def test_every_number_k6_exported_comes_out_of_the_reduction(name):
    stream, summary, _thresholds = _capture(name)
    reduction = _reduce(stream)
    duration = ev.duration_ns_from(summary["metrics"], reduction)
    checked = 0
    for key, kind, stat, value in _exported_stats(summary):
        if stat == "count" and kind == "trend":
            continue  # not a threshold stat
        metric, tags = ev.parse_selector(key)
        series = ev.matching(reduction, metric, tags)
        ours = ev.stat_value(kind, series, stat, duration)
        if kind == "rate" and not series:
            assert value == 0 and ours is None  # k6 exports an empty Rate as 0; it has no rate
            continue
        if stat == "avg" or (kind == "counter" and stat == "rate"):
            assert ours == pytest.approx(value, rel=1e-12, abs=1e-12), (key, stat)
        else:
            assert ours == value, (key, stat, ours, value)  # bit for bit
        checked += 1
    assert checked > 40


def test_the_gauge_quirks_of_k6_are_kept():
    stream, summary, _thresholds = _capture("kinds")
    reduction = _reduce(stream)
    for key in ("level", "level{kind:b}"):
        metric, tags = ev.parse_selector(key)
        series = ev.matching(reduction, metric, tags)
        exported = summary["metrics"][key]
        assert ev.stat_value("gauge", series, "value", 0) == exported["value"]  # the last sample
        assert ev.stat_value("gauge", series, "max", 0) == exported["max"] == 0  # max starts at 0 in k6
        assert ev.stat_value("gauge", series, "min", 0) == exported["min"]


def test_percentile_rank_and_interpolation_are_k6s():
    values = [1.0, 2.0, 4.0, 8.0]
    assert ev.percentile(values, 0.5) == 3.0  # rank 1.5
    assert ev.percentile(values, 0.999) == 4.0 + 4.0 * (0.999 * 3 - 2)
    # k6 takes p(99.9) as 99.9 / 100, which is not the literal 0.999 in float64: the result differs
    assert 99.9 / 100 != 0.999
    assert ev.percentile(values, 99.9 / 100) != ev.percentile(values, 0.999)
    series = smp.Series("t", (), keep=True)
    for seq, value in enumerate(values):
        series.add(value, seq)
    assert ev.stat_value("trend", [series], "p(99.9)", 0) == ev.percentile(values, 99.9 / 100)
    assert ev.percentile([], 0.95) == 0.0 and ev.percentile([7.5], 0.1) == 7.5
    assert ev.percentile(values, 0.0) == 1.0 and ev.percentile(values, 1.0) == 8.0


def test_empty_sinks_follow_k6():
    empty = smp.Reducer().finish()
    assert ev.stat_value("trend", [], "p(95)", 10 ** 9) == 0.0 and ev.stat_value("trend", [], "avg", 1) == 0.0
    assert ev.stat_value("rate", [], "rate", 1) is None  # an empty Rate passes
    assert ev.stat_value("counter", [], "count", 1) == 0 and ev.stat_value("counter", [], "rate", 10 ** 9) == 0.0
    judged = ev.evaluate(empty, {"http_req_failed": ["rate<0.01"], "http_reqs": ["count>0"],
                                 "http_req_duration": ["p(95)<1"]}, 10 ** 9)
    assert [(t["expression"], t["passed"]) for t in judged] == [("rate<0.01", True), ("count>0", False), ("p(95)<1", True)]


@pytest.mark.parametrize("key,expected", [
    ("http_reqs", ("http_reqs", {})),
    ("http_req_duration{name:/api/tasks/}", ("http_req_duration", {"name": "/api/tasks/"})),
    ('work{ kind: "b" }', ("work", {"kind": "b"})),
    ("work{kind:'a',shade:dark}", ("work", {"kind": "a", "shade": "dark"})),
    ("http_req_duration{url:http://h:1/x}", ("http_req_duration", {"url": "http://h:1/x"})),
])
def test_selectors_are_cut_and_trimmed_as_k6_does(key, expected):
    assert ev.parse_selector(key) == expected


@pytest.mark.parametrize("key", ["work{kind:a", "work}", "work{}", "work{kind}", "work{kind:}"])
def test_selectors_k6_refuses_are_refused_naming_the_key(key):
    with pytest.raises(ValueError, match=repr(key).replace("{", r"\{").replace("}", r"\}")):
        ev.parse_selector(key)


def test_a_bad_selector_or_expression_is_not_judged_and_says_why():
    judged = ev.evaluate(smp.Reducer().finish(), {"work{kind": ["avg<1"], "http_reqs": ["p95<1"]}, 1)
    assert [t["passed"] for t in judged] == [None, None]
    assert "ending in '}'" in judged[0]["problem"] and "p95<1" in judged[1]["problem"]


def test_compare_reports_a_verdict_or_a_value_that_differs():
    k6 = [{"metric": "m", "expression": "avg<1", "passed": True, "observed": {"stat": "avg", "value": 0.5}},
          {"metric": "n", "expression": "p(99.9)<1", "passed": True, "observed": {"stat": "p(99.9)", "value": None}}]
    ours = [{"metric": "m", "expression": "avg<1", "passed": False, "observed": {"stat": "avg", "value": 0.5000001}},
            {"metric": "n", "expression": "p(99.9)<1", "passed": True, "observed": {"stat": "p(99.9)", "value": 0.25}}]
    differences, compared = ev.compare(k6, ours)
    assert compared == 2
    assert differences == ["m avg<1: k6 says passed, loadops says failed", "m avg<1: k6 observed 0.5, loadops 0.5000001"]
    assert k6[1]["observed"] == {"stat": "p(99.9)", "value": 0.25, "source": "loadops"}  # filled in


# ------------------------------------------------------------------------------ endpoints, errors
def test_endpoints_and_errors_of_the_four_endpoint_capture():
    stream, summary, _thresholds = _capture("four_endpoints")
    reduction = _reduce(stream)
    endpoints = {e["name"]: e for e in ev.endpoints(reduction)}
    boom = [n for n in endpoints if n.endswith("/boom")][0]
    assert sorted(endpoints) == sorted(["bad", "ok", "unreachable", boom])
    assert sum(e["count"] for e in endpoints.values()) == summary["metrics"]["http_reqs"]["count"]
    assert {n: e["statuses"] for n, e in endpoints.items()} == {
        "ok": {"200": 60}, "bad": {"400": 60}, boom: {"500": 60}, "unreachable": {"0": 60}}
    assert endpoints["ok"]["p95_ms"] == summary["metrics"]["http_req_duration{name:ok}"]["p(95)"]
    assert endpoints["ok"]["failure_rate"] == 0.0 and endpoints["bad"]["failure_rate"] == 1.0
    errors = ev.errors(reduction)
    assert [(e["endpoint"], e["status"], e["count"]) for e in errors] == [
        ("bad", 400, 60), (boom, 500, 60), ("unreachable", 0, 60)]
    assert errors[0]["hint"] == summ.error_hint(400) and "connection refused" in errors[2]["error"]


# ------------------------------------------------------------------------------ the reduction itself
def test_chunk_boundaries_do_not_change_the_reduction():
    stream, _summary, _thresholds = _capture("kinds")
    whole = _reduce(stream, chunk=len(stream)).to_dict()
    rng = random.Random(7)
    reducer = smp.Reducer(EVERY_TREND)
    at = 0
    while at < len(stream):
        step = rng.randint(1, 5000)
        reducer.feed(stream[at:at + step])
        at += step
    assert reducer.finish().to_dict() == whole


def test_the_file_round_trips_exactly_and_merging_halves_gives_the_whole(tmp_path):
    stream, summary, thresholds = _capture("kinds")
    whole = _reduce(stream)
    path = smp.write(whole, str(tmp_path / "reduction.json"), testid="t")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    back = smp.load(path)
    assert back.to_dict() == whole.to_dict()
    lines = stream.splitlines(True)
    metric_lines = [line for line in lines if line.startswith(b'{"type":"Metric"')]
    half = len(lines) // 2
    parts = [_reduce(b"".join(lines[:half])), _reduce(b"".join(metric_lines + lines[half:]))]
    merged = smp.merge(parts)
    for ident, series in whole.series.items():
        other = merged.series[ident]
        assert (other.count, other.trues, other.min, other.max) == (series.count, series.trues, series.min, series.max)
        assert other.sum == pytest.approx(series.sum, rel=1e-12)
        assert (list(other.values) if other.values is not None else None) == \
            (list(series.values) if series.values is not None else None)


def test_load_refuses_what_is_not_a_reduction(tmp_path):
    with pytest.raises(ValueError, match="not a loadops.k6/reduction version 1"):
        smp.load({"format": "other"})


def test_a_cut_off_last_line_and_garbage_are_counted_not_fatal():
    stream, _summary, _thresholds = _capture("kinds")
    reducer = smp.Reducer()
    reducer.feed(b"not json\n")
    reducer.feed(stream[:-40])  # k6 killed in the middle of a line
    reduced = reducer.finish()
    assert reduced.bad_lines == 2 and reduced.samples == stream.count(b'"type":"Point"') - 1


def test_per_sample_metadata_does_not_grow_the_series():
    line = (b'{"metric":"http_reqs","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":1,'
            b'"tags":{"name":"a"},"metadata":{"trace_id":"%d"}}}\n')
    reducer = smp.Reducer()
    reducer.feed(b"".join(line % i for i in range(50)))
    reduced = reducer.finish()
    assert len(reduced.series) == 1 and reduced.series[("http_reqs", (("name", "a"),))].count == 50


def test_the_pipe_reader_reduces_what_a_writer_sends_and_leaves_nothing(tmp_path):
    stream, _summary, _thresholds = _capture("four_endpoints")
    path = str(tmp_path / smp.SAMPLES_PIPE)
    reader = smp.PipeReader(path, smp.Reducer(EVERY_TREND), raw_path=str(tmp_path / "raw.json.gz")).start()

    def write():
        with open(path, "wb") as pipe:  # like k6: opens, writes in pieces, closes
            for start in range(0, len(stream), 4096):
                pipe.write(stream[start:start + 4096])
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(30)
    reduced = reader.finish(timeout=30)
    assert reader.problem is None and reduced.to_dict() == _reduce(stream).to_dict()
    assert not os.path.exists(path)
    with gzip.open(str(tmp_path / "raw.json.gz"), "rb") as raw:
        assert raw.read() == stream


def test_the_pipe_reader_ends_when_nobody_ever_wrote(tmp_path):
    reader = smp.PipeReader(str(tmp_path / "p"), smp.Reducer()).start()
    reduced = reader.finish(timeout=10)
    assert reduced.samples == 0 and reader.problem is None and not os.path.exists(str(tmp_path / "p"))


def test_a_failing_reduction_keeps_draining_so_k6_never_blocks(tmp_path):
    class Broken(smp.Reducer):
        def feed(self, data):
            raise RuntimeError("boom")
    path = str(tmp_path / "p")
    reader = smp.PipeReader(path, Broken()).start()
    payload = b"x" * (4 << 20)  # far more than a pipe holds: a writer would block if nobody read

    def write():
        with open(path, "wb") as pipe:
            pipe.write(payload)
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(30)
    assert not writer.is_alive()
    assert reader.finish(timeout=10) is None and "RuntimeError: boom" in reader.problem


def test_a_reader_that_cannot_start_leaves_no_pipe_behind(tmp_path):
    path = str(tmp_path / "p")
    reader = smp.PipeReader(path, smp.Reducer(), raw_path=str(tmp_path / "missing" / "raw.json.gz"))
    with pytest.raises(OSError):
        reader.start()
    reader.close()
    assert not os.path.exists(path)


def test_a_rate_counts_every_non_zero_value_as_true_like_k6():
    series = smp.Series("r", (), keep=False)
    for seq, value in enumerate([0, 1, -1, 0.5, 0]):
        series.add(value, seq)
    assert ev.stat_value("rate", [series], "rate", 0) == 3 / 5.0  # k6's RateSink: s.Value != 0


def test_the_pipe_reader_writes_the_reduction_so_far_of_the_metrics_asked_and_removes_it(tmp_path):
    stream, _summary, _thresholds = _capture("four_endpoints")
    path, live = str(tmp_path / smp.SAMPLES_PIPE), str(tmp_path / smp.LIVE_FILE)
    now = [0.0]
    reader = smp.PipeReader(path, smp.Reducer(EVERY_TREND), live=(live, 2.0, frozenset(["http_reqs", "http_req_duration"])),
                            clock=lambda: now[0]).start()
    deadline = time.monotonic() + 10
    while not os.path.exists(live) and time.monotonic() < deadline:
        time.sleep(0.05)
    first = json.load(open(live))
    assert first["live"] is True and first["samples"] == 0 and first["series"] == [] and oct(os.stat(live).st_mode & 0o777) == "0o600"
    pipe = os.open(path, os.O_WRONLY)
    os.write(pipe, stream[:len(stream) // 2].rpartition(b"\n")[0] + b"\n")
    now[0] = 2.5  # the interval has passed: the next turn of the reader writes again
    deadline = time.monotonic() + 10
    while json.load(open(live))["samples"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    half = smp.load(live)
    assert {s.metric for s in half.series.values()} == {"http_reqs", "http_req_duration"}
    assert 0 < half.samples < _reduce(stream).samples
    kept = [list(s.values) for s in half.series.values() if s.metric == "http_req_duration"]
    assert kept and all(v == sorted(v) for v in kept)  # load() sorts what arrived in stream order
    os.write(pipe, stream[len(stream[:len(stream) // 2].rpartition(b"\n")[0] + b"\n"):])
    os.close(pipe)
    reduced = reader.finish(timeout=30)
    assert reader.problem is None and reader.live_problem is None
    assert reduced.to_dict() == _reduce(stream).to_dict()
    assert not os.path.exists(live) and not os.path.exists(live + ".tmp")


def test_a_live_reduction_that_cannot_be_written_is_a_warning_not_a_lost_run(tmp_path):
    stream, _summary, _thresholds = _capture("four_endpoints")
    path = str(tmp_path / "p")
    reader = smp.PipeReader(path, smp.Reducer(), live=(str(tmp_path / "missing" / "live.json"), 1.0, None)).start()
    with open(path, "wb") as pipe:
        pipe.write(stream)
    reduced = reader.finish(timeout=30)
    assert reader.problem is None and reduced.samples == _reduce(stream).samples
    assert "live reduction" in reader.live_problem and "cannot be written" in reader.live_problem
