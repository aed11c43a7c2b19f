# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/grafana_dashboard.py.

THIRD_PARTY is written to look like a dashboard exported from grafana.com with "Export for sharing
externally" (our own content): __inputs with a datasource and a constant, __requires, __elements
with a library panel, ${DS_INFLUXDB} placeholders in the string and the object form, a collapsed
row with nested panels, a datasource template variable, a mixed-datasource panel and Grafana's
built-in annotation. The same checks then run on our own roles/grafana/files/dashboards/loadops-k6.json.
"""

import copy
import json
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.grafana_dashboard import FilterModule, grafana_dashboard

ROOT = Path(__file__).resolve().parents[4]
OUR_DASHBOARD = ROOT / "roles" / "grafana" / "files" / "dashboards" / "loadops-k6.json"
CONFIG_JS = ROOT / "k6" / "scripts" / "config.js"
UID = "loadops-influxdb"
EXPECTED_REF = {"type": "influxdb", "uid": UID}
BUILTIN_UIDS = {"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana", "__expr__"}
PLACEHOLDER = re.compile(r"\$\{?DS_[A-Za-z0-9_]+")

THIRD_PARTY = {
    "__inputs": [
        {"name": "DS_INFLUXDB", "label": "InfluxDB", "description": "", "type": "datasource",
         "pluginId": "influxdb", "pluginName": "InfluxDB"},
        {"name": "VAR_MEASUREMENT", "type": "constant", "label": "request metric",
         "value": "http_req_duration", "description": ""},
    ],
    "__elements": {
        "lib-rps-1": {"name": "Requests per second", "uid": "lib-rps-1", "kind": 1, "model": {
            "type": "timeseries", "title": "Requests per second",
            "datasource": {"type": "influxdb", "uid": "${DS_INFLUXDB}"},
            "targets": [{"refId": "A", "rawQuery": True,
                         "query": "SELECT sum(\"value\") FROM \"http_reqs\" WHERE $timeFilter GROUP BY time(1s)"}]}},
    },
    "__requires": [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.5.2"},
        {"type": "datasource", "id": "influxdb", "name": "InfluxDB", "version": "1.0.0"},
    ],
    "annotations": {"list": [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
         "hide": True, "name": "Annotations & Alerts", "type": "dashboard"},
        {"datasource": "${DS_INFLUXDB}", "enable": False, "name": "run starts",
         "query": "SELECT first(\"value\") FROM \"vus\" WHERE $timeFilter"},
    ]},
    "editable": True,
    "gnetId": 99999,
    "id": 42,
    "iteration": 1700000000000,
    "panels": [
        {"id": 1, "type": "graph", "title": "Virtual users", "datasource": "${DS_INFLUXDB}",
         "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
         "targets": [{"refId": "A", "measurement": "vus", "policy": "default",
                      "select": [[{"type": "field", "params": ["value"]}, {"type": "mean", "params": []}]]}]},
        {"id": 2, "type": "timeseries", "title": "Response time",
         "datasource": {"type": "influxdb", "uid": "${DS_INFLUXDB}"},
         "gridPos": {"h": 8, "w": 12, "x": 12, "y": 0},
         "targets": [{"refId": "A", "datasource": {"type": "influxdb", "uid": "${DS_INFLUXDB}"}, "rawQuery": True,
                      "query": "SELECT mean(\"value\") FROM \"${VAR_MEASUREMENT}\" WHERE $timeFilter GROUP BY time($__interval)"}]},
        {"id": 3, "type": "row", "title": "Details", "collapsed": True, "datasource": None,
         "gridPos": {"h": 1, "w": 24, "x": 0, "y": 8},
         "panels": [
             {"id": 4, "type": "table", "title": "Errors", "datasource": "$datasource",
              "targets": [{"refId": "A", "datasource": "InfluxDB (k6)", "rawQuery": True,
                           "query": "SELECT count(\"value\") FROM \"http_req_failed\" WHERE $timeFilter GROUP BY \"status\""}]},
             {"id": 5, "type": "stat", "title": "Checks", "datasource": {"uid": "$DS_INFLUXDB"},
              "targets": [{"refId": "A", "rawQuery": True, "query": "SELECT mean(\"value\") FROM \"checks\" WHERE $timeFilter"}]},
         ]},
        {"id": 6, "type": "timeseries", "title": "Mixed", "datasource": {"type": "datasource", "uid": "-- Mixed --"},
         "gridPos": {"h": 8, "w": 12, "x": 0, "y": 9},
         "targets": [{"refId": "A", "datasource": {"type": "influxdb", "uid": "${DS_INFLUXDB}"},
                      "rawQuery": True, "query": "SELECT max(\"value\") FROM \"vus_max\" WHERE $timeFilter"}]},
        {"id": 7, "gridPos": {"h": 8, "w": 12, "x": 12, "y": 9},
         "libraryPanel": {"uid": "lib-rps-1", "name": "Requests per second"}},
        {"id": 8, "type": "text", "title": "About", "gridPos": {"h": 3, "w": 24, "x": 0, "y": 17},
         "options": {"content": "Metrics from InfluxDB ${DS_INFLUXDB}", "mode": "markdown"}},
    ],
    "schemaVersion": 38,
    "templating": {"list": [
        {"type": "datasource", "name": "datasource", "query": "influxdb",
         "current": {"selected": False, "text": "InfluxDB", "value": "${DS_INFLUXDB}"}},
        {"type": "query", "name": "testid", "datasource": "${DS_INFLUXDB}",
         "query": "SHOW TAG VALUES WITH KEY = \"testid\"", "definition": "SHOW TAG VALUES WITH KEY = \"testid\""},
        {"type": "query", "name": "url", "datasource": {"type": "influxdb", "uid": "${DS_INFLUXDB}"},
         "query": {"query": "SHOW TAG VALUES WITH KEY = \"name\"", "refId": "InfluxVariableQueryEditor-VariableQuery"}},
    ]},
    "time": {"from": "now-1h", "to": "now"},
    "title": "k6 results (community style)",
    "uid": "k6-community-x1",
    "version": 7,
}


# --- helpers: a recursive scan that reports every placeholder and every datasource reference ---

def strings(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, "%s.%s" % (path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, "%s[%d]" % (path, i))
    elif isinstance(node, str):
        yield path, node


def placeholders(node):
    return [(path, text) for path, text in strings(node) if PLACEHOLDER.search(text)]


def datasource_refs(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield "%s.datasource" % path, value
            yield from datasource_refs(value, "%s.%s" % (path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, "%s[%d]" % (path, i))


def is_builtin(ref):
    if isinstance(ref, str):
        return ref in BUILTIN_UIDS
    return isinstance(ref, dict) and (ref.get("uid") in BUILTIN_UIDS or ref.get("type") in ("grafana", "datasource"))


def wrong_refs(dashboard):
    return [(path, ref) for path, ref in datasource_refs(dashboard) if not is_builtin(ref) and ref != EXPECTED_REF]


def uids_in_use(dashboard):
    return {ref["uid"] for _path, ref in datasource_refs(dashboard) if isinstance(ref, dict) and not is_builtin(ref)}


def assert_provisionable(dashboard):
    """The checks every provisioned dashboard must pass."""
    assert placeholders(dashboard) == []
    assert wrong_refs(dashboard) == []
    assert uids_in_use(dashboard) == {UID}
    for key in ("__inputs", "__requires", "__elements", "id"):
        assert key not in dashboard, key
    json.dumps(dashboard)  # still plain JSON


def load_ours():
    return json.loads(OUR_DASHBOARD.read_text())


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


# --- the scan itself must be able to fail ---

def test_the_scan_sees_the_placeholders_and_stray_references_of_the_raw_export():
    raw = THIRD_PARTY
    assert len(placeholders(raw)) >= 10
    paths = [path for path, _ref in wrong_refs(raw)]
    assert "$.panels[0].datasource" in paths
    assert "$.panels[2].panels[0].targets[0].datasource" in paths
    assert "$.templating.list[1].datasource" in paths
    assert "$.annotations.list[1].datasource" in paths


# --- a grafana.com-style export ---

def test_third_party_export_has_no_placeholder_and_one_uid_everywhere():
    assert_provisionable(grafana_dashboard(THIRD_PARTY, UID))


def test_string_name_variable_and_null_references_become_the_object_form():
    out = grafana_dashboard(THIRD_PARTY, UID)
    row = out["panels"][2]
    assert row["datasource"] == EXPECTED_REF  # was null
    assert row["panels"][0]["datasource"] == EXPECTED_REF  # was "$datasource"
    assert row["panels"][0]["targets"][0]["datasource"] == EXPECTED_REF  # was a datasource name
    assert row["panels"][1]["datasource"] == EXPECTED_REF  # was {"uid": "$DS_INFLUXDB"}, no type
    assert out["panels"][0]["datasource"] == EXPECTED_REF  # was "${DS_INFLUXDB}"
    assert out["templating"]["list"][1]["datasource"] == EXPECTED_REF
    assert out["annotations"]["list"][1]["datasource"] == EXPECTED_REF


def test_placeholders_outside_datasource_keys_are_replaced_too():
    out = grafana_dashboard(THIRD_PARTY, UID)
    assert out["templating"]["list"][0]["current"]["value"] == UID
    assert out["panels"][5]["options"]["content"] == "Metrics from InfluxDB " + UID


def test_builtin_annotation_and_mixed_panel_keep_their_pseudo_datasources():
    out = grafana_dashboard(THIRD_PARTY, UID)
    assert out["annotations"]["list"][0]["datasource"] == {"type": "grafana", "uid": "-- Grafana --"}
    mixed = out["panels"][3]
    assert mixed["datasource"] == {"type": "datasource", "uid": "-- Mixed --"}
    assert mixed["targets"][0]["datasource"] == EXPECTED_REF


def test_inputs_requires_elements_and_instance_id_are_dropped_the_rest_kept():
    out = grafana_dashboard(THIRD_PARTY, UID)
    for key in ("__inputs", "__requires", "__elements", "id"):
        assert key not in out
    assert out["uid"] == "k6-community-x1"
    assert out["title"] == "k6 results (community style)"
    assert out["version"] == 7 and out["gnetId"] == 99999
    assert [p["id"] for p in out["panels"]] == [1, 2, 3, 6, 7, 8]
    # panel ids are the dashboard's own and must stay
    assert out["panels"][2]["panels"][1]["id"] == 5


def test_constant_input_takes_its_value():
    out = grafana_dashboard(THIRD_PARTY, UID)
    assert out["panels"][1]["targets"][0]["query"].startswith('SELECT mean("value") FROM "http_req_duration"')
    assert "VAR_MEASUREMENT" not in json.dumps(out)


def test_library_panel_is_inlined_from_elements_at_its_own_place():
    out = grafana_dashboard(THIRD_PARTY, UID)
    panel = out["panels"][4]
    assert "libraryPanel" not in panel
    assert panel["type"] == "timeseries" and panel["title"] == "Requests per second"
    assert panel["id"] == 7 and panel["gridPos"] == {"h": 8, "w": 12, "x": 12, "y": 9}
    assert panel["datasource"] == EXPECTED_REF


def test_library_panel_without_exported_model_fails_clearly():
    broken = copy.deepcopy(THIRD_PARTY)
    del broken["__elements"]
    with pytest.raises(AnsibleFilterError, match="library panel 'Requests per second'.*__elements has no model"):
        grafana_dashboard(broken, UID)


def test_template_queries_and_grafana_macros_are_left_for_grafana():
    out = grafana_dashboard(THIRD_PARTY, UID)
    query = out["panels"][1]["targets"][0]["query"]
    assert "$timeFilter" in query and "$__interval" in query
    assert out["templating"]["list"][2]["query"]["query"] == 'SHOW TAG VALUES WITH KEY = "name"'


def test_input_is_not_modified_and_the_filter_is_idempotent():
    before = json.dumps(THIRD_PARTY, sort_keys=True)
    once = grafana_dashboard(THIRD_PARTY, UID)
    assert json.dumps(THIRD_PARTY, sort_keys=True) == before
    assert grafana_dashboard(once, UID) == once


def test_another_uid_and_type_are_honoured():
    out = grafana_dashboard(THIRD_PARTY, "other-uid_2", datasource_type="influxdb")
    assert uids_in_use(out) == {"other-uid_2"}


def test_api_response_wrapper_is_unwrapped():
    wrapped = {"dashboard": copy.deepcopy(THIRD_PARTY), "meta": {"slug": "k6-results", "version": 7}}
    out = grafana_dashboard(wrapped, UID)
    assert "meta" not in out and out["uid"] == "k6-community-x1"
    assert_provisionable(out)


def test_old_schema_rows_are_rewritten():
    panel = {"id": 1, "datasource": "${DS_INFLUXDB}", "targets": [{"refId": "A"}]}
    old = {"title": "old", "rows": [{"panels": [panel]}]}
    out = grafana_dashboard(old, UID)
    assert out["rows"][0]["panels"][0]["datasource"] == EXPECTED_REF


# --- refusals ---

@pytest.mark.parametrize("value,message", [
    ([], "expected a dashboard .*got list"),
    ('{"panels": []}', "expected a dashboard .*got str"),
    (None, "expected a dashboard .*got NoneType"),
    ({"apiVersion": 1, "datasources": []}, "not a Grafana dashboard: it has neither a 'panels' nor a 'rows' list \\(keys: apiVersion, datasources\\)"),
    ({"panels": []}, "has no title"),
    ({"panels": [], "title": "  "}, "has no title"),
    ({"panels": [], "title": "x", "uid": "has spaces in it"}, "uid 'has spaces in it'"),
    ({"panels": [], "title": "x", "uid": "u" * 41}, "1-40 letters"),
])
def test_input_that_is_not_a_dashboard_fails_clearly(value, message):
    with pytest.raises(AnsibleFilterError, match="^grafana_dashboard: .*" + message):
        grafana_dashboard(value, UID)


@pytest.mark.parametrize("uid", ["", None, "with space", "x" * 41, "${DS_X}"])
def test_bad_datasource_uid_fails_clearly(uid):
    with pytest.raises(AnsibleFilterError, match="datasource_uid must be 1-40"):
        grafana_dashboard(THIRD_PARTY, uid)


def test_dashboard_for_another_datasource_type_is_refused_not_silently_broken():
    prom = copy.deepcopy(THIRD_PARTY)
    prom["__inputs"][0]["pluginId"] = "prometheus"
    with pytest.raises(AnsibleFilterError, match="needs datasources of another type \\(DS_INFLUXDB: prometheus\\)"):
        grafana_dashboard(prom, UID)


def test_object_reference_of_another_type_is_refused_with_its_place():
    other = copy.deepcopy(THIRD_PARTY)
    other["panels"][1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "abc"}
    with pytest.raises(AnsibleFilterError, match=r"dashboard\.panels\[1\]\.targets\[0\] refers to a 'prometheus' datasource"):
        grafana_dashboard(other, UID)


def test_datasource_variable_of_another_type_is_refused():
    other = copy.deepcopy(THIRD_PARTY)
    other["templating"]["list"][0]["query"] = "prometheus"
    with pytest.raises(AnsibleFilterError, match="variable \\$datasource: prometheus"):
        grafana_dashboard(other, UID)


def test_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters() == {"grafana_dashboard": grafana_dashboard}


# --- our own dashboard ---

def test_our_dashboard_ships_with_the_placeholder_form_and_passes_the_same_checks():
    raw = load_ours()
    assert [i["name"] for i in raw["__inputs"]] == ["DS_LOADOPS"]
    assert len(placeholders(raw)) > 20  # every panel, target and variable carries ${DS_LOADOPS}
    out = grafana_dashboard(raw, UID)
    assert_provisionable(out)
    assert out["uid"] == "loadops-k6"


def test_every_query_panel_and_target_of_our_dashboard_names_its_datasource():
    out = grafana_dashboard(load_ours(), UID)
    query_panels = [p for p in panels_of(out) if p["type"] != "row"]
    assert len(query_panels) >= 11
    for panel in query_panels:
        assert panel["datasource"] == EXPECTED_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == EXPECTED_REF, (panel["title"], target["refId"])
            assert target["rawQuery"] is True and target["query"].startswith(("SELECT", "SHOW")), panel["title"]
    names = [v["name"] for v in out["templating"]["list"]]
    assert names == ["testid", "load_generator", "scenario", "name"]
    for var in out["templating"]["list"]:
        assert var["datasource"] == EXPECTED_REF


def test_every_panel_target_of_our_dashboard_filters_by_load_generator():
    for panel in panels_of(load_ours()):
        for target in panel.get("targets", []):
            query = target["query"]
            assert "\"testid\" = '$testid' AND \"load_generator\" =~ /^$load_generator$/" in query, (panel["title"], target["refId"])
    variable = next(v for v in load_ours()["templating"]["list"] if v["name"] == "load_generator")
    assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (True, True, ".*")
    assert variable["current"]["value"] == ["$__all"]
    assert "WITH KEY = \"load_generator\" WHERE \"testid\" = '$testid'" in variable["query"]


def test_gauges_are_summed_over_load_generators_from_each_ones_last_value():
    vus = next(p for p in load_ours()["panels"] if p["title"] == "Active VUs")
    for target in vus["targets"]:
        query = target["query"]
        assert query.startswith('SELECT sum("last") FROM (SELECT last("value") FROM "%s" ' % target["alias"]), query
        assert 'GROUP BY time($__interval), "load_generator" fill(none)) WHERE $timeFilter' in query
    per_machine = next(p for p in load_ours()["panels"] if p["title"] == "Requests per load generator")
    assert per_machine["targets"][0]["query"].endswith('GROUP BY time($__interval), "load_generator" fill(0)')
    assert per_machine["targets"][0]["alias"] == "$tag_load_generator"


def test_our_dashboard_panels_do_not_overlap():
    cells = {}
    for panel in load_ours()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, "%s overlaps %s" % (panel["title"], cells[(x, y)])
                cells[(x, y)] = panel["title"]


def _base_limits_from_config_js():
    text = CONFIG_JS.read_text()
    block = re.search(r"const BASE_LIMITS = Object\.freeze\(\{(.*?)\}\);", text, re.S).group(1)
    return {key: float(value) for key, value in re.findall(r"(\w+):\s*([0-9.]+)", block)}


def test_threshold_panel_colours_follow_the_base_limits_in_config_js():
    limits = _base_limits_from_config_js()
    assert set(limits) == {"readP95Ms", "writeP95Ms", "errorRate", "waitingP95Ms", "iterationP95Ms"}
    stat = next(p for p in load_ours()["panels"] if p["type"] == "stat")
    red_at = {}
    for override in stat["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            if prop["id"] == "thresholds":
                red_at[override["matcher"]["options"]] = [s["value"] for s in prop["value"]["steps"] if s["color"] == "red"]
    assert red_at == {
        "A": [limits["readP95Ms"]], "B": [limits["writeP95Ms"]], "C": [limits["errorRate"]],
        "D": [limits["waitingP95Ms"]], "E": [limits["iterationP95Ms"]],
    }
    queries = {t["refId"]: t["query"] for t in stat["targets"]}
    assert "\"type\" = 'read'" in queries["A"] and "http_req_duration" in queries["A"]
    assert "\"type\" = 'write'" in queries["B"] and "http_req_duration" in queries["B"]
    assert "http_req_failed" in queries["C"] and "http_req_waiting" in queries["D"]
    assert "iteration_duration" in queries["E"]
