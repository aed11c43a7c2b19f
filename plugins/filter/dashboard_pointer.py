# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: dashboard_pointer
short_description: Where to look at a run's curves - its Grafana link, or the HTML report
version_added: 0.1.0
description:
  - Reads the document of P(loadops.k6.run_verdict#filter) and returns one line pointing to the run in
    Grafana when the document has a Grafana link, else one saying why there is none and pointing to
    k6's HTML report, which holds the same curves.
positional: _input
options:
  _input:
    description: The document of P(loadops.k6.run_verdict#filter).
    type: dict
    required: true
  report:
    description: Path of the load machine's C(report.html) on the controller.
    type: str
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Point to the dashboards
  ansible.builtin.debug:
    msg: "{{ run_doc | loadops.k6.dashboard_pointer(report='results/' ~ run_doc.run_id ~ '/lg1/report.html') }}"
"""

RETURN = r"""
_value:
  description: "C(Grafana: <link>), or a line starting C(No Grafana link) and ending with O(report)."
  type: str
"""

from ansible.errors import AnsibleFilterError


def dashboard_pointer(doc, report):
    if not isinstance(doc, dict):
        raise AnsibleFilterError("dashboard_pointer expects the document of loadops.k6.run_verdict, got %s" % type(doc).__name__)
    if doc.get("grafana_url"):
        return "Grafana: %s" % doc["grafana_url"]
    return ("No Grafana link (scenario_run_grafana_url is empty; the grafana role installs one with "
            "grafana_install_method docker or apt where a registry or apt.grafana.com is reachable); "
            "open the HTML report instead: %s" % report)


class FilterModule(object):
    def filters(self):
        return {"dashboard_pointer": dashboard_pointer}
