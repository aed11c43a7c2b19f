# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_summary.py (parsing) and k6_result.verdict_from (exit
code and evidence -> verdict), driven by real k6 1.1.0 outputs.

The fixtures in tests/unit/fixtures/k6_1.1.0/ come from capture.py (real k6 runs against a
local target). Timing numbers change on every capture, so the tests read them from the JSON
instead of hard-coding them.
"""

import json
import os

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_result, k6_summary, verdicts

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.path.dirname(os.path.dirname(HERE))
ROOT = os.path.dirname(os.path.dirname(UNIT))
FIXTURES = os.path.join(UNIT, "fixtures", "k6_1.1.0")

# case -> (k6 exit code measured, verdict expected)
CASES = {
    "passed": (0, "passed"),
    "trend_stats": (0, "passed"),
    "thresholds_failed": (99, "thresholds_failed"),
    "abort_on_fail": (99, "aborted"),
    "test_abort": (108, "aborted"),
    "test_fail": (110, "script_failed"),
    "script_error": (107, "script_error"),
    "config_error": (104, "config_error"),
    "target_down": (99, "thresholds_failed"),
    "mixed_status": (99, "thresholds_failed"),
    "interrupted": (105, "interrupted"),
    "no_samples_submetric": (0, "passed"),
}
NO_SUMMARY_CASES = ("script_error", "config_error")
SUMMARY_CASES = sorted(c for c in CASES if c not in NO_SUMMARY_CASES)


def meta(case):
    with open(os.path.join(FIXTURES, case + ".meta.json"), encoding="utf-8") as handle:
        return json.load(handle)


def summary_path(case):
    return os.path.join(FIXTURES, case + ".summary.json")


def raw_summary(case):
    with open(summary_path(case), encoding="utf-8") as handle:
        return json.load(handle)


def parsed_thresholds(case, with_declared=True):
    declared = meta(case)["thresholds_in_script"] if with_declared else None
    return k6_summary.parse_thresholds(raw_summary(case), declared)


def find(items, **match):
    hits = [item for item in items if all(item[k] == v for k, v in match.items())]
    assert len(hits) == 1, "expected one item matching %r, got %r" % (match, hits)
    return hits[0]


# ---------------------------------------------------------------------------------------------
# The fixtures themselves
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_fixture_was_captured_from_k6_1_1_0_with_the_measured_exit_code(case):
    info = meta(case)
    assert info["k6_version"].startswith("k6 v1.1.0 ")
    assert info["rc"] == CASES[case][0]
    assert os.path.isfile(os.path.join(FIXTURES, case + ".js"))
    assert info["summary_written"] == os.path.isfile(summary_path(case))
    assert info["summary_written"] == (case not in NO_SUMMARY_CASES)


# ---------------------------------------------------------------------------------------------
# Thresholds: polarity, completeness, observed values, abortOnFail
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_threshold_passed_is_the_inverse_of_the_exported_crossed_flag(case):
    raw = raw_summary(case)["metrics"]
    results = parsed_thresholds(case)
    exported = [(m, e) for m, v in raw.items() for e in v.get("thresholds", {})]
    assert sorted((r["metric"], r["expression"]) for r in results) == sorted(exported)
    for result in results:
        crossed = raw[result["metric"]]["thresholds"][result["expression"]]
        assert isinstance(crossed, bool)
        assert result["passed"] is (not crossed)


@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_every_threshold_the_script_declared_is_reported(case):
    results = parsed_thresholds(case)
    for metric, items in meta(case)["thresholds_in_script"].items():
        for item in items:
            expression = item if isinstance(item, str) else item["threshold"]
            canonical = k6_summary.parse_metric_key(metric)
            assert [r for r in results if r["expression"] == expression
                    and k6_summary.parse_metric_key(r["metric"]) == canonical], (metric, expression)


def test_thresholds_that_held_and_crossed_in_real_runs():
    assert all(r["passed"] for r in parsed_thresholds("passed"))
    assert all(r["passed"] for r in parsed_thresholds("no_samples_submetric"))
    failed = parsed_thresholds("thresholds_failed")
    assert not find(failed, metric="http_req_duration", expression="p(95)<0.001")["passed"]
    assert find(failed, metric="http_req_duration", expression="max<60000")["passed"]
    down = parsed_thresholds("target_down")
    assert not find(down, metric="http_req_failed")["passed"]
    assert not find(down, metric="checks")["passed"]
    # Refused connections have zero duration, so a latency threshold still holds.
    assert find(down, metric="http_req_duration")["passed"]
    mixed = parsed_thresholds("mixed_status")
    assert find(mixed, metric="http_req_failed{name:/api/tasks/}")["passed"]
    assert not find(mixed, metric="http_req_failed{name:/api/core/projects/}")["passed"]
    assert not find(mixed, metric="http_req_failed{name:/api/budgets/}")["passed"]


@pytest.mark.parametrize(
    "metric, expression, export_key, unit",
    [
        ("http_req_duration{type:read}", "p(95)<200", "p(95)", "ms"),
        ("http_req_duration", "avg<250", "avg", "ms"),
        ("http_req_duration", "max<3000", "max", "ms"),
        ("http_req_waiting", "p(95)<150", "p(95)", "ms"),
        ("iteration_duration", "p(95)<1000", "p(95)", "ms"),
        ("http_req_failed", "rate<0.01", "value", "rate"),  # Rate: rate is exported as value
        ("checks", "rate>0.99", "value", "rate"),
        ("http_reqs", "count>10", "count", "count"),
        ("http_reqs", "rate>1", "rate", "count/s"),
        ("vus_max", "value>0", "value", ""),
        ("http_req_duration{name:/api/tasks/}", "p(95)<200", "p(95)", "ms"),
        ("http_reqs{name:/api/tasks/}", "count>0", "count", "count"),
    ],
)
def test_observed_value_is_the_exported_number_for_the_threshold_stat(
        metric, expression, export_key, unit):
    raw = raw_summary("passed")["metrics"][metric]
    observed = find(parsed_thresholds("passed"), metric=metric, expression=expression)["observed"]
    assert observed["stat"] == k6_summary.parse_threshold_expression(expression)["stat"]
    assert observed["value"] == raw[export_key]
    assert observed["unit"] == unit


@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_every_observed_value_comes_from_its_metric_in_the_export(case):
    raw = raw_summary(case)["metrics"]
    for result in parsed_thresholds(case):
        value = result["observed"]["value"]
        if value is not None:
            numbers = [v for k, v in raw[result["metric"]].items() if k != "thresholds"]
            assert value in numbers


def test_p99_is_observed_only_when_summary_trend_stats_exports_it():
    default_stats = find(parsed_thresholds("passed"), metric="http_req_duration",
                         expression="p(99)<1000")
    assert default_stats["observed"] == {"stat": "p(99)", "value": None, "unit": "ms"}
    extra_stats = find(parsed_thresholds("trend_stats"), metric="http_req_duration",
                       expression="p(99)<1000")
    assert extra_stats["observed"]["value"] == raw_summary("trend_stats")["metrics"][
        "http_req_duration"]["p(99)"]


def test_abort_on_fail_comes_from_the_declared_thresholds_object():
    results = parsed_thresholds("abort_on_fail")
    assert find(results, metric="http_req_duration")["abort_on_fail"] is True
    assert find(results, metric="http_req_failed")["abort_on_fail"] is False
    assert not any(r["abort_on_fail"] for r in parsed_thresholds("abort_on_fail", False))


def test_declared_selector_with_spaces_matches_the_key_k6_exported():
    # Declared as 'iteration_duration{ scenario: default }' with ' p(95) < 1000 '.
    result = find(parsed_thresholds("passed"), metric="iteration_duration{scenario: default}")
    assert result["expression"] == " p(95) < 1000 "
    assert result["abort_on_fail"] is True
    assert result["observed"]["stat"] == "p(95)"


def test_metric_keys_with_submetric_selectors_are_kept_as_exported():
    metrics = {r["metric"] for r in parsed_thresholds("passed")}
    assert {"http_req_duration{type:read}", "http_req_duration{name:/api/tasks/}",
            "http_req_failed{name:/api/campaigns/}"} <= metrics


def test_threshold_order_follows_the_script_when_declared():
    declared = meta("passed")["thresholds_in_script"]
    expected = [k6_summary.parse_metric_key(m) for m, items in declared.items() for _item in items]
    got = [k6_summary.parse_metric_key(r["metric"]) for r in parsed_thresholds("passed")]
    assert got == expected


def test_summary_without_metrics_has_no_thresholds():
    assert k6_summary.parse_thresholds(None) == []
    assert k6_summary.parse_thresholds({}) == []


# ---------------------------------------------------------------------------------------------
# Threshold expressions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression, expected",
    [
        ("p(95)<200", {"stat": "p(95)", "op": "<", "value": 200.0}),
        (" p(95) < 1000 ", {"stat": "p(95)", "op": "<", "value": 1000.0}),
        ("p(99.9)<1", {"stat": "p(99.9)", "op": "<", "value": 1.0}),
        ("rate<0.01", {"stat": "rate", "op": "<", "value": 0.01}),
        ("count>=10", {"stat": "count", "op": ">=", "value": 10.0}),
        ("avg<=1e3", {"stat": "avg", "op": "<=", "value": 1000.0}),
        ("value>-1", {"stat": "value", "op": ">", "value": -1.0}),
        ("med==5", {"stat": "med", "op": "==", "value": 5.0}),
        ("min===.5", {"stat": "min", "op": "===", "value": 0.5}),
        ("max!=+3", {"stat": "max", "op": "!=", "value": 3.0}),
    ],
)
def test_threshold_expression_is_split_into_stat_operator_and_number(expression, expected):
    assert k6_summary.parse_threshold_expression(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "p(95)<200ms",  # k6 1.1.0: rc 104, right hand side not a float (config_error fixture)
        "p95<200",
        "p( 95 )<1",
        "med=1",
        "AVG<1",
        "avg<1 2",
        "avg<0x10",
        "p(101)<1",
        "p(95)",
        "",
        "<200",
        "avg<",
        "stddev<3",
    ],
)
def test_unparsable_threshold_expression_raises_value_error_naming_it(expression):
    with pytest.raises(ValueError) as caught:
        k6_summary.parse_threshold_expression(expression)
    assert repr(expression) in str(caught.value)


def test_expression_k6_rejected_in_the_config_error_run_is_rejected_too():
    declared = meta("config_error")["thresholds_in_script"]["http_req_duration"][0]
    assert declared in " ".join(meta("config_error")["stderr_tail"]).replace('\\"', '"')
    with pytest.raises(ValueError, match="200ms"):
        k6_summary.parse_threshold_expression(declared)


@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_every_expression_k6_accepted_parses(case):
    for result in parsed_thresholds(case):
        k6_summary.parse_threshold_expression(result["expression"])


# ---------------------------------------------------------------------------------------------
# Checks, metrics, endpoints
# ---------------------------------------------------------------------------------------------
def test_checks_are_collected_from_root_and_nested_groups_with_their_group_path():
    raw = raw_summary("passed")["root_group"]
    checks = k6_summary.parse_checks(raw_summary("passed"))
    assert [(c["path"], c["name"]) for c in checks] == [
        ("", "health status is 200"),
        ("::read", "campaigns status is 200"),
        ("::read", "tasks status is 200"),
        ("::write", "create status is 201"),
    ]
    tasks = find(checks, name="tasks status is 200")
    exported = raw["groups"]["read"]["checks"]["tasks status is 200"]
    assert (tasks["passes"], tasks["fails"]) == (exported["passes"], exported["fails"])


def test_failing_checks_carry_their_fail_counts():
    raw = raw_summary("mixed_status")["root_group"]["checks"]
    checks = k6_summary.parse_checks(raw_summary("mixed_status"))
    for name in ("projects status is 200", "budgets status is 200"):
        check = find(checks, name=name)
        assert check["fails"] == raw[name]["fails"] > 0
        assert check["passes"] == 0


@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_headline_metrics_match_the_exported_numbers(case):
    raw = raw_summary(case)["metrics"]
    metrics = k6_summary.parse_metrics(raw_summary(case))
    assert metrics["requests"] == raw["http_reqs"]["count"]
    assert metrics["request_rate"] == raw["http_reqs"]["rate"]
    assert metrics["failure_rate"] == raw["http_req_failed"]["value"]
    assert metrics["iterations"] == raw["iterations"]["count"]
    assert metrics["vus_max"] == raw.get("vus_max", {}).get("value")
    assert metrics["data_sent_bytes"] == raw["data_sent"]["count"]
    assert metrics["data_received_bytes"] == raw["data_received"]["count"]
    assert metrics["dropped_iterations"] == 0  # no arrival-rate executor: metric absent
    duration = raw["http_req_duration"]
    assert metrics["duration_ms"]["avg"] == duration["avg"]
    assert metrics["duration_ms"]["med"] == duration["med"]
    assert metrics["duration_ms"]["p90"] == duration["p(90)"]
    assert metrics["duration_ms"]["p95"] == duration["p(95)"]
    assert metrics["duration_ms"]["max"] == duration["max"]
    assert ("p99" in metrics["duration_ms"]) == ("p(99)" in duration)


def test_duration_p99_is_present_only_with_extra_trend_stats():
    assert "p99" not in k6_summary.parse_metrics(raw_summary("passed"))["duration_ms"]
    assert k6_summary.parse_metrics(raw_summary("trend_stats"))["duration_ms"]["p99"] == \
        raw_summary("trend_stats")["metrics"]["http_req_duration"]["p(99)"]


def test_run_aborted_within_a_second_has_no_vus_gauges_and_reports_vus_max_none():
    # Measured: exec.test.abort() 0.3 s in; k6 samples vus/vus_max once a second.
    assert "vus_max" not in raw_summary("test_abort")["metrics"]
    assert k6_summary.parse_metrics(raw_summary("test_abort"))["vus_max"] is None


def test_unreachable_target_shows_full_failure_rate():
    metrics = k6_summary.parse_metrics(raw_summary("target_down"))
    assert metrics["failure_rate"] == 1
    assert metrics["requests"] > 0
    assert metrics["data_received_bytes"] == 0


def test_metrics_of_a_missing_summary_default_to_zero_counts_and_unknown_rates():
    assert k6_summary.parse_metrics(None) == {
        "requests": 0, "request_rate": 0.0, "failure_rate": None, "duration_ms": {},
        "iterations": 0, "vus_max": None, "data_sent_bytes": 0, "data_received_bytes": 0,
        "dropped_iterations": 0,
    }


def test_endpoints_come_from_name_tagged_submetrics_only():
    raw = raw_summary("passed")["metrics"]
    endpoints = k6_summary.parse_endpoints(raw_summary("passed"))
    assert [e["name"] for e in endpoints] == ["/api/campaigns/", "/api/tasks/", "create_task"]
    tasks = find(endpoints, name="/api/tasks/")
    assert tasks == {
        "name": "/api/tasks/",
        "count": raw["http_reqs{name:/api/tasks/}"]["count"],
        "failure_rate": raw["http_req_failed{name:/api/tasks/}"]["value"],
        "p95_ms": raw["http_req_duration{name:/api/tasks/}"]["p(95)"],
    }
    # create_task has only a duration threshold: the rest was not exported.
    create = find(endpoints, name="create_task")
    assert create["count"] is None and create["failure_rate"] is None
    assert create["p95_ms"] == raw["http_req_duration{name:create_task}"]["p(95)"]


def test_endpoint_count_falls_back_to_the_trend_count_when_exported():
    raw = raw_summary("trend_stats")["metrics"]
    create = find(k6_summary.parse_endpoints(raw_summary("trend_stats")), name="create_task")
    assert create["count"] == raw["http_req_duration{name:create_task}"]["count"]


def test_endpoints_returning_400_and_500_show_full_failure_rate():
    endpoints = k6_summary.parse_endpoints(raw_summary("mixed_status"))
    assert find(endpoints, name="/api/core/projects/")["failure_rate"] == 1
    assert find(endpoints, name="/api/budgets/")["failure_rate"] == 1
    assert find(endpoints, name="/api/tasks/")["failure_rate"] == 0


def test_endpoint_without_samples_reports_no_rate_or_latency_instead_of_zeros():
    raw = raw_summary("no_samples_submetric")["metrics"]
    assert raw["http_req_duration{name:/never/requested/}"]["p(95)"] == 0  # what k6 exports
    assert k6_summary.parse_endpoints(raw_summary("no_samples_submetric")) == [
        {"name": "/never/requested/", "count": 0, "failure_rate": None, "p95_ms": None}
    ]


def test_parse_summary_combines_all_parts():
    summary = raw_summary("passed")
    declared = meta("passed")["thresholds_in_script"]
    combined = k6_summary.parse_summary(summary, declared)
    assert combined == {
        "thresholds": k6_summary.parse_thresholds(summary, declared),
        "checks": k6_summary.parse_checks(summary),
        "metrics": k6_summary.parse_metrics(summary),
        "endpoints": k6_summary.parse_endpoints(summary),
    }


@pytest.mark.parametrize(
    "key, expected",
    [
        ("http_reqs", ("http_reqs", {})),
        ("http_req_duration{type:read}", ("http_req_duration", {"type": "read"})),
        ("iteration_duration{scenario: default}", ("iteration_duration", {"scenario": "default"})),
        ('my_trend{"tag":"x y"}', ("my_trend", {"tag": "x y"})),
        ("http_req_duration{name:/a/,method:GET}",
         ("http_req_duration", {"name": "/a/", "method": "GET"})),
    ],
)
def test_metric_key_is_split_into_name_and_tags(key, expected):
    assert k6_summary.parse_metric_key(key) == expected


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_real_run_maps_to_its_verdict(case):
    info = meta(case)
    thresholds = parsed_thresholds(case) if info["summary_written"] else None
    verdict = k6_result.verdict_from(info["rc"], thresholds, "\n".join(info["stderr_tail"]))
    assert verdict == CASES[case][1]
    assert verdict in verdicts.MODULE_VERDICTS


def test_abort_on_fail_is_recognised_from_the_log_alone():
    info = meta("abort_on_fail")
    assert k6_result.verdict_from(99, None, "\n".join(info["stderr_tail"])) == "aborted"


def test_abort_on_fail_is_recognised_from_the_thresholds_alone():
    assert k6_result.verdict_from(99, parsed_thresholds("abort_on_fail"), "") == "aborted"


def test_abort_on_fail_is_not_assumed_without_the_declared_thresholds_or_log():
    assert k6_result.verdict_from(
        99, parsed_thresholds("abort_on_fail", with_declared=False), "") == "thresholds_failed"


def test_verdict_accepts_the_parse_summary_result():
    combined = k6_summary.parse_summary(raw_summary("abort_on_fail"),
                                        meta("abort_on_fail")["thresholds_in_script"])
    assert k6_result.verdict_from(99, combined, "") == "aborted"


def test_verdict_accepts_a_raw_export_but_then_needs_the_log_to_see_abort_on_fail():
    raw = raw_summary("abort_on_fail")
    log_text = "\n".join(meta("abort_on_fail")["stderr_tail"])
    assert k6_result.verdict_from(99, raw, "") == "thresholds_failed"
    assert k6_result.verdict_from(99, raw, log_text) == "aborted"


@pytest.mark.parametrize(
    "rc, log_text, flags, expected",
    [
        (137, "", {"oom_killed": True}, "oom_killed"),
        (-9, "Memory cgroup out of memory: Killed process 4242 (k6)", {}, "oom_killed"),
        (137, "", {}, "k6_error"),  # killed, but no evidence of why
        (-9, "", {"timed_out": True}, "timeout"),
        (105, "", {"timed_out": True}, "timeout"),
        (-9, "", {"oom_killed": True, "timed_out": True}, "oom_killed"),
        (-15, "", {}, "interrupted"),
        (None, "", {"interrupted": True}, "interrupted"),
        (0, "", {"oom_killed": True}, "passed"),  # k6 finished: the run counts
        (100, "", {}, "script_error"),  # setup() exceeded setupTimeout
        (255, "", {}, "k6_error"),  # missing script file, bad output URL
        (109, "", {}, "k6_error"),
    ],
)
def test_runner_evidence_and_other_exit_codes_map_to_verdicts(rc, log_text, flags, expected):
    assert k6_result.verdict_from(rc, None, log_text, **flags) == expected


# ---------------------------------------------------------------------------------------------
# Error hints
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, words",
    [
        (0, ("unreachable", "not running", "URL", "DNS")),
        ("0", ("unreachable",)),
        (400, ("Host", "ALLOWED_HOSTS")),
        (401, ("credentials",)),
        (403, ("credentials",)),
        (404, ("path", "base URL")),
        (429, ("rate-limit",)),
        (500, ("server error", "logs")),
        (502, ("server error", "logs")),
        (503, ("server error", "logs")),
    ],
)
def test_error_hint_is_one_line_pointing_at_the_likely_cause(status, words):
    hint = k6_summary.error_hint(status)
    assert "\n" not in hint
    for word in words:
        assert word in hint


# ---------------------------------------------------------------------------------------------
# Loading the export file
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", SUMMARY_CASES)
def test_real_summary_file_loads_as_dict(case):
    assert k6_summary.load_summary_file(summary_path(case)) == raw_summary(case)


@pytest.mark.parametrize("case", NO_SUMMARY_CASES)
def test_run_that_wrote_no_summary_loads_as_none(case):
    assert k6_summary.load_summary_file(summary_path(case)) is None


@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_truncated_summary_file_loads_as_none(tmp_path, fraction):
    with open(summary_path("passed"), "rb") as handle:
        data = handle.read()
    cut = data.rstrip()[: int(len(data.rstrip()) * fraction)]
    target = tmp_path / "summary.json"
    target.write_bytes(cut)
    assert k6_summary.load_summary_file(str(target)) is None


@pytest.mark.parametrize("content", [b"", b"   \n", b"[]", b"null", b"\xff\xfe{", b"{\"metrics\": {"])
def test_empty_or_unusable_summary_file_loads_as_none(tmp_path, content):
    target = tmp_path / "summary.json"
    target.write_bytes(content)
    assert k6_summary.load_summary_file(str(target)) is None


def test_missing_summary_path_loads_as_none(tmp_path):
    assert k6_summary.load_summary_file(str(tmp_path / "nope.json")) is None
    assert k6_summary.load_summary_file(str(tmp_path)) is None  # a directory


# ---------------------------------------------------------------------------------------------
# The files themselves
# ---------------------------------------------------------------------------------------------
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(MODULE_UTILS) if n.endswith(".py")))
def test_module_utils_declare_themselves_private_and_use_no_ansible_imports(name):
    """They run on the load machine inside the module and in plain pytest alike."""
    with open(os.path.join(MODULE_UTILS, name), encoding="utf-8") as handle:
        source = handle.read()
    header = source.split("\nimport ", 1)[0].split("\nfrom ", 1)[0]
    assert "private to the loadops.k6 collection" in header.lower()
    assert "import ansible" not in source and "from ansible" not in source
