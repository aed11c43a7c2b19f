# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/baseline_snapshot.py and plugins/filter/regression_report.py on
k6_run-shaped results from the real k6 1.1.0 summaries (mixed_status has name submetrics)."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.baseline_snapshot import baseline_snapshot
from ansible_collections.loadops.k6.plugins.filter.regression_report import regression_report

from test_run_verdict import k6_result, sample_endpoints, sample_result


def test_snapshot_per_endpoint_when_the_summary_has_name_submetrics():
    result = k6_result("mixed_status")
    snap = baseline_snapshot({"lg1": result}, scenario="smoke", run_id="r1", created_at="t0")
    assert snap["source"] == "endpoints" and snap["note"] == ""
    expected = {("endpoint " + e["name"]) for e in result["endpoints"] if e["count"] and e["p95_ms"] is not None}
    assert expected and set(snap["series"]) == expected
    budgets = next(e for e in result["endpoints"] if e["name"] == "/api/budgets/")
    assert snap["series"]["endpoint /api/budgets/"]["p95_ms"] == round(budgets["p95_ms"], 3)
    assert snap["requests"] == result["metrics"]["requests"]
    assert snap["error_rate"] == pytest.approx(result["metrics"]["failure_rate"], abs=1e-6)


def test_an_endpoint_with_a_duration_submetric_but_no_count_is_kept():
    result = k6_result("passed")
    create = next(e for e in result["endpoints"] if e["name"] == "create_task")
    assert create["count"] is None and create["p95_ms"] is not None
    snap = baseline_snapshot({"lg1": result}, scenario="smoke", run_id="r1")
    assert snap["series"]["endpoint create_task"]["p95_ms"] == round(create["p95_ms"], 3)


def test_snapshot_per_endpoint_from_the_sample_streams_richer_endpoints():
    # endpoints with methods, failed, p50/p99/avg/max and statuses: only name, count, failure_rate, p95 count.
    result = sample_result()
    snap = baseline_snapshot({"lg1": result}, scenario="smoke", run_id="r2", created_at="t0")
    assert snap["source"] == "endpoints" and snap["note"] == ""
    # /idle had no requests: left out, as in the summary-based endpoints.
    assert snap["series"] == {
        "endpoint /api/budgets/": {"p95_ms": 48.0, "count": 30, "failure_rate": 1.0},
        "endpoint /api/tasks/": {"p95_ms": 12.0, "count": 40, "failure_rate": 0.0},
        "endpoint /login": {"p95_ms": 20.0, "count": 10, "failure_rate": 0.3},
        "endpoint /slow": {"p95_ms": 900.0, "count": 5, "failure_rate": 0.0},
    }
    # Two machines: highest p95, counts added, failure rates weighted by requests.
    other = sample_result(endpoints=[dict(e, p95_ms=e["p95_ms"] and e["p95_ms"] * 2, failed=0, failure_rate=0.0)
                                     if e["name"] == "/login" else e for e in sample_endpoints()])
    both = baseline_snapshot({"lg1": result, "lg2": other}, scenario="smoke", run_id="r2")
    assert both["series"]["endpoint /login"] == {"p95_ms": 40.0, "count": 20, "failure_rate": 0.15}


def test_richer_endpoints_compare_with_a_baseline_of_either_shape():
    now = baseline_snapshot({"lg1": sample_result()}, scenario="smoke", run_id="r2")
    assert regression_report(now, now)["status"] == "passed"
    faster = sample_result(endpoints=[dict(e, p95_ms=e["p95_ms"] and e["p95_ms"] / 2) for e in sample_endpoints()])
    report = regression_report(now, baseline_snapshot({"lg1": faster}, scenario="smoke", run_id="r1"))
    assert [(r["series"], r["stat"]) for r in report["regressions"]] == [
        ("endpoint /api/budgets/", "p95"), ("endpoint /api/tasks/", "p95"), ("endpoint /login", "p95"),
        ("endpoint /slow", "p95")]
    # A baseline saved from the summary's endpoints (name, count, failure_rate, p95_ms only).
    old = baseline_snapshot({"lg1": k6_result("mixed_status")}, scenario="smoke", run_id="r0")
    report = regression_report(now, old)
    assert old["source"] == now["source"] == "endpoints" and report["baseline_run_id"] == "r0"
    budgets = next(r for r in report["rows"] if r["series"] == "endpoint /api/budgets/" and r["stat"] == "p95")
    assert budgets["status"] == "ok" and budgets["current"] == 48.0


def test_snapshot_falls_back_to_request_types_and_says_so():
    # Our scenarios' summaries: type:read / type:write submetrics, no name ones.
    result = k6_result("passed", endpoints=[])
    snap = baseline_snapshot({"lg1": result}, scenario="smoke", run_id="r1")
    assert snap["source"] == "request_types" and "per-endpoint p95 is not in this run's summary" in snap["note"]
    read = next(t for t in result["thresholds"] if t["metric"] == "http_req_duration{type:read}")
    assert snap["series"]["http_req_duration{type:read}"]["p95_ms"] == round(read["observed"]["value"], 3)
    assert snap["series"]["http_req_duration"]["p95_ms"] == round(result["metrics"]["duration_ms"]["p95"], 3)
    assert snap["series"]["http_req_duration{type:read}"]["failure_rate"] is None
    for name, series in snap["series"].items():
        assert series["p95_ms"] is not None, name


def test_a_run_against_a_dead_target_has_an_error_rate_of_one():
    snap = baseline_snapshot({"lg1": k6_result("target_down")}, scenario="smoke", run_id="r1")
    assert snap["error_rate"] == 1.0 and all(s["p95_ms"] is not None for s in snap["series"].values())


def test_several_hosts_take_the_highest_p95_and_weight_error_rates_by_requests():
    a, b = k6_result("thresholds_failed"), k6_result("thresholds_failed")
    b["metrics"] = dict(b["metrics"], requests=300, failure_rate=0.1, duration_ms={"p95": 999.0})
    a["metrics"] = dict(a["metrics"], requests=100, failure_rate=0.0, duration_ms={"p95": 1.0})
    snap = baseline_snapshot({"a": a, "b": b}, scenario="s", run_id="r")
    assert snap["series"]["http_req_duration"]["p95_ms"] == 999.0
    assert snap["requests"] == 400 and snap["error_rate"] == pytest.approx(0.075)
    assert snap["hosts"] == ["a", "b"]


def _snap(p95s, error_rate=0.0, source="endpoints"):
    return {"scenario": "smoke", "run_id": "r", "source": source, "note": "", "requests": 100, "error_rate": error_rate,
            "series": {name: {"p95_ms": v, "count": 10, "failure_rate": 0.0} for name, v in p95s.items()}}


def test_a_p95_beyond_margin_and_floor_regresses_and_noise_does_not():
    base = _snap({"endpoint /a": 100.0, "endpoint /b": 1.0, "endpoint /c": 100.0})
    now = _snap({"endpoint /a": 121.0, "endpoint /b": 4.0, "endpoint /c": 119.0})
    report = regression_report(now, base, margin=0.2, min_delta_ms=5)
    assert [(r["series"], r["stat"]) for r in report["regressions"]] == [("endpoint /a", "p95")]
    assert report["status"] == "regressed" and report["baseline_run_id"] == "r"
    row_b = next(r for r in report["rows"] if r["series"] == "endpoint /b" and r["stat"] == "p95")
    assert row_b["status"] == "ok" and row_b["limit"] == 6.0  # +300 % but only 3 ms: noise
    assert "REGRESSED" in report["table"] and report["table"].splitlines()[0].split()[:2] == ["SERIES", "STAT"]


def test_error_rate_regression_with_a_zero_baseline_uses_the_floor():
    base = _snap({"endpoint /a": 10.0}, error_rate=0.0)
    assert regression_report(_snap({"endpoint /a": 10.0}, error_rate=0.0005), base)["regressions"] == []
    report = regression_report(_snap({"endpoint /a": 10.0}, error_rate=0.02), base)
    assert [(r["series"], r["stat"]) for r in report["regressions"]] == [("all requests", "error rate")]


def test_per_endpoint_error_rates_are_compared_too():
    base = _snap({"endpoint /a": 10.0})
    now = copy.deepcopy(base)
    now["series"]["endpoint /a"]["failure_rate"] = 0.5
    report = regression_report(now, base)
    assert [(r["series"], r["stat"]) for r in report["regressions"]] == [("endpoint /a", "error rate")]


def test_missing_and_new_series_are_reported_not_judged():
    report = regression_report(_snap({"endpoint /new": 1.0}), _snap({"endpoint /gone": 1.0}))
    gone = next(r for r in report["rows"] if r["series"] == "endpoint /gone")
    assert gone["status"] == "not measured" and report["regressions"] == []
    assert "not in the baseline, so not compared: endpoint /new" in report["note"]


def test_different_sources_compare_the_overlap_and_say_so():
    report = regression_report(_snap({"http_req_duration": 5.0}, source="request_types"),
                               _snap({"http_req_duration": 5.0}, source="endpoints"))
    assert "only series present in both are compared" in report["note"]


def test_no_baseline_is_not_a_failure():
    report = regression_report(_snap({"endpoint /a": 1.0}), None)
    assert report["status"] == "no_baseline" and report["regressions"] == [] and "scenario_run_save_baseline" in report["note"]


@pytest.mark.parametrize("kwargs", [{"margin": -0.1}, {"margin": "lots"}, {"min_delta_ms": -1}])
def test_bad_margins_are_errors(kwargs):
    with pytest.raises(AnsibleFilterError):
        regression_report(_snap({}), _snap({}), **kwargs)


def test_a_foreign_baseline_file_is_an_error():
    with pytest.raises(AnsibleFilterError, match="not a loadops.k6 baseline"):
        regression_report(_snap({}), {"p95": 3})
