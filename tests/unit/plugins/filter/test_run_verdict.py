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
