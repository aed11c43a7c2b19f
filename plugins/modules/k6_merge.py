#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: k6_merge
short_description: Judge a test that ran on several load machines on the union of their samples
version_added: 0.1.0
description:
  - Reads the C(reduction.json) that M(loadops.k6.k6_run) wrote on each load machine of a fleet run
    (fetched to the controller), merges them, and judges the script's thresholds on the union with
    the same evaluator a single machine uses. Counts, minimums, maximums and percentiles are exactly
    what k6 would have printed had one machine produced every sample; averages may differ from
    that in the last bits (the order of addition).
  - Also returns the fleet's headline metrics, checks, endpoints and failed requests.
  - Runs where the files are, normally on the controller (C(delegate_to) C(localhost)). It reads
    only; it never reports a change.
author:
  - loadops.k6 developers (@loadops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
options:
  hosts:
    description:
      - Per load machine, the paths of its fetched C(reduction) (required to count the machine) and
        C(summary) (k6's C(--summary-export); gives the metric kinds and the test's duration).
      - Or a list of machine names, with O(results_dir). Each machine's files are then
        C(<results_dir>/<machine>/reduction.json) and C(summary.json), as the C(loadops.k6.scenario_run) role fetches them.
      - A machine whose reduction is missing or unreadable is listed in RV(missing) and left out.
    type: raw
    required: true
  results_dir:
    description: The run's directory on the controller, when O(hosts) is a list of names.
    type: path
  thresholds:
    description:
      - The machines' M(loadops.k6.k6_run) C(thresholds) lists (one list per machine, in any order);
        the script's thresholds are rebuilt from the first that has any.
    type: list
    elements: raw
    default: []
  secrets:
    description: Values never to show (masked in endpoint names and error texts).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Judge the fleet run on all samples
  loadops.k6.k6_merge:
    hosts:
      lg1: {reduction: results/run1/lg1/reduction.json, summary: results/run1/lg1/summary.json}
      lg2: {reduction: results/run1/lg2/reduction.json, summary: results/run1/lg2/summary.json}
    thresholds: "{{ ansible_play_hosts | map('extract', hostvars, ['k6', 'thresholds']) | list }}"
  delegate_to: localhost
  run_once: true
  register: fleet
"""

RETURN = r"""
thresholds:
  description: "Every threshold of the script judged on all samples: C(metric), C(expression), C(passed)
    (null when it cannot be judged, with C(problem)), C(observed) (C(stat), C(value), C(unit)), C(abort_on_fail)."
  type: list
  elements: dict
  returned: always
metrics:
  description: Headline numbers of the whole test (requests, request_rate, failure_rate, duration_ms, iterations, ...).
  type: dict
  returned: always
checks:
  description: Every check with its passes and fails over all machines.
  type: list
  elements: dict
  returned: always
endpoints:
  description: Per endpoint (the C(name) tag) over all machines, as M(loadops.k6.k6_run) returns them.
  type: list
  elements: dict
  returned: always
errors:
  description: Failed requests by endpoint and status over all machines.
  type: list
  elements: dict
  returned: always
samples:
  description: Samples merged.
  type: int
  returned: always
duration_s:
  description: The test's duration used for rates (the longest machine's).
  type: float
  returned: always
merged:
  description: Machines whose reductions were merged.
  type: list
  elements: str
  returned: always
missing:
  description: Machines without a readable reduction, with the reason.
  type: dict
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.loadops.k6.plugins.module_utils import k6_fleet
from ansible_collections.loadops.k6.plugins.module_utils import k6_samples
from ansible_collections.loadops.k6.plugins.module_utils.k6_jobs import read_json_object
from ansible_collections.loadops.k6.plugins.module_utils.k6_command import mask


def main():
    module = AnsibleModule(argument_spec=dict(
        hosts=dict(type="raw", required=True),
        results_dir=dict(type="path"),
        thresholds=dict(type="list", elements="raw", default=[]),
        secrets=dict(type="list", elements="str", default=[], no_log=True),
    ), supports_check_mode=True)
    reductions, summaries, missing = {}, {}, {}
    hosts = module.params["hosts"]
    if isinstance(hosts, list):
        if not module.params["results_dir"]:
            module.fail_json(msg="hosts is a list of machine names; results_dir must say where their files are")
        hosts = dict((str(h), {"reduction": os.path.join(module.params["results_dir"], str(h), k6_samples.REDUCTION_FILE),
                               "summary": os.path.join(module.params["results_dir"], str(h), "summary.json")})
                     for h in hosts)
    if not isinstance(hosts, dict):
        module.fail_json(msg="hosts must be a mapping of machine name to its files, or a list of names; got %r" % (hosts,))
    for host, paths in sorted(hosts.items()):
        if not isinstance(paths, dict):
            module.fail_json(msg="hosts.%s must be a mapping with 'reduction' and 'summary' paths, got %r"
                                 % (host, paths))
        path = paths.get("reduction")
        if not path or not os.path.exists(path):
            missing[host] = "no samples came back from this machine (no %s)" % (path or k6_samples.REDUCTION_FILE)
            continue
        try:
            reductions[host] = k6_samples.load(path)
        except (OSError, ValueError) as exc:
            missing[host] = "%s cannot be read: %s" % (path, exc)
            continue
        summaries[host] = read_json_object(paths.get("summary"))
    if not reductions:
        module.exit_json(changed=False, thresholds=[], metrics={}, checks=[], endpoints=[], errors=[], samples=0,
                         duration_s=0.0, merged=[], missing=missing)
    secrets = module.params["secrets"]
    result = k6_fleet.judge(reductions, summaries, [t for t in module.params["thresholds"] if isinstance(t, list)],
                            secrets_mask=lambda text: mask(text, secrets))
    result["missing"] = missing
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
