# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: plan_problems
short_description: Preflight problems found in a scenario's check-mode plan - k6's version and memory fit
version_added: 0.1.0
description:
  - Reads the result of M(loadops.k6.k6_run) in check mode (C(k6 inspect)) on one load machine and
    returns one sentence, ending in its fix, per problem found.
  - The k6 version the load machine reports must be O(k6_version).
  - The scenario's memory estimate must fit the memory k6 may use - O(memory_limit) when set, else
    all of the machine's RAM (O(memtotal_mb)). Nothing is checked when neither is known.
  - A result without C(requirements) (the scenario could not be inspected) gives no problem here;
    the role reports that one itself.
positional: _input
options:
  _input:
    description: The registered result of M(loadops.k6.k6_run) in check mode.
    type: dict
    required: true
  k6_version:
    description: The version k6 must report.
    type: str
    required: true
  memory_limit:
    description: k6's memory limit in the form M(loadops.k6.k6_run) takes (V(512m), V(2g), bytes); empty for none.
    type: str
    default: ""
  memtotal_mb:
    description: The load machine's RAM in MiB (C(ansible_facts.memtotal_mb)); 0 when unknown.
    type: int
    default: 0
  prefix:
    description: "Text put before every sentence, e.g. C(lg1: preflight: )."
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Note the plan's problems
  ansible.builtin.set_fact:
    problems: >-
      {{ problems + (plan | loadops.k6.plan_problems('1.1.0', memory_limit='2g', memtotal_mb=ansible_facts['memtotal_mb'],
                                                     prefix=inventory_hostname ~ ': preflight: ')) }}
"""

RETURN = r"""
_value:
  description: The problems, the version first; empty when there is none.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.formatters import human_to_bytes

_MIB = 1048576


def _version_problem(plan, expected):
    reported = plan.get("k6_version")
    if str(reported if reported is not None else "") == str(expected):
        return None
    return ("k6 reports version %s, not the pinned %s; run playbooks/provision.yml (role loadops.k6.k6_runner) to "
            "install %s, or pin the version you mean with k6_runner_version."
            % (reported if reported is not None else "unknown", expected, expected))


def _memory_problem(requirements, memory_limit, memtotal_mb):
    try:
        estimate = int(float(requirements.get("memory_estimate_bytes") or 0))
        if memory_limit:
            cap, source = human_to_bytes(str(memory_limit)), "memory limit"
        else:
            cap, source = int(float(memtotal_mb or 0)) * _MIB, "of RAM this machine has"
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("plan_problems: cannot compare the memory estimate with the limit %r: %s" % (memory_limit, exc))
    if cap <= 0 or estimate <= cap:
        return None
    return ("the scenario peaks at %s VUs, estimated %d MiB, more than the %d MiB %s; raise scenario_run_memory_limit "
            "(K6_DOCKER_MEMORY) to at least %dm, lower the VUs (K6_VU_SCALE in scenario_run_env) or spread the load "
            "over more load machines."
            % (requirements.get("max_vus"), estimate // _MIB, cap // _MIB, source, estimate // _MIB + 1))


def plan_problems(plan, k6_version, memory_limit="", memtotal_mb=0, prefix=""):
    if not isinstance(plan, dict):
        raise AnsibleFilterError("plan_problems expects the registered result of loadops.k6.k6_run in check mode, got %s"
                                 % type(plan).__name__)
    requirements = plan.get("requirements")
    if not isinstance(requirements, dict):
        return []
    found = [_version_problem(plan, k6_version), _memory_problem(requirements, memory_limit, memtotal_mb)]
    return ["%s%s" % (prefix, problem) for problem in found if problem]


class FilterModule(object):
    def filters(self):
        return {"plan_problems": plan_problems}
