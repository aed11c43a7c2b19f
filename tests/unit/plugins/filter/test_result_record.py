# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/result_record.py: result.json never carries the module's arguments."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.result_record import result_record

SECRET = "s3cr3t-Pa55"


def registered():
    """What async_status registers for a finished loadops.k6.k6_run job."""
    return {
        "ansible_job_id": "j123.456", "finished": 1, "started": 1, "results_file": "/root/.ansible_async/j123.456",
        "changed": True, "failed": False, "verdict": "passed", "rc": 0, "testid": "smoke-x",
        "thresholds": [{"metric": "http_req_failed", "expression": "rate<0.01", "passed": True}],
        "artifacts": {"dir": "/var/lib/loadops/results/smoke-x", "summary": "/var/lib/loadops/results/smoke-x/summary.json"},
        "cmd": "k6 run --quiet --tag testid=smoke-x /opt/loadops/k6/scripts/scenarios/smoke.js",
        "msg": "passed", "warnings": [], "_ansible_no_log": False,
        "invocation": {"module_args": {"script": "/opt/x.js", "run_as_user": "loadops-k6",
                                       "env": {"K6_TEST_USER_EMAIL": "qa@example.net", "K6_TEST_USER_PASSWORD": SECRET,
                                               "MY_THING": SECRET}}},
    }


def test_the_arguments_and_the_bookkeeping_are_dropped_and_the_report_kept():
    record = result_record(registered())
    text = json.dumps(record)
    assert SECRET not in text and "qa@example.net" not in text
    assert "invocation" not in record and "module_args" not in text
    for key in ("ansible_job_id", "finished", "started", "results_file", "_ansible_no_log"):
        assert key not in record
    for key in ("verdict", "rc", "testid", "thresholds", "artifacts", "cmd", "msg", "changed", "failed", "warnings"):
        assert record[key] == registered()[key]


def test_the_input_is_left_alone():
    original = registered()
    result_record(original)
    assert original == registered()


def test_raw_output_that_echoes_the_arguments_is_dropped_and_a_plain_traceback_kept():
    crashed = {"failed": True, "msg": "MODULE FAILURE",
               "module_stdout": '{"invocation": {"module_args": {"env": {"K6_TEST_USER_PASSWORD": "%s"}}}' % SECRET,
               "module_stderr": "Traceback (most recent call last): ..."}
    record = result_record(crashed)
    assert SECRET not in json.dumps(record) and "module_stdout" not in record
    assert record["module_stderr"].startswith("Traceback")
    lines = {"failed": True, "stdout": "x", "stdout_lines": ["module_args: {'env': '%s'}" % SECRET]}
    assert "stdout" not in result_record(lines) and "stdout_lines" not in result_record(lines)
    plain = {"failed": True, "module_stdout": "Traceback ...", "msg": "MODULE FAILURE"}
    assert result_record(plain) == plain


def test_nested_arguments_are_dropped_too():
    nested = {"results": [{"invocation": {"module_args": {"env": {"P": SECRET}}}, "rc": 0}], "verdict": "passed"}
    assert result_record(nested) == {"results": [{"rc": 0}], "verdict": "passed"}


def test_an_empty_result_stays_empty_and_non_dicts_are_refused():
    assert result_record({}) == {}
    with pytest.raises(AnsibleFilterError):
        result_record("passed")
