# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: run_announcement
short_description: The one line said before a scenario runs on a load machine
version_added: 0.1.0
description:
  - Reads the C(requirements) that M(loadops.k6.k6_run) returns in check mode (C(k6 inspect)) and says
    what is about to happen - scenario, run id, load machine, target, peak VUs, duration, estimated
    memory, the limits and where the metrics go.
positional: _input
options:
  _input:
    description: The C(requirements) of a check-mode M(loadops.k6.k6_run) result (C(max_vus), C(total_duration_s), C(memory_estimate_bytes)).
    type: dict
    required: true
  scenario:
    description: Scenario name.
    type: str
    required: true
  run_id:
    description: The run's id.
    type: str
    required: true
  host:
    description: The load machine.
    type: str
    required: true
  target:
    description: The base URL the load goes to.
    type: str
    required: true
  memory_limit:
    description: k6's memory limit as given (e.g. V(2g)); empty says C(none).
    type: str
    default: ""
  cpu_limit:
    description: k6's CPU limit as given (e.g. V(2)); empty says C(no limit).
    type: str
    default: ""
  influxdb_url:
    description: The InfluxDB write URL (only its host and port are said); empty says there is no InfluxDB.
    type: str
    default: ""
  check_mode:
    description: "Say C(Check mode: would run) instead of C(About to run)."
    type: bool
    default: false
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Say what is about to happen
  ansible.builtin.debug:
    msg: >-
      {{ plan.requirements | loadops.k6.run_announcement(scenario='smoke', run_id=testid, host=inventory_hostname,
         target='http://127.0.0.1:8480', memory_limit='2g', influxdb_url='http://127.0.0.1:8086/k6') }}
"""

RETURN = r"""
_value:
  description:
    - "One line, for example: About to run smoke (run smoke-1) from lg1 against http://127.0.0.1:8480: peak 1 VUs,
      0m 30s, about 40 MiB of memory (limit 2g, CPUs no limit), metrics to 127.0.0.1:8086."
  type: str
"""

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError


def _metrics_to(influxdb_url):
    if not influxdb_url:
        return "nowhere (no InfluxDB)"
    try:
        parts = urlsplit(influxdb_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return influxdb_url
    return "%s:%s" % (host, port) if port else str(host)


def run_announcement(requirements, scenario, run_id, host, target, memory_limit="", cpu_limit="", influxdb_url="",
                     check_mode=False):
    if not isinstance(requirements, dict):
        raise AnsibleFilterError("run_announcement expects the requirements of a check-mode loadops.k6.k6_run result, got %s"
                                 % type(requirements).__name__)
    try:
        total_s = float(requirements.get("total_duration_s") or 0)
        memory_mib = int(float(requirements.get("memory_estimate_bytes") or 0) / 1048576)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("run_announcement: requirements with a non-numeric duration or memory estimate: %s" % exc)
    return ("%s %s (run %s) from %s against %s: peak %s VUs, %dm %ds, about %d MiB of memory "
            "(limit %s, CPUs %s), metrics to %s."
            % ("Check mode: would run" if check_mode else "About to run", scenario, run_id, host, target,
               requirements.get("max_vus"), int(total_s // 60), int(round(total_s % 60)), memory_mib,
               memory_limit or "none", cpu_limit or "no limit", _metrics_to(influxdb_url)))


class FilterModule(object):
    def filters(self):
        return {"run_announcement": run_announcement}
