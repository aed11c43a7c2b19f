# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/plan_problems.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.plan_problems import plan_problems

MIB = 1048576
PLAN = {"k6_version": "1.1.0", "requirements": {"max_vus": 200, "memory_estimate_bytes": 300 * MIB + 5}}


def test_a_plan_that_fits_has_no_problem():
    assert plan_problems(PLAN, "1.1.0", memory_limit="2g", memtotal_mb=8000) == []
    assert plan_problems(PLAN, "1.1.0", memtotal_mb=8000) == []


def test_an_estimate_over_the_limit_names_the_limit_to_set():
    problems = plan_problems(PLAN, "1.1.0", memory_limit="40m", memtotal_mb=8000, prefix="lg1: preflight: ")
    assert problems == ["lg1: preflight: the scenario peaks at 200 VUs, estimated 300 MiB, more than the 40 MiB memory "
                        "limit; raise scenario_run_memory_limit (K6_DOCKER_MEMORY) to at least 301m, lower the VUs "
                        "(K6_VU_SCALE in scenario_run_env) or spread the load over more load machines."]


def test_without_a_limit_the_machines_ram_is_the_cap():
    text = plan_problems(PLAN, "1.1.0", memtotal_mb=256)[0]
    assert "more than the 256 MiB of RAM this machine has;" in text


def test_nothing_is_checked_without_a_limit_or_known_ram():
    assert plan_problems(PLAN, "1.1.0") == []


def test_another_k6_version_comes_first():
    problems = plan_problems(dict(PLAN, k6_version="0.0.1"), "1.1.0", memory_limit="40m")
    assert len(problems) == 2
    assert problems[0] == ("k6 reports version 0.0.1, not the pinned 1.1.0; run playbooks/provision.yml (role "
                           "loadops.k6.k6_runner) to install 1.1.0, or pin the version you mean with k6_runner_version.")
    assert "k6 reports version unknown" in plan_problems({"requirements": {}}, "1.1.0")[0]


def test_a_plan_without_requirements_is_left_to_the_role():
    assert plan_problems({"msg": "SyntaxError"}, "1.1.0", memory_limit="1m") == []


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        plan_problems("plan", "1.1.0")
    with pytest.raises(AnsibleFilterError):
        plan_problems(PLAN, "1.1.0", memory_limit="lots")
