# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: grafana_run_link
short_description: Link to one run on the k6 dashboard in Grafana
version_added: 0.1.0
description:
  - Builds the address of the provisioned k6 dashboard showing one run - its C(testid) selected and
    the time range from a minute before the run started to a minute after it ended, so the ramps
    show whole.
  - Returns an empty string when there is no Grafana (O(_input) empty).
positional: _input
options:
  _input:
    description: Grafana's base URL; empty when no Grafana serves the metrics.
    type: str
    required: true
  dashboard_uid:
    description: The dashboard's uid.
    type: str
    required: true
  run_id:
    description: The run id (the C(testid) tag).
    type: str
    required: true
  started_epoch:
    description: Seconds since the epoch when the run started.
    type: float
    required: true
  ended_epoch:
    description: Seconds since the epoch when the run ended.
    type: float
    required: true
  margin_s:
    description: Seconds added before the start and after the end.
    type: float
    default: 60
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Link to the run
  ansible.builtin.debug:
    msg: "{{ 'http://127.0.0.1:3000' | loadops.k6.grafana_run_link('loadops-k6', testid, started_epoch, ended_epoch) }}"
"""

RETURN = r"""
_value:
  description: "The link, e.g. C(http://127.0.0.1:3000/d/loadops-k6?orgId=1&var-testid=smoke-1&from=...&to=...), or empty."
  type: str
"""

from urllib.parse import quote

from ansible.errors import AnsibleFilterError


def grafana_run_link(grafana_url, dashboard_uid, run_id, started_epoch, ended_epoch, margin_s=60):
    if not grafana_url:
        return ""
    try:
        start_ms = int((float(started_epoch) - float(margin_s)) * 1000)
        end_ms = int((float(ended_epoch) + float(margin_s)) * 1000)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("grafana_run_link: the run's start and end must be seconds since the epoch: %s" % exc)
    # Grafana wants epoch milliseconds.
    return "%s/d/%s?orgId=1&var-testid=%s&from=%d&to=%d" % (
        str(grafana_url).rstrip("/"), dashboard_uid, quote(str(run_id)), start_ms, end_ms)


class FilterModule(object):
    def filters(self):
        return {"grafana_run_link": grafana_run_link}
