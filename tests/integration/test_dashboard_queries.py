"""The Grafana dashboard against real data: the grafana role provisions it, a real k6 run writes
into a real InfluxDB (Debian's 1.6.7, /usr/bin/influxd), and every query of every panel, expanded
the way Grafana's InfluxDB datasource expands it, must return data.

What runs here and what does not:
- runs: the role (ansible-playbook, local connection) writing the provisioning files and the
  dashboard with a non-default datasource uid; influxd on free loopback ports with its own data
  directories; two smoke runs of k6 (K6_TIME_SCALE=0.1, about 3 s each) against demo targets, one
  of which answers 500 on /api/assets/ so the error panels have something to show; InfluxQL
  queries through InfluxDB's /query endpoint; the role's live checks against a small Grafana
  stand-in (an HTTP server in this process that answers the API calls the role makes).
- does not run: Grafana itself (it cannot be installed on these machines). Panel rendering,
  field overrides and Grafana's own query pipeline are not exercised; the expansion below
  re-implements Grafana's variable interpolation for InfluxQL (see expand()).

influxd missing: the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import K6_SCRIPTS, DemoTarget
from services import INFLUXD, REPO, Influxd, need, recap, run_playbook

DB = "k6"
DS_UID = "it-influx-7"  # not the default: proves the role rewrote every reference
K6_TIMEOUT_S = 90
FAULTY_RUN = "it-faulty-%d" % os.getpid()
CLEAN_RUN = "it-clean-%d" % os.getpid()
BROKEN_ENDPOINT = "/api/assets/"
ALL_NAMES = {"/auth/login/", "/auth/me/", "/auth/me/teams/", "/health/", "/api/tasks/", "/api/campaigns/",
             "/api/core/projects/", "/api/assets/", "/api/budgets/", "/", "/login", "/tasks", "/campaigns",
             "/projects"}
# What Grafana puts in for its built-in variables when the time picker says "Last 1 hour".
TIME_FILTER = "time >= now() - 1h and time <= now()"
BUILTINS = {"timeFilter": TIME_FILTER, "__interval": "1s", "__interval_ms": "1000"}


# --- InfluxDB 1.x on free loopback ports --------------------------------------------------------

@pytest.fixture(scope="session")
def influxdb(tmp_path_factory):
    """A fresh influxd of our own (Debian's 1.6.7), on free 127.0.0.1 ports; stopped by pid."""
    need(os.path.isfile(INFLUXD) and os.access(INFLUXD, os.X_OK),
         "%s is missing (apt-get install influxdb; scripts/host-prereqs.sh does)" % INFLUXD)
    server = Influxd(tmp_path_factory.mktemp("influxd"))
    server.start()
    try:
        # Our own server: a fresh data directory has no database yet.
        databases = server.query("SHOW DATABASES", db="")["results"][0].get("series", [{}])[0].get("values", [])
        assert [DB] not in databases, "port %d answered with an InfluxDB that already has data" % server.port
        yield server
    finally:
        server.stop()


# --- the dashboard as the grafana role provisions it --------------------------------------------

def _playbook(tmp_path: Path, extra_vars: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    playbook = tmp_path / "grafana.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles:\n    - role: loadops.k6.grafana\n")
    return run_playbook(tmp_path, playbook, extra_vars, *args, group="all", timeout=timeout)


def _recap_changed(proc: subprocess.CompletedProcess) -> int:
    return recap(proc)["changed"]


def _role_vars(base: Path, **more) -> dict:
    return dict({"grafana_provisioning_dir": str(base / "provisioning"),
                 "grafana_dashboard_provider_dir": str(base / "dashboards"),
                 "grafana_datasource_uid": DS_UID,
                 "grafana_influxdb_url": "http://127.0.0.1:1/unused"}, **more)


def _need_root() -> None:
    need(os.geteuid() == 0, "the grafana role writes root-owned files; run as root")


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory) -> dict:
    """Run the grafana role into a temporary directory; return the written dashboard and paths."""
    _need_root()
    base = tmp_path_factory.mktemp("grafana")
    proc = _playbook(base, _role_vars(base))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    path = base / "dashboards" / "loadops-k6.json"
    return {"base": base, "path": path, "dashboard": json.loads(path.read_text())}


def test_role_writes_the_dashboard_with_the_configured_uid_and_no_placeholder(provisioned):
    text = provisioned["path"].read_text()
    assert "${DS_" not in text and "$DS_" not in text and "__inputs" not in text
    uids = set(re.findall(r'"uid": "([^"]*)"', text))
    assert uids == {DS_UID, "loadops-k6", "-- Grafana --"}, uids
    assert oct(provisioned["path"].stat().st_mode & 0o777) == "0o644"
    provider = (provisioned["base"] / "provisioning" / "dashboards" / "loadops-k6.yml").read_text()
    assert json.dumps(str(provisioned["base"] / "dashboards")) in provider
    datasource = (provisioned["base"] / "provisioning" / "datasources" / "loadops-k6.yml").read_text()
    assert "uid: %s" % json.dumps(DS_UID) in datasource


def test_role_datasource_uses_basic_auth_or_an_influxdb2_token(tmp_path):
    _need_root()
    import yaml  # the venv has PyYAML (ansible needs it)
    basic = _playbook(tmp_path, _role_vars(tmp_path, grafana_influxdb_user="reader", grafana_influxdb_password="pw-basic-1"))
    assert basic.returncode == 0, basic.stdout[-4000:]
    source = tmp_path / "provisioning" / "datasources" / "loadops-k6.yml"
    ds = yaml.safe_load(source.read_text())["datasources"][0]
    assert (ds["user"], ds["secureJsonData"]) == ("reader", {"password": "pw-basic-1"})
    assert "httpHeaderName1" not in ds["jsonData"]
    token = _playbook(tmp_path, _role_vars(tmp_path, grafana_influxdb_user="reader", grafana_influxdb_token="tok-Xy9"))
    assert token.returncode == 0, token.stdout[-4000:]
    ds = yaml.safe_load(source.read_text())["datasources"][0]
    assert "user" not in ds
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token tok-Xy9"}
    assert oct(source.stat().st_mode & 0o777) == "0o640"
    for proc in (basic, token):
        assert "pw-basic-1" not in proc.stdout and "tok-Xy9" not in proc.stdout


def test_role_check_mode_diff_and_second_run(tmp_path):
    _need_root()
    extra_dir = tmp_path / "exported"
    extra_dir.mkdir()
    (extra_dir / "community.json").write_text(json.dumps({
        "__inputs": [{"name": "DS_INFLUXDB", "type": "datasource", "pluginId": "influxdb"}],
        "title": "community export", "uid": "community-1", "id": 3,
        "panels": [{"id": 1, "type": "timeseries", "datasource": "${DS_INFLUXDB}",
                    "targets": [{"refId": "A", "query": "SELECT 1"}]}]}))
    extra = _role_vars(tmp_path, grafana_dashboards_extra_dir=str(extra_dir))
    written = tmp_path / "dashboards" / "community.json"

    check = _playbook(tmp_path, extra, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:]
    assert _recap_changed(check) > 0
    assert '+  "title": "community export"' in check.stdout  # --diff shows the rendered file
    assert not written.exists()  # check mode wrote nothing

    first = _playbook(tmp_path, extra)
    assert first.returncode == 0 and _recap_changed(first) > 0, first.stdout[-4000:]
    rendered = json.loads(written.read_text())
    assert rendered["panels"][0]["datasource"] == {"type": "influxdb", "uid": DS_UID}
    assert "__inputs" not in rendered and "id" not in rendered

    again = _playbook(tmp_path, extra)
    assert again.returncode == 0 and _recap_changed(again) == 0, again.stdout[-4000:]

    gone = _playbook(tmp_path, dict(extra, grafana_state="absent"))
    assert gone.returncode == 0, gone.stdout[-4000:]
    assert not written.exists() and not (tmp_path / "dashboards" / "loadops-k6.json").exists()


def test_role_refuses_two_dashboards_with_one_uid(tmp_path):
    _need_root()
    extra_dir = tmp_path / "exported"
    extra_dir.mkdir()
    (extra_dir / "copy.json").write_text((REPO / "roles/grafana/files/dashboards/loadops-k6.json").read_text())
    proc = _playbook(tmp_path, _role_vars(tmp_path, grafana_dashboards_extra_dir=str(extra_dir)))
    assert proc.returncode != 0
    assert "fight over one uid" in proc.stdout and '"loadops-k6", "loadops-k6"' in proc.stdout.replace("\n", " ")


# --- real k6 runs into the real InfluxDB ----------------------------------------------------------

def _k6_run(k6_bin: str, influx: Influxd, target_url: str, testid: str, workdir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update({"K6_NO_USAGE_REPORT": "true", "K6_BASE_URL": target_url, "K6_TIME_SCALE": "0.1"})
    cmd = [k6_bin, "run", "--address", "", "--quiet", "--no-color",
           "--out", "influxdb=%s/%s" % (influx.url, DB), "--tag", "testid=%s" % testid,
           str(K6_SCRIPTS / "scenarios" / "smoke.js")]
    return subprocess.run(cmd, env=env, cwd=str(workdir), capture_output=True, text=True, timeout=K6_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def k6_data(influxdb, k6_bin, tmp_path_factory) -> Influxd:
    """Two smoke runs: FAULTY_RUN against a target that fails every /api/assets/ request with 500,
    CLEAN_RUN against a healthy one."""
    workdir = tmp_path_factory.mktemp("k6")
    for testid, args in ((FAULTY_RUN, ["--error-rate", "%s=1" % BROKEN_ENDPOINT]), (CLEAN_RUN, [])):
        target = DemoTarget(args)
        try:
            proc = _k6_run(k6_bin, influxdb, target.url, testid, workdir)
        finally:
            target.stop()
        # 99: the faulty run crosses the error-rate threshold, as it should
        assert proc.returncode == (99 if testid == FAULTY_RUN else 0), proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Couldn't write stats" not in proc.stderr, proc.stderr[-3000:]
    return influxdb


# --- Grafana's variable interpolation for InfluxQL, re-implemented --------------------------------
# Follows public/app/plugins/datasource/influxdb/datasource.ts (interpolateQueryExpr) and
# TemplateSrv.replace: multi-value variables are regex-escaped and joined as (a|b); a single-value
# variable is escaped only inside a /regex/; numbers are never escaped; "All" with a custom
# allValue inserts that value as is; $timeFilter and $__interval come from the time picker.

VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
REGEX_IN_QUERY = re.compile(r"(\s*(=|!)~\s*)/((?![*+?])(?:[^\r\n\[/\\]|\\.|\[(?:[^\r\n\]\\]|\\.)*\])+)/")
ALL = "$__all"


def escape_regex(value: str) -> str:
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value)


def _js_parse_float_ok(value: str) -> bool:
    return bool(re.match(r"^\s*[+-]?(Infinity|\d+\.?\d*|\.\d+)", value))


def _format(value, variable: dict, query: str) -> str:
    if isinstance(value, str) and _js_parse_float_ok(value):
        return value
    if variable.get("multi"):
        if isinstance(value, str):
            return escape_regex(value)
        return "(" + "|".join(escape_regex(v) for v in value) + ")"
    used_in_regex = re.compile(r"/(?:\^)?(.*)(\$%s)(.*)(?:\$)?/" % re.escape(variable["name"]))
    for match in REGEX_IN_QUERY.finditer(query):
        if used_in_regex.search(match.group(0)):
            return escape_regex(value) if isinstance(value, str) else "(" + "|".join(escape_regex(v) for v in value) + ")"
    return value if isinstance(value, str) else ",".join(value)


def expand(query: str, variables: Dict[str, dict], selection: Dict[str, object], options: Dict[str, List[str]]) -> str:
    def one(match):
        name = match.group(1) or match.group(2) or match.group(4)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in variables or name not in selection:
            return match.group(0)  # Grafana leaves unknown variables alone
        variable, value = variables[name], selection[name]
        if value == ALL or value == [ALL]:
            if variable.get("allValue"):
                return variable["allValue"]
            value = options[name]
        return _format(value, variable, query)
    return VARIABLE.sub(one, query)


# --- helpers over the dashboard -------------------------------------------------------------------

def query_panels(dashboard: dict) -> List[dict]:
    found = []
    for panel in dashboard["panels"]:
        if panel.get("type") != "row":
            found.append(panel)
        found.extend(p for p in panel.get("panels", []) if p.get("type") != "row")
    return found


def run(influx: Influxd, query: str) -> dict:
    assert not re.search(r"\$\w|\[\[", query), "unexpanded variable left in: " + query
    result = influx.query(query, db=DB, epoch="ms")["results"][0]
    assert "error" not in result, "%s -> %s" % (query, result["error"])
    return result


def has_data(result: dict) -> bool:
    """Every value column of the answer holds at least one non-null value."""
    series = result.get("series") or []
    if not series:
        return False
    for column in range(1, len(series[0]["columns"])):
        if not any(row[column] is not None for s in series for row in s["values"]):
            return False
    return True


def variable_options(influx: Influxd, dashboard: dict, selection: Dict[str, object]) -> Dict[str, List[str]]:
    """Run the templating queries in order, as Grafana does when the dashboard loads."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    options: Dict[str, List[str]] = {}
    for variable in dashboard["templating"]["list"]:
        result = run(influx, expand(variable["query"], variables, selection, options))
        options[variable["name"]] = sorted({row[1] for s in result.get("series", []) for row in s["values"]})
    return options


def all_queries(influx: Influxd, dashboard: dict, selection: Dict[str, object]) -> Dict[tuple, dict]:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    options = variable_options(influx, dashboard, selection)
    answers = {}
    for panel in query_panels(dashboard):
        for target in panel["targets"]:
            answers[(panel["title"], target["refId"])] = run(influx, expand(target["query"], variables, selection, options))
    return answers


SELECTIONS = {
    "all scenarios, all endpoints": {"load_generator": [ALL], "scenario": [ALL], "name": [ALL]},
    "smoke, two endpoints": {"load_generator": [ALL], "scenario": ["smoke"], "name": [BROKEN_ENDPOINT, "/"]},
}


# --- the expansion itself -------------------------------------------------------------------------

def test_expansion_matches_grafana_for_multi_value_all_and_regex_forms():
    variables = {"testid": {"name": "testid", "multi": False},
                 "scenario": {"name": "scenario", "multi": True, "includeAll": True, "allValue": ".*"},
                 "name": {"name": "name", "multi": True, "includeAll": True}}
    q = "SELECT x FROM m WHERE \"testid\" = '$testid' AND \"scenario\" =~ /^$scenario$/ AND \"name\" =~ /^$name$/ AND $timeFilter GROUP BY time($__interval)"
    out = expand(q, variables, {"testid": "smoke-20261125T211813Z-42", "scenario": [ALL], "name": ["/api/tasks/", "/"]}, {})
    assert out == ("SELECT x FROM m WHERE \"testid\" = 'smoke-20261125T211813Z-42' AND \"scenario\" =~ /^.*$/ AND "
                   "\"name\" =~ /^(\\/api\\/tasks\\/|\\/)$/ AND time >= now() - 1h and time <= now() GROUP BY time(1s)")
    # "All" without a custom allValue expands to every option; a lone string value is escaped too
    out = expand("\"name\" =~ /^$name$/", variables, {"name": [ALL]}, {"name": ["/a", "b.c"]})
    assert out == "\"name\" =~ /^(\\/a|b\\.c)$/"
    # a single-value variable is escaped only where it sits in a regex
    single = {"v": {"name": "v", "multi": False}}
    assert expand("\"t\" =~ /^$v$/ AND \"u\" = '$v'", single, {"v": "a.b"}, {}) == "\"t\" =~ /^a\\.b$/ AND \"u\" = 'a\\.b'"
    assert expand("\"u\" = '$v'", single, {"v": "a.b"}, {}) == "\"u\" = 'a.b'"
    assert expand("\"u\" = '$unknown'", single, {}, {}) == "\"u\" = '$unknown'"


# --- the queries against real data ----------------------------------------------------------------

def test_variable_queries_list_the_runs_scenarios_and_endpoints(k6_data, provisioned):
    dashboard = provisioned["dashboard"]
    options = variable_options(k6_data, dashboard, {"testid": FAULTY_RUN, "load_generator": [ALL], "scenario": [ALL], "name": [ALL]})
    assert {FAULTY_RUN, CLEAN_RUN} <= set(options["testid"])
    assert options["scenario"] == ["smoke"]
    assert set(options["name"]) == ALL_NAMES
    narrowed = variable_options(k6_data, dashboard, {"testid": FAULTY_RUN, "load_generator": [ALL], "scenario": ["smoke"],
                                                     "name": [ALL]})
    assert set(narrowed["name"]) == ALL_NAMES
    nothing = variable_options(k6_data, dashboard, {"testid": "no-such-run", "load_generator": [ALL], "scenario": [ALL],
                                                    "name": [ALL]})
    assert nothing["scenario"] == [] and nothing["name"] == []


@pytest.mark.parametrize("selection_name", sorted(SELECTIONS))
def test_every_panel_query_returns_data_for_the_faulty_run(k6_data, provisioned, selection_name):
    dashboard = provisioned["dashboard"]
    panels = query_panels(dashboard)
    assert len(panels) >= 11
    for panel in panels:
        assert panel["datasource"] == {"type": "influxdb", "uid": DS_UID}, panel["title"]
        assert panel.get("targets"), "panel %r has no query" % panel["title"]
    answers = all_queries(k6_data, dashboard, dict(SELECTIONS[selection_name], testid=FAULTY_RUN))
    empty = sorted("%s [%s]" % key for key, result in answers.items() if not has_data(result))
    assert empty == [], "panels without data for %s: %s" % (selection_name, empty)


def test_every_panel_query_is_empty_for_an_unknown_run(k6_data, provisioned):
    nothing = {"testid": "no-such-run", "load_generator": [ALL], "scenario": [ALL], "name": [ALL]}
    answers = all_queries(k6_data, provisioned["dashboard"], nothing)
    assert answers and all(not result.get("series") for result in answers.values())


def _answer(answers, title_start, ref="A"):
    keys = [k for k in answers if k[0].startswith(title_start) and k[1] == ref]
    assert len(keys) == 1, (title_start, sorted(answers))
    return answers[keys[0]]


def _tags(result) -> List[dict]:
    """The tags of every row of every series."""
    return [series.get("tags", {}) for series in result.get("series", []) for _values in series["values"]]


def _column(result, name) -> list:
    """One column's values over every row of every series."""
    return [dict(zip(series["columns"], values))[name] for series in result.get("series", []) for values in series["values"]]


def test_panels_tell_the_faulty_run_from_the_clean_one(k6_data, provisioned):
    dashboard = provisioned["dashboard"]
    everything = {"load_generator": [ALL], "scenario": [ALL], "name": [ALL]}
    faulty = all_queries(k6_data, dashboard, dict(everything, testid=FAULTY_RUN))
    clean = all_queries(k6_data, dashboard, dict(everything, testid=CLEAN_RUN))

    failed = _tags(_answer(faulty, "Failed requests"))
    assert failed and {tags["name"] for tags in failed} == {BROKEN_ENDPOINT}
    assert {(tags["status"], tags["error_code"]) for tags in failed} == {("500", "1500")}
    assert not _answer(clean, "Failed requests").get("series")  # nothing failed: empty, not zero rows

    statuses = {tags["status"] for tags in _tags(_answer(faulty, "Responses by status code"))}
    assert {"200", "201", "500"} <= statuses
    assert "500" not in {tags["status"] for tags in _tags(_answer(clean, "Responses by status code"))}

    error_rate = _column(_answer(faulty, "Threshold metrics", "C"), "mean")
    assert len(error_rate) == 1 and 0.02 < error_rate[0] < 0.5, error_rate
    assert _column(_answer(clean, "Threshold metrics", "C"), "mean") == [0]
    checks = _column(_answer(faulty, "Threshold metrics", "F"), "mean")
    assert len(checks) == 1 and 0.5 < checks[0] < 1, checks


def test_panel_values_are_consistent(k6_data, provisioned):
    answers = all_queries(k6_data, provisioned["dashboard"], {"testid": FAULTY_RUN, "load_generator": [ALL], "scenario": ["smoke"],
                                                              "name": [BROKEN_ENDPOINT, "/"]})
    percentiles = _answer(answers, "Response time p50")
    rows = list(zip(_column(percentiles, "p50"), _column(percentiles, "p95"), _column(percentiles, "p99")))
    assert rows
    for p50, p95, p99 in rows:
        if p50 is not None:
            assert p50 <= p95 <= p99, (p50, p95, p99)
    vus = [value for value in _column(_answer(answers, "Active VUs"), "sum") if value is not None]
    assert max(vus) == 1  # smoke: one VU
    endpoints = {tags["name"] for tags in _tags(_answer(answers, "Endpoints over the selected range"))}
    assert endpoints == {BROKEN_ENDPOINT, "/"}  # the endpoint variable filters
    per_endpoint = {tags["name"] for tags in _tags(_answer(answers, "Error rate", "B"))}
    assert per_endpoint == {BROKEN_ENDPOINT, "/"}
    request_rate = _answer(answers, "Request rate")
    assert sum(_column(request_rate, request_rate["series"][0]["columns"][1])) > 0


# --- the role's live checks, against a Grafana stand-in -------------------------------------------

class _GrafanaStandIn(BaseHTTPRequestHandler):
    """Answers the API calls of roles/grafana/tasks/live_checks.yml the way Grafana documents them.
    Dashboards "exist" when the role wrote their file into the provider's directory."""

    server_version = "grafana-stand-in"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        expected = "Basic " + base64.b64encode(b"admin:stand-in-pw").decode()
        return self.headers.get("Authorization") == expected

    def do_GET(self):  # noqa: N802 (http.server's naming)
        state = self.server.state
        state["requests"].append("GET " + self.path)
        if self.path == "/api/health":
            return self._reply(200, {"database": "ok", "version": "stand-in"})
        if not self._authorized():
            return self._reply(401, {"message": "Unauthorized"})
        if self.path == "/api/user":
            return self._reply(200, {"login": "admin", "isGrafanaAdmin": True})
        ds_path = "/api/datasources/uid/%s" % state["uid"]
        if self.path == ds_path:
            return self._reply(200, {"uid": state["uid"], "type": "influxdb"})
        if self.path == ds_path + "/health":
            if state["influx_ok"]:
                return self._reply(200, {"status": "OK", "message": "datasource is working. 17 measurements found"})
            return self._reply(400, {"status": "ERROR", "message": "error performing influxQL query: connection refused"})
        prefix = "/api/dashboards/uid/"
        if self.path.startswith(prefix):
            uid = self.path[len(prefix):]
            for path in Path(state["dir"]).glob("*.json"):
                if json.loads(path.read_text()).get("uid") == uid:
                    return self._reply(200, {"dashboard": {"uid": uid}, "meta": {"provisioned": True}})
        return self._reply(404, {"message": "Not found"})

    def do_POST(self):  # noqa: N802
        self.server.state["requests"].append("POST " + self.path)
        if not self._authorized():
            return self._reply(401, {"message": "Unauthorized"})
        return self._reply(200, {"message": "reloaded"})


@pytest.fixture
def grafana_stand_in(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GrafanaStandIn)
    server.state = {"requests": [], "uid": DS_UID, "influx_ok": True, "dir": str(tmp_path / "dashboards")}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _live_vars(tmp_path, server) -> dict:
    return _role_vars(tmp_path, grafana_live_checks=True, grafana_admin_password="stand-in-pw",
                      grafana_url="http://127.0.0.1:%d/" % server.server_address[1])


def test_live_checks_reload_and_find_datasource_and_dashboard(tmp_path, grafana_stand_in):
    _need_root()
    proc = _playbook(tmp_path, _live_vars(tmp_path, grafana_stand_in))
    assert proc.returncode == 0, proc.stdout[-4000:]
    requests = grafana_stand_in.state["requests"]
    for expected in ("GET /api/health", "GET /api/user", "POST /api/admin/provisioning/datasources/reload",
                     "POST /api/admin/provisioning/dashboards/reload", "GET /api/datasources/uid/%s" % DS_UID,
                     "GET /api/datasources/uid/%s/health" % DS_UID, "GET /api/dashboards/uid/loadops-k6"):
        assert expected in requests, (expected, requests)
    # nothing changed on a second run: no reload asked
    del requests[:]
    again = _playbook(tmp_path, _live_vars(tmp_path, grafana_stand_in))
    assert again.returncode == 0 and _recap_changed(again) == 0, again.stdout[-4000:]
    assert not [r for r in requests if r.startswith("POST")]


def test_live_checks_stay_quiet_in_check_mode(tmp_path, grafana_stand_in):
    _need_root()
    proc = _playbook(tmp_path, _live_vars(tmp_path, grafana_stand_in), "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert grafana_stand_in.state["requests"] == []


def test_live_checks_fail_clearly_on_a_wrong_password(tmp_path, grafana_stand_in):
    _need_root()
    proc = _playbook(tmp_path, dict(_live_vars(tmp_path, grafana_stand_in), grafana_admin_password="wrong"))
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "refused the login of admin (HTTP 401): check grafana_admin_user and grafana_admin_password" in out, proc.stdout[-4000:]
    assert not [r for r in grafana_stand_in.state["requests"] if r.startswith("POST")]


def test_live_checks_fail_clearly_when_the_datasource_cannot_reach_influxdb(tmp_path, grafana_stand_in):
    _need_root()
    grafana_stand_in.state["influx_ok"] = False
    proc = _playbook(tmp_path, _live_vars(tmp_path, grafana_stand_in))
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "datasource %s cannot reach InfluxDB at http://127.0.0.1:1/unused" % DS_UID in out, proc.stdout[-4000:]
    assert "connection refused" in out
