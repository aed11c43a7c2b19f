"""fleet_clocks: the load machines' clock offsets, bracketed by the controller's clock."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.filter.fleet_clocks import fleet_clocks


def test_clocks_read_between_before_and_after_are_in_sync():
    found = fleet_clocks(["lg1", "lg2"], times=["1000.2", 1000.9], before=1000.0, after=1001.0)
    assert found["problems"] == [] and found["uncertainty_s"] == 0.5
    assert found["hosts"]["lg1"] == {"offset_s": -0.3, "within_s": 0.5, "problem": ""}
    assert found["hosts"]["lg2"]["offset_s"] == 0.4 and found["spread_s"] == 0.7
    assert found["summary"] == "clock offsets from the controller (within 0.50 s): lg1 -0.30 s, lg2 +0.40 s"


def test_a_clock_certainly_off_by_more_than_the_limit_is_a_problem_naming_it():
    found = fleet_clocks(["lg1", "lg2", "lg3"], times=[1000.5, 1006.0, 995.5], before=1000.0, after=1001.0)
    assert found["hosts"]["lg1"]["problem"] == ""
    assert found["hosts"]["lg2"]["problem"].startswith(
        "lg2's clock is 5.5 s ahead of the controller's (at least 5.0 s; at most 1 s is allowed): sync the clocks")
    assert "lg3's clock is 5.0 s behind the controller's (at least 4.5 s" in found["hosts"]["lg3"]["problem"]
    assert len(found["problems"]) == 2


def test_an_offset_within_the_uncertainty_or_the_limit_is_not_a_problem():
    # 1.8 s ahead by the middle, but the reading took 3 s: it may be only 0.3 s off.
    assert fleet_clocks(["a"], times=[1003.3], before=1000.0, after=1003.0)["problems"] == []
    assert fleet_clocks(["a"], times=[1002.4], before=1000.0, after=1000.2, max_offset=3)["problems"] == []
    assert fleet_clocks(["a"], times=[1900.0], before=1000.0, after=1000.2, max_offset=0)["problems"] == []


@pytest.mark.parametrize("kwargs,words", [
    ({"times": ["soon"]}, "a's clock 'soon' is not a number"),
    ({"times": [1, 2]}, "1 machines but 2 clock readings"),
    ({"times": [1], "before": 5.0, "after": 4.0}, "after (4.0) is earlier than before (5.0)"),
    ({"times": [1], "max_offset": -1}, "max_offset -1.0 must be 0 (no check) or a positive"),
    ({"times": ["nan"]}, "is not a finite number"),
])
def test_bad_readings_are_named(kwargs, words):
    args = dict({"before": 0.0, "after": 1.0}, **kwargs)
    with pytest.raises(AnsibleFilterError) as caught:
        fleet_clocks(["a"], **args)
    assert words in str(caught.value)
