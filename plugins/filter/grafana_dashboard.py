# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: grafana_dashboard
short_description: Make a Grafana dashboard JSON ready for file provisioning with one fixed datasource uid
version_added: 0.1.0
description:
  - Grafana does not substitute C(__inputs) / C(${DS_...}) placeholders in dashboards it loads from
    provisioning files (grafana/grafana#10786), so an exported dashboard dropped into a provisioning
    folder shows "datasource not found" on every panel. This filter does that substitution once, when
    the file is provisioned.
  - Every C(${DS_NAME}) (and C($DS_NAME)) placeholder, anywhere in the dashboard, becomes O(datasource_uid).
  - >-
    Every datasource reference (the C(datasource) key of panels, panels nested in rows, targets,
    templating variables and annotations; string form, name, variable such as C($datasource), C(null),
    or object form C({type, uid})) becomes the object C({"type": datasource_type, "uid": datasource_uid}).
    Grafana's built-in pseudo datasources (C(-- Grafana --), C(-- Mixed --), C(-- Dashboard --) and
    server-side expressions C(__expr__)) are kept as they are.
  - C(${VAR_NAME}) placeholders of C(constant) inputs declared in C(__inputs) take the input's value.
  - Library panels whose model is exported in C(__elements) are inlined into the dashboard.
  - C(__inputs), C(__requires), C(__elements) and the instance-specific C(id) are dropped; C(uid),
    C(title) and everything else are kept.
  - >-
    A dashboard as returned by Grafana's HTTP API (C({"dashboard": {...}, "meta": {...}})) is unwrapped.
  - Fails with a clear message when the input is not a dashboard, or when the dashboard needs a
    datasource of another type (for example a C(prometheus) input), because rewriting that to an
    InfluxDB uid would give panels whose queries cannot run.
positional: _input, datasource_uid
options:
  _input:
    description: The dashboard as a dict, for example a dashboard file's content passed through C(from_json).
    type: dict
    required: true
  datasource_uid:
    description: The uid of the provisioned datasource every reference should point at.
    type: str
    required: true
  datasource_type:
    description: The plugin id of that datasource.
    type: str
    default: influxdb
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Provision a dashboard exported from grafana.com
  ansible.builtin.copy:
    content: >-
      {{ lookup('ansible.builtin.file', 'k6-load-testing-results.json') | from_json
         | loadops.k6.grafana_dashboard('loadops-influxdb') | to_nice_json }}
    dest: /var/lib/grafana/dashboards/loadops/k6-load-testing-results.json
    mode: "0644"
"""

RETURN = r"""
_value:
  description: A new dashboard dict (the input is not modified), ready to be written as JSON.
  type: dict
"""

import copy
import re

from ansible.errors import AnsibleFilterError

# Pseudo datasources Grafana resolves itself; pointing them at InfluxDB would break them.
_BUILTIN_UIDS = frozenset(["-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana", "__expr__"])
_BUILTIN_TYPES = frozenset(["grafana", "__expr__", "datasource"])
_DS_PLACEHOLDER = re.compile(r"\$\{(DS_[A-Za-z0-9_]+)\}|\$(DS_[A-Za-z0-9_]+)\b")
_VAR_PLACEHOLDER = re.compile(r"\$\{(VAR_[A-Za-z0-9_]+)\}|\$(VAR_[A-Za-z0-9_]+)\b")
_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_DROPPED_KEYS = ("__inputs", "__requires", "__elements", "id")


def _fail(msg):
    raise AnsibleFilterError("grafana_dashboard: " + msg)


def _is_builtin(ref):
    if isinstance(ref, str):
        return ref in _BUILTIN_UIDS
    if isinstance(ref, dict):
        return ref.get("uid") in _BUILTIN_UIDS or ref.get("type") in _BUILTIN_TYPES
    return False


class _Rewriter(object):
    def __init__(self, dashboard, uid, ds_type):
        self.uid = uid
        self.ds_type = ds_type
        self.constants = {}
        self.foreign_inputs = {}
        for item in dashboard.get("__inputs") or []:
            if not isinstance(item, dict) or not item.get("name"):
                continue
            if item.get("type") == "datasource" and item.get("pluginId") not in (None, "", ds_type):
                self.foreign_inputs[item["name"]] = item.get("pluginId")
            elif item.get("type") == "constant":
                self.constants[item["name"]] = str(item.get("value", ""))
        templating = dashboard.get("templating") if isinstance(dashboard.get("templating"), dict) else {}
        for var in templating.get("list") or []:
            # A datasource variable ($ds) picks among datasources of one plugin type.
            if isinstance(var, dict) and var.get("type") == "datasource" and var.get("query") not in (None, "", ds_type):
                self.foreign_inputs["variable $%s" % var.get("name")] = var.get("query")
        if self.foreign_inputs:
            _fail("the dashboard %r needs datasources of another type (%s); only %s is provisioned here" % (
                dashboard.get("title"), ", ".join("%s: %s" % kv for kv in sorted(self.foreign_inputs.items())), ds_type))

    def text(self, value):
        value = _DS_PLACEHOLDER.sub(self.uid, value)
        return _VAR_PLACEHOLDER.sub(lambda m: self.constants.get(m.group(1) or m.group(2), m.group(0)), value)

    def reference(self, ref, where):
        if _is_builtin(ref):
            return ref
        if isinstance(ref, dict):
            ref_type = ref.get("type")
            if ref_type not in (None, "", self.ds_type) and not _DS_PLACEHOLDER.search(str(ref_type)):
                _fail("%s refers to a %r datasource (uid %r); only %s is provisioned here" % (
                    where, ref_type, ref.get("uid"), self.ds_type))
            new = dict((k, self.walk(v, where)) for k, v in ref.items())
            new["type"] = self.ds_type
            new["uid"] = self.uid
            return new
        if ref is None or isinstance(ref, str):
            return {"type": self.ds_type, "uid": self.uid}
        _fail("%s has a datasource of unexpected form %r" % (where, ref))

    def walk(self, node, where):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "datasource":
                    out[key] = self.reference(value, where)
                else:
                    out[key] = self.walk(value, "%s.%s" % (where, key))
            return out
        if isinstance(node, list):
            return [self.walk(item, "%s[%d]" % (where, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self.text(node)
        return node


def _inline_library_panels(panels, elements, title):
    out = []
    for panel in panels:
        if isinstance(panel, dict) and isinstance(panel.get("libraryPanel"), dict):
            ref = panel["libraryPanel"]
            element = elements.get(ref.get("uid")) if isinstance(elements, dict) else None
            model = element.get("model") if isinstance(element, dict) else None
            if not isinstance(model, dict):
                _fail("dashboard %r uses library panel %r (uid %r) but __elements has no model for it: "
                      "export the dashboard with 'Export for sharing externally'" % (title, ref.get("name"), ref.get("uid")))
            inlined = copy.deepcopy(model)
            for key in ("id", "gridPos"):
                if key in panel:
                    inlined[key] = panel[key]
            inlined.pop("libraryPanel", None)
            panel = inlined
        if isinstance(panel, dict) and isinstance(panel.get("panels"), list):
            panel = dict(panel, panels=_inline_library_panels(panel["panels"], elements, title))
        out.append(panel)
    return out


def grafana_dashboard(dashboard, datasource_uid, datasource_type="influxdb"):
    if not isinstance(datasource_uid, str) or not _UID.match(datasource_uid):
        _fail("datasource_uid must be 1-40 letters, digits, '_' or '-', got %r" % (datasource_uid,))
    if not isinstance(datasource_type, str) or not datasource_type:
        _fail("datasource_type must be a non-empty string, got %r" % (datasource_type,))
    if not isinstance(dashboard, dict):
        _fail("expected a dashboard (a JSON object, e.g. lookup('file', path) | from_json), got %s" % type(dashboard).__name__)
    if "panels" not in dashboard and "rows" not in dashboard and isinstance(dashboard.get("dashboard"), dict):
        dashboard = dashboard["dashboard"]  # the HTTP API's {"dashboard": ..., "meta": ...}
    panels, rows = dashboard.get("panels"), dashboard.get("rows")
    if not isinstance(panels, list) and not isinstance(rows, list):
        _fail("input is not a Grafana dashboard: it has neither a 'panels' nor a 'rows' list (keys: %s)" % (
            ", ".join(sorted(str(k) for k in dashboard)) or "none"))
    title = dashboard.get("title")
    if not isinstance(title, str) or not title.strip():
        _fail("the dashboard has no title; Grafana refuses to provision it")
    uid = dashboard.get("uid")
    if uid not in (None, "") and (not isinstance(uid, str) or not _UID.match(uid)):
        _fail("dashboard %r has uid %r; Grafana needs 1-40 letters, digits, '_' or '-'" % (title, uid))

    rewriter = _Rewriter(dashboard, datasource_uid, datasource_type)
    body = dict((k, v) for k, v in dashboard.items() if k not in _DROPPED_KEYS)
    if isinstance(panels, list):
        body["panels"] = _inline_library_panels(panels, dashboard.get("__elements") or {}, title)
    return rewriter.walk(body, "dashboard")


class FilterModule(object):
    def filters(self):
        return {"grafana_dashboard": grafana_dashboard}
