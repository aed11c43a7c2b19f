# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/run_verdict.py and plugins/filter/junit_xml.py, on k6_run-shaped
results built from the real k6 1.1.0 summaries in tests/unit/fixtures/k6_1.1.0/."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.junit_xml import junit_xml
from ansible_collections.loadops.k6.plugins.filter import run_verdict as run_verdict_plugin
from ansible_collections.loadops.k6.plugins.filter.run_verdict import run_verdict
from ansible_collections.loadops.k6.plugins.module_utils import k6_summary, verdicts
from ansible_collections.loadops.k6.plugins.module_utils import k6_result as result_stage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "k6_1.1.0"


def k6_result(case, verdict=None, **more):
    """What loadops.k6.k6_run returns for a fixture run (the parsing is the module's own)."""
    meta = json.loads((FIXTURES / ("%s.meta.json" % case)).read_text())
    summary = json.loads((FIXTURES / ("%s.summary.json" % case)).read_text())
    result = k6_summary.parse_summary(summary, meta["thresholds_in_script"])
    result.update({"testid": "it-1", "rc": meta["rc"], "duration_s": 3.2, "k6_version": "1.1.0",
                   "verdict": verdict or result_stage.verdict_from(meta["rc"], result["thresholds"], ""),
                   "msg": "from %s" % case, "generator": {"limiter": "cgroup", "saturated": False, "reasons": []}})
    result.update(more)
    return result


def sample_endpoints():
    """endpoints as k6_run reduces them from k6's sample stream (one per name tag, sorted by name)."""
    def endpoint(name, count, failed, p95, statuses):
        return {"name": name, "methods": ["GET"], "count": count, "failed": failed,
                "failure_rate": failed / count if count else None, "p50_ms": p95 / 2 if count else None,
                "p95_ms": p95 if count else None, "p99_ms": p95 * 1.1 if count else None,
                "avg_ms": p95 / 2 if count else None, "max_ms": p95 * 1.2 if count else None, "statuses": statuses}
    return [endpoint("/api/budgets/", 30, 30, 48.0, {"400": 30}),
            endpoint("/api/tasks/", 40, 0, 12.0, {"200": 40}),
            endpoint("/idle", 0, 0, 0.0, {}),
            endpoint("/login", 10, 3, 20.0, {"200": 7, "0": 3}),
            endpoint("/slow", 5, 0, 900.0, {"200": 5})]


def sample_errors():
    """errors as k6_run reduces them: failed-request classes, most frequent first."""
    return [{"endpoint": "/api/budgets/", "status": 400, "count": 30, "hint": k6_summary.error_hint(400), "error": ""},
            {"endpoint": "/login", "status": 0, "count": 3, "hint": k6_summary.error_hint(0),
             "error": "dial: connection refused"}]


def sample_result(**more):
    """A k6_run result with the sample stream's endpoints, errors, evaluator and reduction artifact."""
    base = {"endpoints": sample_endpoints(), "errors": sample_errors(),
            "evaluator": {"agrees": True, "compared": 14, "differences": []},
            "artifacts": {"dir": "/r", "summary": "/r/summary.json", "log": "/r/k6.log", "html_report": None,
                          "reduction": "/r/reduction.json"}}
    base.update(more)
    return k6_result("thresholds_failed", **base)


def test_all_hosts_passed_is_a_passed_run():
    doc = run_verdict({"lg1": k6_result("passed"), "lg2": k6_result("passed")}, run_id="smoke-1", scenario="smoke")
    assert doc["verdict"] == "passed" and doc["outcome"] == "passed"
    assert sorted(doc["hosts"]) == ["lg1", "lg2"] and doc["hosts"]["lg1"]["rc"] == 0
    assert doc["hosts"]["lg1"]["checks"]["failed"] == 0 and doc["regression"] is None


def test_the_most_serious_host_verdict_wins():
    doc = run_verdict({"a": k6_result("passed"), "b": k6_result("thresholds_failed"),
                       "c": k6_result("passed", verdict="oom_killed")}, run_id="x")
    assert doc["verdict"] == "oom_killed" and doc["outcome"] == "failed"
    assert run_verdict({"a": k6_result("passed"), "b": k6_result("thresholds_failed")}, run_id="x")["verdict"] == "thresholds_failed"


def test_a_host_without_result_is_an_error_and_no_host_at_all_too():
    assert run_verdict({"a": k6_result("passed"), "b": {}}, run_id="x")["verdict"] == "error"
    assert run_verdict({}, run_id="x")["verdict"] == "error"


def test_the_filter_has_no_vocabulary_of_its_own():
    assert not hasattr(run_verdict_plugin, "SEVERITY")


def test_a_verdict_outside_the_vocabulary_is_an_error():
    doc = run_verdict({"a": k6_result("passed"), "b": {"verdict": "exploded", "msg": "?"}}, run_id="x")
    assert doc["hosts"]["b"]["verdict"] == "error" and doc["verdict"] == "error" and doc["outcome"] == "failed"


@pytest.mark.parametrize("verdict", verdicts.MODULE_VERDICTS)
def test_every_module_verdict_is_kept_and_ranks_as_the_vocabulary_says(verdict):
    # Each verdict against every less serious one: the run takes the more serious.
    doc = run_verdict({"a": {"verdict": verdict}}, run_id="x")
    assert doc["hosts"]["a"]["verdict"] == verdict == doc["verdict"]
    for milder in verdicts.SEVERITY[verdicts.SEVERITY.index(verdict):]:
        assert run_verdict({"a": {"verdict": verdict}, "b": {"verdict": milder}}, run_id="x")["verdict"] == verdict
    assert doc["outcome"] == ("passed" if verdicts.is_accepted(verdict) else "failed")


def test_crossed_thresholds_can_be_accepted_but_regressions_still_fail():
    results = {"a": k6_result("thresholds_failed")}
    assert run_verdict(results, run_id="x", fail_on_thresholds=False)["outcome"] == "passed"
    regression = {"regressions": [{"series": "s"}], "rows": []}
    passed = {"a": k6_result("passed")}
    assert run_verdict(passed, run_id="x", regression=regression)["outcome"] == "failed"
    assert run_verdict(passed, run_id="x", regression=regression, fail_on_regression=False)["outcome"] == "passed"


def test_run_verdict_rejects_a_list():
    with pytest.raises(AnsibleFilterError):
        run_verdict([k6_result("passed")], run_id="x")


def _parse(doc):
    return ET.fromstring(junit_xml(doc).split("\n", 1)[1])


def test_junit_has_one_case_per_threshold_per_host_and_failures_carry_the_observed_value():
    failing = k6_result("thresholds_failed")
    doc = run_verdict({"lg1": k6_result("passed"), "lg2": failing}, run_id="load-7", scenario="load")
    root = _parse(doc)
    suites = {s.get("hostname"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["lg1", "lg2"]
    assert len(suites["lg2"].findall("testcase")) == len(failing["thresholds"])
    crossed = [t for t in failing["thresholds"] if not t["passed"]]
    assert suites["lg2"].get("failures") == str(len(crossed)) == root.get("failures")
    p95 = next(t for t in crossed if t["expression"] == "p(95)<0.001")
    case = next(c for c in suites["lg2"].findall("testcase") if c.get("name") == "http_req_duration p(95)<0.001")
    assert case.get("classname") == "loadops.k6.load.lg2"
    assert "observed p(95)=%.2f ms" % p95["observed"]["value"] in case.find("failure").get("message")
    assert suites["lg1"].get("failures") == "0" and root.get("errors") == "0"


def test_junit_reports_a_broken_run_as_an_error_case():
    broken = {"verdict": "script_error", "rc": 107, "msg": "SyntaxError: Unexpected token", "thresholds": []}
    root = _parse(run_verdict({"lg1": broken}, run_id="x", scenario="smoke"))
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "script_error" and "SyntaxError" in error.text
    assert root.get("errors") == "1" and root.get("tests") == "1"


def test_junit_adds_a_regression_suite():
    regression = {"status": "regressed", "baseline_run_id": "smoke-0", "margin": 0.2, "source": "endpoints", "note": "",
                  "rows": [{"series": "endpoint /api/tasks/", "stat": "p95", "status": "REGRESSED", "baseline_text": "1.00 ms",
                            "current_text": "40.00 ms", "change_text": "+3900%"},
                           {"series": "all requests", "stat": "error rate", "status": "ok", "baseline_text": "0.00%",
                            "current_text": "0.00%", "change_text": "+0"},
                           {"series": "endpoint /gone/", "stat": "p95", "status": "not measured", "baseline_text": "1.00 ms",
                            "current_text": "-", "change_text": "-"}]}
    regression["regressions"] = regression["rows"][:1]
    root = _parse(run_verdict({"lg1": k6_result("passed")}, run_id="x", scenario="smoke", regression=regression))
    suite = [s for s in root.findall("testsuite") if "regressions" in s.get("name")][0]
    assert [c.get("name") for c in suite.findall("testcase")] == ["endpoint /api/tasks/ p95", "all requests error rate"]
    assert "baseline 1.00 ms, now 40.00 ms" in suite.find("testcase/failure").get("message")
    assert suite.get("failures") == "1"


def test_junit_escapes_names_and_declares_utf8():
    text = junit_xml(run_verdict({"lg<1>": k6_result("passed")}, run_id="a&b"))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "&lt;" in text and "a&amp;b" in text
    with pytest.raises(AnsibleFilterError):
        junit_xml({"verdict": "passed"})


def test_errors_and_evaluator_are_carried_per_machine_like_endpoints():
    evaluator = {"agrees": False, "compared": 14, "differences": ["http_reqs: k6 40, loadops 39"]}
    doc = run_verdict({"lg1": sample_result(evaluator=evaluator), "lg2": k6_result("passed")}, run_id="x")
    lg1, lg2 = doc["hosts"]["lg1"], doc["hosts"]["lg2"]
    assert lg1["endpoints"] == sample_endpoints() and lg1["errors"] == sample_errors()
    assert lg1["evaluator"] == evaluator
    # A result of an older k6_run (no errors, no evaluator) and no result at all.
    assert lg2["errors"] == [] and lg2["evaluator"] == {} and lg2["endpoints"] == k6_result("passed")["endpoints"]
    empty = run_verdict({"lg3": {}}, run_id="x")["hosts"]["lg3"]
    assert empty["endpoints"] == [] and empty["errors"] == [] and empty["evaluator"] == {}


def test_the_document_holds_copies_not_the_results_lists():
    result = sample_result()
    doc = run_verdict({"lg1": result}, run_id="x")
    doc["hosts"]["lg1"]["errors"].append({"endpoint": "/z"})
    doc["hosts"]["lg1"]["evaluator"]["agrees"] = False
    assert result["errors"] == sample_errors() and result["evaluator"]["agrees"] is True


def _endpoint_cases(suite):
    return {c.get("name"): c for c in suite.findall("testcase") if c.get("classname").endswith(".endpoints")}


def test_junit_has_one_case_per_endpoint_failing_on_failed_requests_with_the_hints():
    root = _parse(run_verdict({"lg1": sample_result()}, run_id="r", scenario="smoke"))
    suite = root.find("testsuite")
    cases = _endpoint_cases(suite)
    assert sorted(cases) == ["/api/budgets/", "/api/tasks/", "/idle", "/login", "/slow"]
    assert {c.get("classname") for c in cases.values()} == {"loadops.k6.smoke.lg1.endpoints"}
    login = cases["/login"].find("failure")
    assert login.get("type") == "failed_requests"
    assert login.get("message") == "3 of 10 requests failed (statuses 200=7, 0=3); status 0: %s" % k6_summary.error_hint(0)
    assert login.text == "3 x status 0: %s\nk6: dial: connection refused" % k6_summary.error_hint(0)
    budgets = cases["/api/budgets/"].find("failure")
    assert budgets.get("message").startswith("30 of 30 requests failed (statuses 400=30); status 400: 400 Bad Request")
    assert budgets.text == "30 x status 400: %s" % k6_summary.error_hint(400)
    for name in ("/api/tasks/", "/slow"):
        assert cases[name].find("failure") is None
    assert cases["/api/tasks/"].find("system-out").text == "40 requests, none failed, p95 12.00 ms"
    assert cases["/idle"].find("skipped").get("message") == "no requests to /idle on lg1"
    thresholds = len(sample_result()["thresholds"])
    crossed = len([t for t in sample_result()["thresholds"] if not t["passed"]])
    assert suite.get("tests") == str(thresholds + 5) and suite.get("failures") == str(crossed + 2)
    assert suite.get("skipped") == "1" and root.get("failures") == str(crossed + 2)


def test_junit_endpoint_failures_the_thresholds_tolerated_are_shown_but_not_failed():
    result = sample_result()
    result["verdict"] = "passed"
    suite = _parse(run_verdict({"lg1": result}, run_id="r", scenario="smoke")).find("testsuite")
    login = _endpoint_cases(suite)["/login"]
    assert login.find("failure") is None
    assert login.find("system-out").text == (
        "tolerated by the thresholds: 3 of 10 requests failed (statuses 200=7, 0=3); status 0: %s\n"
        "3 x status 0: %s\nk6: dial: connection refused" % (k6_summary.error_hint(0), k6_summary.error_hint(0)))
    crossed = len([t for t in result["thresholds"] if not t["passed"]])
    assert suite.get("failures") == str(crossed)


def test_junit_endpoint_statuses_hint_each_kind_once_in_the_message():
    errors = [{"endpoint": "/login", "status": 0, "count": 2, "hint": "unreachable", "error": "dial: connection refused"},
              {"endpoint": "/login", "status": 0, "count": 1, "hint": "unreachable", "error": "request timeout"}]
    root = _parse(run_verdict({"lg1": sample_result(errors=errors)}, run_id="r"))
    failure = _endpoint_cases(root.find("testsuite"))["/login"].find("failure")
    assert failure.get("message").endswith("; status 0: unreachable") and failure.get("message").count("unreachable") == 1
    assert failure.text.splitlines() == ["2 x status 0: unreachable", "k6: dial: connection refused",
                                         "1 x status 0: unreachable", "k6: request timeout"]


def test_junit_endpoint_without_errors_entries_hints_its_failed_statuses():
    # errors missing (or holding nothing for this endpoint): the hint of each status that is no success.
    root = _parse(run_verdict({"lg1": sample_result(errors=[])}, run_id="r"))
    failure = _endpoint_cases(root.find("testsuite"))["/login"].find("failure")
    assert failure.text == "status 0: %s" % k6_summary.error_hint(0)
    assert failure.get("message").endswith("; status 0: %s" % k6_summary.error_hint(0))


def test_junit_endpoints_of_an_older_result_fail_on_their_failure_rate():
    root = _parse(run_verdict({"lg2": k6_result("mixed_status")}, run_id="r", scenario="smoke"))
    cases = _endpoint_cases(root.find("testsuite"))
    assert sorted(cases) == ["/api/budgets/", "/api/core/projects/", "/api/tasks/"]
    failure = cases["/api/budgets/"].find("failure")
    assert failure.get("message") == "42 of 42 requests failed"
    assert failure.text == "100.00% of the requests failed; this result has no breakdown by status"
    assert cases["/api/tasks/"].find("failure") is None
    assert cases["/api/tasks/"].find("system-out").text == "42 requests, none failed, p95 -"
    # count None (a duration submetric only) and no failure rate: a passing case.
    passed = _endpoint_cases(_parse(run_verdict({"lg1": k6_result("passed")}, run_id="r")).find("testsuite"))
    assert passed["create_task"].find("failure") is None
    assert passed["create_task"].find("system-out").text == "- requests, none failed, p95 52.55 ms"


@pytest.mark.parametrize("endpoints", [[], None])
def test_junit_without_endpoints_has_no_endpoint_cases(endpoints):
    result = sample_result(endpoints=endpoints, errors=None)
    root = _parse(run_verdict({"lg1": result}, run_id="r"))
    suite = root.find("testsuite")
    assert _endpoint_cases(suite) == {} and suite.get("skipped") == "0"
    assert suite.get("tests") == str(len(result["thresholds"]))
    missing = k6_result("thresholds_failed")
    missing.pop("endpoints")
    assert junit_xml(run_verdict({"lg1": missing}, run_id="r")) == junit_xml(run_verdict({"lg1": result}, run_id="r"))


def test_junit_stays_valid_xml_with_odd_endpoint_names_and_k6_error_text():
    name = "/search?q=<a>&b=\"c\"'d'"
    endpoints = [{"name": name, "count": 4, "failed": 4, "failure_rate": 1.0, "p95_ms": 1.0, "statuses": {"0": 4}}]
    errors = [{"endpoint": name, "status": 0, "count": 4, "hint": "no <response> & more",
               "error": "\x1b[31mdial tcp: refused\x1b[0m\x00 ]]> end"}]
    text = junit_xml(run_verdict({"lg1": sample_result(endpoints=endpoints, errors=errors)}, run_id="r"))
    root = ET.fromstring(text.split("\n", 1)[1])  # expat rejects anything XML 1.0 cannot hold
    case = _endpoint_cases(root.find("testsuite"))[name]
    failure = case.find("failure")
    assert "status 0: no <response> & more" in failure.get("message")
    assert failure.text.splitlines()[1] == "k6: \ufffd[31mdial tcp: refused\ufffd[0m\ufffd ]]> end"
    assert "\x1b" not in text and "\x00" not in text
