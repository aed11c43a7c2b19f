# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: safety_refusals
short_description: The safety rules' refusals of a run, one sentence and its fix each
version_added: 0.1.0
description:
  - Applies the two safety rules of a run and returns one sentence, ending in its fix, per refusal.
  - Load goes only to targets whose host is allowed (the rule of P(loadops.k6.disallowed_targets#filter)).
  - A heavy scenario runs only on a dedicated load machine, unless O(force=true).
positional: _input
options:
  _input:
    description: The target URLs the scenario sends load to (each is judged once).
    type: list
    elements: str
    required: true
  allowed_targets:
    description: Hosts the load may go to - names, C(*.)wildcards, addresses or CIDR networks.
    type: list
    elements: str
    required: true
  scenario:
    description: Scenario name.
    type: str
    default: ""
  heavy_scenarios:
    description: Scenarios that need a dedicated load machine.
    type: list
    elements: str
    default: []
  dedicated:
    description: Whether this machine is a dedicated load machine (C(loadops_dedicated_load_machine)).
    type: bool
    default: false
  force:
    description: Run a heavy scenario on a machine that is not dedicated anyway.
    type: bool
    default: false
  prefix:
    description: "Text put before every sentence, e.g. C(lg1: )."
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Refuse what the safety rules forbid
  ansible.builtin.set_fact:
    problems: >-
      {{ problems + (['http://staging.example.net'] | loadops.k6.safety_refusals(['*.example.net'], scenario='stress',
                                                                                  heavy_scenarios=['stress', 'spike'])) }}
"""

RETURN = r"""
_value:
  description: The refusals, targets first; empty when the run may go ahead.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.filter.disallowed_targets import disallowed_targets


def safety_refusals(urls, allowed_targets, scenario="", heavy_scenarios=None, dedicated=False, force=False, prefix=""):
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, (list, tuple)):
        raise AnsibleFilterError("safety_refusals expects a list of target URLs, got %s" % type(urls).__name__)
    unique = []
    for url in urls:
        if url not in unique:
            unique.append(url)
    refusals = [("refusing to send load to %s because its host is not in scenario_run_allowed_targets (%s); add the "
                 "host to scenario_run_allowed_targets in the inventory if it may receive load."
                 % (url, ", ".join(str(a) for a in allowed_targets)))
                for url in disallowed_targets(unique, allowed_targets)]
    if scenario in (heavy_scenarios or []) and not dedicated and not force:
        refusals.append("refusing to run %s here because this host is not marked as a dedicated load machine; set "
                        "loadops_dedicated_load_machine: true for it in the inventory, or scenario_run_force: true to "
                        "accept that it may become unresponsive." % scenario)
    return ["%s%s" % (prefix, refusal) for refusal in refusals]


class FilterModule(object):
    def filters(self):
        return {"safety_refusals": safety_refusals}
