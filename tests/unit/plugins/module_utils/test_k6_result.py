# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_result.py: the verdict's sentence, the exit-106 message,
the load generator's health and finish(). (verdict_from is tested against real k6 outputs in
test_k6_summary.py.)"""

import json
import os

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_result, verdicts
from ansible_collections.loadops.k6.plugins.module_utils.k6_result import (
    api_address_problem, finish, generator_health, verdict_sentence)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "fixtures", "k6_1.1.0")
MiB = 2 ** 20

RESULT = {
    "rc": 42,
    "thresholds": [
        {"metric": "http_req_duration", "expression": "p(95)<300", "passed": False},
        {"metric": "http_req_failed", "expression": "rate<0.01", "passed": True},
        {"metric": "checks", "expression": "rate>0.99", "passed": False},
    ],
}
LOG = 'time="t" level=info msg="starting"\ntime="t" level=error msg="ReferenceError: foo is not defined"\n'

# verdict -> what its sentence must name
NAMES = {
    "oom_killed": ["OOM", "memory_limit"],
    "script_error": ["script", "ReferenceError: foo is not defined"],
    "config_error": ["options or thresholds", "ReferenceError: foo is not defined"],
    "k6_error": ["rc 42", "ReferenceError: foo is not defined"],
    "timeout": ["timeout"],
    "interrupted": ["interrupted"],
    "script_failed": ["exec.test.fail()", "ReferenceError: foo is not defined"],
    "aborted": ["aborted", "http_req_duration p(95)<300, checks rate>0.99"],
    "thresholds_failed": ["2 of 3 thresholds crossed", "http_req_duration p(95)<300, checks rate>0.99"],
    "passed": ["all 3 thresholds held"],
}


def test_every_module_verdict_has_a_sentence_check():
    assert set(NAMES) == set(verdicts.MODULE_VERDICTS)


@pytest.mark.parametrize("verdict", verdicts.MODULE_VERDICTS)
def test_verdict_sentence_names_what_failed(verdict):
    sentence = verdict_sentence(verdict, RESULT, LOG)
    assert sentence
    assert not sentence.startswith("k6 ended with rc")  # the fallback for an unknown verdict
    for needle in NAMES[verdict]:
        assert needle in sentence, (verdict, sentence)


def test_verdict_sentence_for_an_unknown_verdict_gives_the_rc():
    assert verdict_sentence("nonsense", RESULT, LOG) == "k6 ended with rc 42"


def test_aborted_without_crossed_thresholds_names_the_first_error_of_the_log():
    log = 'level=error msg="test aborted: giving up on purpose"\n'
    assert verdict_sentence("aborted", {"thresholds": []}, log).endswith(": test aborted: giving up on purpose")


def test_thresholds_failed_sentence_lists_at_most_five_crossed_thresholds():
    many = {"thresholds": [{"metric": "m%d" % i, "expression": "p(95)<1", "passed": False} for i in range(7)]}
    sentence = verdict_sentence("thresholds_failed", many, "")
    assert sentence.startswith("7 of 7 thresholds crossed: m0 p(95)<1")
    assert "m4 p(95)<1" in sentence and "m5" not in sentence


def test_sentences_of_real_k6_logs_name_the_real_error():
    with open(os.path.join(FIXTURES, "script_error.meta.json")) as handle:
        log = "\n".join(json.load(handle)["stderr_tail"])
    assert "capture: broken init code" in verdict_sentence("script_error", {"thresholds": []}, log)


# ------------------------------------------------------------------------------ api_address_problem
def test_api_address_problem_names_the_address_and_k6s_reason_for_exit_106():
    with open(os.path.join(FIXTURES, "api_in_use.meta.json")) as handle:
        meta = json.load(handle)
    text = api_address_problem(meta["rc"], meta["stderr"], "127.0.0.1:6565")
    assert text.startswith("k6 could not open its REST API at api_address 127.0.0.1:6565 "
                           "(listen tcp 127.0.0.1:PORT: bind: address already in use)")
    assert "''" in text  # how to run without the API


def test_api_address_problem_without_the_api_log_line_uses_the_first_error():
    text = api_address_problem(106, 'level=error msg="something else broke"\n', ":6565")
    assert "api_address :6565 (something else broke)" in text


@pytest.mark.parametrize("rc", [0, 99, 104, 105, 107, 255, -9])
def test_api_address_problem_is_none_for_other_exit_codes(rc):
    assert api_address_problem(rc, 'msg="Error from API server" error="bind: address already in use"', "x:1") is None


# ------------------------------------------------------------------------------ generator_health
def test_healthy_generator_is_not_saturated():
    evidence = {"oom_killed": False, "memory_peak_bytes": 100 * MiB, "memory_limit_bytes": 512 * MiB,
                "throttled_share": 0.05, "cpu_limit": 2.0}
    gen = generator_health(evidence, {"dropped_iterations": 0})
    assert gen["saturated"] is False and gen["reasons"] == []
    assert gen["memory_peak_bytes"] == 100 * MiB  # the evidence is kept


def test_generator_health_does_not_change_the_evidence_it_is_given():
    evidence = {"oom_killed": True, "memory_limit_bytes": 256 * MiB}
    generator_health(evidence, {})
    assert evidence == {"oom_killed": True, "memory_limit_bytes": 256 * MiB}


@pytest.mark.parametrize("evidence, metrics, reason", [
    ({"oom_killed": True, "memory_limit_bytes": 256 * MiB}, {}, "k6 was OOM-killed at the 256 MiB memory limit"),
    ({"oom_killed": True}, {}, "k6 was OOM-killed at the ? memory limit"),
    ({"memory_peak_bytes": 480 * MiB, "memory_limit_bytes": 512 * MiB}, {},
     "memory peaked at 480 MiB of the 512 MiB limit"),
    ({"throttled_share": 0.35, "cpu_limit": 0.5}, {}, "CPU throttled in 35% of scheduler periods at cpu_limit 0.5"),
    ({}, {"dropped_iterations": 12}, "12 iterations dropped: not enough VUs or CPU to keep the arrival rate"),
])
def test_generator_health_says_why_the_generator_was_the_bottleneck(evidence, metrics, reason):
    gen = generator_health(evidence, metrics)
    assert gen["saturated"] is True
    assert gen["reasons"] == [reason]


def test_oom_kill_is_not_also_reported_as_a_high_memory_peak():
    gen = generator_health({"oom_killed": True, "memory_peak_bytes": 512 * MiB, "memory_limit_bytes": 512 * MiB}, {})
    assert gen["reasons"] == ["k6 was OOM-killed at the 512 MiB memory limit"]


@pytest.mark.parametrize("evidence", [
    {"memory_peak_bytes": 460 * MiB, "memory_limit_bytes": 512 * MiB},  # below 90 %
    {"memory_peak_bytes": 900 * MiB, "memory_limit_bytes": None},       # no limit to compare with
    {"throttled_share": 0.2, "cpu_limit": 1},                           # not above 20 %
    {"throttled_share": None},
])
def test_generator_health_thresholds_are_not_crossed_at_their_bounds(evidence):
    assert generator_health(evidence, {})["saturated"] is False


def test_several_reasons_are_all_given():
    gen = generator_health({"throttled_share": 0.5, "cpu_limit": 1, "memory_peak_bytes": 95, "memory_limit_bytes": 100},
                           {"dropped_iterations": 3})
    assert len(gen["reasons"]) == 3


# ------------------------------------------------------------------------------ finish
@pytest.mark.parametrize("fail_on_thresholds", [True, False])
@pytest.mark.parametrize("verdict", verdicts.MODULE_VERDICTS)
def test_finish_sets_failed_from_the_acceptance_rule(verdict, fail_on_thresholds):
    result = finish({"thresholds": []}, verdict, 7, fail_on_thresholds)
    assert result["failed"] is (not verdicts.is_accepted(verdict, fail_on_thresholds))
    assert result["verdict"] == verdict and result["rc"] == 7


def test_finish_fails_everything_but_passed_and_reported_thresholds():
    accepted = [v for v in verdicts.MODULE_VERDICTS if not finish({}, v, 1, False)["failed"]]
    assert accepted == ["thresholds_failed", "passed"]
    assert [v for v in verdicts.MODULE_VERDICTS if not finish({}, v, 1, True)["failed"]] == ["passed"]


def test_finish_keeps_failed_false_for_rc_99_when_thresholds_are_only_reported():
    result = finish({"thresholds": RESULT["thresholds"]}, "thresholds_failed", 99, False)
    assert (result["rc"], result["failed"]) == (99, False)


def test_finish_writes_the_verdict_sentence_unless_given_a_msg():
    result = finish({"thresholds": RESULT["thresholds"]}, "script_error", 107, True, LOG)
    assert result["msg"] == "the script failed to run: ReferenceError: foo is not defined"
    given = finish({}, "config_error", 106, True, LOG, msg="api_address is taken")
    assert given["msg"] == "api_address is taken"


def test_finish_for_a_k6_error_names_the_rc_it_was_given():
    assert finish({}, "k6_error", 255, True, LOG)["msg"] == "k6 failed (rc 255): ReferenceError: foo is not defined"


def test_write_errors_warning_only_for_a_passed_exit():
    log = 'level=error msg="Couldn\'t write stats" output=InfluxDBv1\n'
    assert "/r/k6.log" in k6_result.write_errors_warning(0, log, "/r/k6.log")
    assert k6_result.write_errors_warning(99, log, "/r/k6.log") is None
    assert k6_result.write_errors_warning(0, LOG, "/r/k6.log") is None
