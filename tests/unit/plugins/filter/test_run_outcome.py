# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/run_outcome.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.run_outcome import run_outcome

KEYS = ["msg", "outcome", "run_id", "scenario", "verdict"]


def test_a_run_that_went_through_passed():
    record = run_outcome({"verdict": "passed"}, "smoke", "smoke-1")
    assert record == {"scenario": "smoke", "run_id": "smoke-1", "outcome": "passed", "verdict": "passed", "msg": ""}


def test_check_mode_is_checked():
    assert run_outcome({}, "load", "load-1", check_mode=True) == {
        "scenario": "load", "run_id": "load-1", "outcome": "checked", "verdict": "checked", "msg": ""}


def test_a_failure_takes_the_runs_verdict_then_the_machines_then_not_run():
    failure = {"failed": True, "msg": "lg1: thresholds_failed: 2 of 5 thresholds crossed"}
    record = run_outcome({"verdict": "passed"}, "smoke", "smoke-1", doc={"verdict": "thresholds_failed"}, failure=failure)
    assert record["outcome"] == "failed" and record["verdict"] == "thresholds_failed" and record["msg"] == failure["msg"]
    assert run_outcome({"verdict": "timeout"}, "smoke", "smoke-1", doc={}, failure=failure)["verdict"] == "timeout"
    assert run_outcome({}, "stress", "", failure={"msg": "Not starting stress"})["verdict"] == "not run"
    assert sorted(run_outcome({}, "stress", failure={})) == KEYS


def test_a_long_failure_message_is_cut_at_a_word_like_jinjas_truncate():
    words = " ".join(["word%03d" % i for i in range(60)])  # 479 characters
    msg = run_outcome({}, "smoke", "s-1", failure={"msg": words})["msg"]
    assert len(msg) <= 300 and msg.endswith("...") and msg[:-3] == words[:len(msg) - 3]
    assert words.startswith(msg[:-3] + " ")
    near = "x" * 304
    assert run_outcome({}, "smoke", failure={"msg": near})["msg"] == near


def test_a_list_as_document_is_an_error():
    with pytest.raises(AnsibleFilterError):
        run_outcome({}, "smoke", doc=["passed"], failure={"msg": "x"})


@pytest.mark.parametrize("length", [0, 299, 300, 305, 306, 400, 1000])
def test_the_cut_is_jinjas_truncate_300(length):
    import jinja2
    text = ("abc de fghij " * 100)[:length]
    expected = jinja2.Environment().from_string("{{ s | truncate(300) }}").render(s=text)
    assert run_outcome({}, "smoke", failure={"msg": text})["msg"] == expected
