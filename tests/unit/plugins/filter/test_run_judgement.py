# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/run_judgement.py, on documents made by run_verdict."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.run_judgement import run_judgement
from ansible_collections.loadops.k6.plugins.filter.run_verdict import run_verdict
from ansible_collections.loadops.k6.plugins.module_utils import verdicts

WHERE = "(run smoke-1; results in /r/smoke-1)"
REGRESSION = {"baseline_run_id": "smoke-0", "regressions": [
    {"series": "http_req_duration{type:read}", "stat": "p95"},
    {"series": "http_req_duration{type:read}", "stat": "error rate"},
    {"series": "endpoint /api/tasks/", "stat": "p95"}]}


def judge(results, host="lg1", fail_on_thresholds=True, **options):
    doc = run_verdict(results, run_id="smoke-1", scenario="smoke", fail_on_thresholds=fail_on_thresholds, **options)
    return run_judgement(doc, host, results_dir="/r/smoke-1", fail_on_thresholds=fail_on_thresholds)


def test_a_passed_run_passes_without_a_reason():
    assert judge({"lg1": {"verdict": "passed"}, "lg2": {"verdict": "passed"}}) == {"passed": True, "reason": ""}


def test_this_machines_own_verdict_and_message_come_first():
    answer = judge({"lg1": {"verdict": "thresholds_failed", "msg": "2 of 5 thresholds crossed"}, "lg2": {"verdict": "passed"}})
    assert answer == {"passed": False, "reason": "lg1: thresholds_failed: 2 of 5 thresholds crossed " + WHERE}


def test_a_machine_that_passed_names_the_verdict_of_another():
    answer = judge({"lg1": {"verdict": "passed"}, "lg2": {"verdict": "oom_killed"}})
    assert answer["reason"] == "lg1: passed here, but the run ended oom_killed on another load machine " + WHERE


def test_regressions_name_each_series_once_and_count_every_regression():
    answer = judge({"lg1": {"verdict": "passed"}}, regression=REGRESSION)
    assert answer["passed"] is False
    assert answer["reason"] == ("lg1: the thresholds held but 3 series regressed against baseline smoke-0: "
                                "http_req_duration{type:read}, endpoint /api/tasks/ (see the table above; "
                                "run smoke-1; results in /r/smoke-1)")
    assert judge({"lg1": {"verdict": "passed"}}, regression=REGRESSION, fail_on_regression=False)["passed"] is True


def test_accepted_crossed_thresholds_pass_and_then_a_regression_is_the_reason():
    crossed = {"lg1": {"verdict": "thresholds_failed", "msg": "crossed"}}
    assert judge(crossed, fail_on_thresholds=False)["passed"] is True
    assert "series regressed" in judge(crossed, fail_on_thresholds=False, regression=REGRESSION)["reason"]


@pytest.mark.parametrize("verdict", verdicts.MODULE_VERDICTS)
def test_the_acceptance_rule_is_the_vocabularys(verdict):
    for fail_on_thresholds in (True, False):
        answer = judge({"lg1": {"verdict": verdict, "msg": "m"}}, fail_on_thresholds=fail_on_thresholds)
        assert answer["passed"] is verdicts.is_accepted(verdict, fail_on_thresholds)
        if not answer["passed"]:
            assert answer["reason"] == "lg1: %s: m %s" % (verdict, WHERE)


def test_a_machine_missing_from_the_document_quotes_its_own_result():
    doc = run_verdict({"lg2": {"verdict": "passed"}, "lg3": {}}, run_id="smoke-1")
    answer = run_judgement(doc, "lg1", result={"msg": "connection lost"}, results_dir="/r/smoke-1")
    assert answer["reason"] == "lg1: error: connection lost " + WHERE


def test_no_document_at_all_fails_with_no_result():
    answer = run_judgement({}, "lg1", run_id="smoke-1", results_dir="/r/smoke-1")
    assert answer == {"passed": False, "reason": "lg1: error: no result " + WHERE}
    assert run_judgement(None, "lg1")["passed"] is False


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        run_judgement(["passed"], "lg1")
