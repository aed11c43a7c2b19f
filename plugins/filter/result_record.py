# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: result_record
short_description: A loadops.k6.k6_run result as it may be written to disk - without the module's arguments
version_added: 0.1.0
description:
  - Takes the registered result of P(loadops.k6.k6_run#module) (directly or through
    P(ansible.builtin.async_status#module)) and returns a copy fit for C(result.json) on the controller.
  - Drops what echoes the module's arguments, whose C(env) carries the script's secrets (test user
    password, InfluxDB credentials) - C(invocation) with its C(module_args) - and Ansible's own
    bookkeeping (C(_ansible_*) keys, the async job's C(ansible_job_id), C(results_file), C(started),
    C(finished)).
  - Raw module output (C(module_stdout), C(stdout) and their C(_lines)), present only when the module
    did not return proper JSON, is dropped when it holds the arguments (C(module_args)).
  - Everything the module reports (verdict, thresholds, checks, metrics, generator, artifacts, the masked
    C(cmd), C(msg), C(rc)) is kept as it is.
positional: _input
options:
  _input:
    description: The registered result.
    type: dict
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Save the module's result
  ansible.builtin.copy:
    content: "{{ k6_result | loadops.k6.result_record | to_nice_json }}\n"
    dest: "results/{{ run_id }}/{{ inventory_hostname }}/result.json"
    mode: "0600"
"""

RETURN = r"""
_value:
  description: A new dict; the input is not changed. No key named C(invocation) or C(module_args) at any depth.
  type: dict
"""

from ansible.errors import AnsibleFilterError

# Keys of Ansible's (and async_status's) own bookkeeping.
BOOKKEEPING = frozenset(["invocation", "ansible_job_id", "results_file", "started", "finished"])
# Raw output, present when the module's answer was not JSON; kept unless it echoes the arguments.
RAW_OUTPUT = ("module_stdout", "stdout")
ARGUMENT_KEYS = frozenset(["invocation", "module_args"])


def _echoes_arguments(value):
    text = "\n".join(value) if isinstance(value, list) else str(value)
    return "module_args" in text or '"invocation"' in text


def _scrub(value):
    """Nested copies without any invocation/module_args key (a failed loop item or a nested result)."""
    if isinstance(value, dict):
        return dict((key, _scrub(item)) for key, item in value.items() if key not in ARGUMENT_KEYS)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def result_record(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError("result_record expects the registered result of loadops.k6.k6_run, got %s"
                                 % type(result).__name__)
    record = {}
    for key, value in result.items():
        if key in BOOKKEEPING or str(key).startswith("_ansible"):
            continue
        record[key] = value
    for key in RAW_OUTPUT:
        if (key in record and _echoes_arguments(record[key])) or (
                key + "_lines" in record and _echoes_arguments(record[key + "_lines"])):
            record.pop(key, None)
            record.pop(key + "_lines", None)
    return _scrub(record)


class FilterModule(object):
    def filters(self):
        return {"result_record": result_record}
