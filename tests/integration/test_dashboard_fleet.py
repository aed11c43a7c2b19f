"""The dashboard's $load_generator variable and its sums over several load machines, against a real
InfluxDB 1.x (Debian's /usr/bin/influxd on free loopback ports, its own data directory).

A fleet run (docs/DISTRIBUTED.md) writes one test's samples from several machines, each tagged
`testid` and `load_generator`. Here three machines' samples of one run are written in the shape k6's
InfluxDB v1 output writes them (line protocol, the test-wide tags as tags, `url`/`vu`/`iter` as
fields), with known values and times; a second run written without the `load_generator` tag stands
for a run from before fleet support. Every panel query of the dashboard (as the grafana_dashboard
filter renders it) is expanded the way Grafana expands it (test_dashboard_queries.expand, our
re-implementation; Grafana itself cannot run on these machines) and sent to /query.

influxd missing: the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from typing import Dict, List

import pytest
from ansible_collections.loadops.k6.plugins.filter.grafana_dashboard import grafana_dashboard

import test_dashboard_queries as dq
from services import INFLUXD, REPO, Influxd, need

RUN = "fleet-it-%d" % os.getpid()
OLD_RUN = "single-it-%d" % os.getpid()  # written without the load_generator tag
SECONDS = 10  # samples over 10 whole seconds
GENERATORS = {  # name: (requests per second at even seconds, VUs at the start of each second)
    "lg1.example.net": (12, 6),
    "lg2.example.net": (6, 3),
    "lg3.example.net": (5, 2),
}
ALL = dq.ALL
ALL_SELECTED = {"load_generator": [ALL], "scenario": [ALL], "name": [ALL]}


def requests_at(generator: str, second: int) -> int:
    """Requests a machine made in one second: its rate, one more in odd seconds."""
    return GENERATORS[generator][0] + second % 2


def vus_at(generator: str, second: int) -> List[int]:
    """The two vus samples a machine writes in one second (at +100 ms and +600 ms): a rising ramp,
    so that a sum of raw points (or of maxima of the wrong sample) would not match."""
    base = GENERATORS[generator][1]
    return [base + second // 3, base + second // 3 + 1]


def _line(measurement: str, tags: Dict[str, str], fields: str, ns: int) -> str:
    tag_text = ",".join("%s=%s" % (k, v.replace(" ", "\\ ").replace(",", "\\,")) for k, v in sorted(tags.items()) if v)
    return "%s,%s %s %d" % (measurement, tag_text, fields, ns)


def k6_lines(testid: str, generator: str, start_s: int) -> List[str]:
    """One machine's samples in k6's line-protocol shape (vus, vus_max, http_reqs, iterations)."""
    common = {"testid": testid, "scenario_file": "smoke", "load_generator": generator}
    lines = []
    for second in range(SECONDS):
        base_ns = (start_s + second) * 10**9
        for offset_ms, value in zip((100, 600), vus_at(generator, second)):
            lines.append(_line("vus", common, "value=%d" % value, base_ns + offset_ms * 10**6))
            lines.append(_line("vus_max", common, "value=%d" % (value + 10), base_ns + offset_ms * 10**6))
        for i in range(requests_at(generator, second)):
            name = "/api/tasks/" if i % 2 else "/health/"
            tags = dict(common, scenario="smoke", name=name, method="GET", status="200", proto="HTTP/1.1",
                        expected_response="true", group="")
            ns = base_ns + (i + 1) * 10**6  # distinct times: one point per request
            fields = 'url="http://127.0.0.1:8480%s",value=1,vu=%di,iter=%di' % (name, i % 3 + 1, second)
            lines.append(_line("http_reqs", tags, fields, ns))
            if i % 2:
                lines.append(_line("iterations", dict(common, scenario="smoke", group=""), "value=1", ns))
    return lines


def _write(server: Influxd, lines: List[str]) -> None:
    query = urllib.parse.urlencode({"db": dq.DB, "precision": "ns"})
    request = urllib.request.Request("%s/write?%s" % (server.url, query), data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 204


@pytest.fixture(scope="module")
def fleet_data(tmp_path_factory):
    """Our own influxd with RUN from three machines and OLD_RUN from one untagged machine."""
    need(os.path.isfile(INFLUXD) and os.access(INFLUXD, os.X_OK),
         "%s is missing (apt-get install influxdb; scripts/host-prereqs.sh does)" % INFLUXD)
    server = Influxd(tmp_path_factory.mktemp("influxd-fleet"))
    server.start()
    try:
        server.query("CREATE DATABASE %s" % dq.DB)
        start_s = (int(time.time()) // 60) * 60 - 600  # whole minute, 10 to 11 minutes ago
        lines = [line for generator in GENERATORS for line in k6_lines(RUN, generator, start_s)]
        old = [line.replace(",load_generator=lg1.example.net", "") for line in k6_lines(OLD_RUN, "lg1.example.net", start_s)]
        assert not [line for line in old if "load_generator" in line]
        _write(server, lines + old)
        yield {"server": server, "start_ms": start_s * 1000}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dashboard() -> dict:
    raw = json.loads((REPO / "roles/grafana/files/dashboards/loadops-k6.json").read_text())
    return grafana_dashboard(raw, "it-fleet")


def answers_for(data: dict, dashboard: dict, selection: dict, interval_s: int = 1) -> Dict[tuple, dict]:
    builtins = {"__interval": "%ds" % interval_s, "__interval_ms": str(interval_s * 1000)}
    saved = {key: dq.BUILTINS[key] for key in builtins}
    dq.BUILTINS.update(builtins)
    try:
        return dq.all_queries(data["server"], dashboard, dict(selection, testid=selection.get("testid", RUN)))
    finally:
        dq.BUILTINS.update(saved)


def by_second(data: dict, result: dict, interval_s: int = 1) -> Dict[int, float]:
    """{bucket index from the first written second: value} of a one-series answer, nulls left out."""
    series = result.get("series") or []
    assert len(series) <= 1, series
    out = {}
    for row in (series[0]["values"] if series else []):
        if row[1] is not None:
            out[(row[0] - data["start_ms"]) // (interval_s * 1000)] = row[1]
    return out


def expected_requests(generators, interval_s: int = 1) -> Dict[int, float]:
    totals = defaultdict(int)
    for generator in generators:
        for second in range(SECONDS):
            totals[second // interval_s] += requests_at(generator, second)
    return {bucket: count / interval_s for bucket, count in totals.items()}


def expected_vus(generators, interval_s: int = 1, offset: int = 0) -> Dict[int, int]:
    """Sum over the machines of each one's last vus sample in the interval."""
    last = defaultdict(dict)
    for generator in generators:
        for second in range(SECONDS):
            last[second // interval_s][generator] = vus_at(generator, second)[-1] + offset
    return {bucket: sum(values.values()) for bucket, values in last.items()}


def nonzero(values: Dict[int, float]) -> Dict[int, float]:
    return {k: v for k, v in values.items() if v}


# --- the variable -------------------------------------------------------------------------------

def test_load_generator_variable_lists_the_machines_of_the_selected_run_only(fleet_data, dashboard):
    options = dq.variable_options(fleet_data["server"], dashboard, dict(ALL_SELECTED, testid=RUN))
    assert options["load_generator"] == sorted(GENERATORS)
    assert {RUN, OLD_RUN} <= set(options["testid"])
    assert options["scenario"] == ["smoke"] and options["name"] == ["/api/tasks/", "/health/"]
    old = dq.variable_options(fleet_data["server"], dashboard, dict(ALL_SELECTED, testid=OLD_RUN))
    assert old["load_generator"] == []  # no tag, no choice: All still shows the run (below)


# --- sums over all machines ---------------------------------------------------------------------

@pytest.mark.parametrize("interval_s", [1, 5])
def test_all_machines_selected_sums_vus_and_request_rate_over_the_machines(fleet_data, dashboard, interval_s):
    answers = answers_for(fleet_data, dashboard, ALL_SELECTED, interval_s)
    assert by_second(fleet_data, dq._answer(answers, "Active VUs", "A"), interval_s) == expected_vus(GENERATORS, interval_s)
    assert by_second(fleet_data, dq._answer(answers, "Active VUs", "B"), interval_s) == expected_vus(
        GENERATORS, interval_s, offset=10)
    rate = nonzero(by_second(fleet_data, dq._answer(answers, "Request rate", "A"), interval_s))
    assert rate == expected_requests(GENERATORS, interval_s)
    iterations = nonzero(by_second(fleet_data, dq._answer(answers, "Request rate", "B"), interval_s))
    assert iterations == {bucket: sum(requests_at(g, s) // 2 for g in GENERATORS for s in range(SECONDS)
                                      if s // interval_s == bucket) / interval_s
                          for bucket in range(SECONDS // interval_s)}


def test_hand_computed_totals_at_one_second(fleet_data, dashboard):
    """The same numbers written out, so a reader can check them: second 0 and second 9."""
    answers = answers_for(fleet_data, dashboard, ALL_SELECTED)
    vus = by_second(fleet_data, dq._answer(answers, "Active VUs", "A"))
    assert (vus[0], vus[9]) == (7 + 4 + 3, 10 + 7 + 6)  # last samples: base + s//3 + 1, summed
    rate = by_second(fleet_data, dq._answer(answers, "Request rate", "A"))
    assert (rate[0], rate[9]) == (12 + 6 + 5, 13 + 7 + 6)
    total = sum(row[1] for row in dq._answer(answers, "Responses by status code")["series"][0]["values"])
    assert total == sum(requests_at(g, s) for g in GENERATORS for s in range(SECONDS)) == 245


def test_requests_per_load_generator_has_one_series_per_machine_with_its_own_rate(fleet_data, dashboard):
    answers = answers_for(fleet_data, dashboard, ALL_SELECTED)
    series = dq._answer(answers, "Requests per load generator")["series"]
    assert sorted(s["tags"]["load_generator"] for s in series) == sorted(GENERATORS)
    for one in series:
        generator = one["tags"]["load_generator"]
        got = nonzero(by_second(fleet_data, {"series": [one]}))
        assert got == expected_requests([generator]), generator


# --- one machine, two machines ------------------------------------------------------------------

@pytest.mark.parametrize("chosen", [["lg2.example.net"], ["lg1.example.net", "lg3.example.net"]])
def test_selected_machines_show_only_their_own_samples(fleet_data, dashboard, chosen):
    answers = answers_for(fleet_data, dashboard, dict(ALL_SELECTED, load_generator=chosen))
    assert by_second(fleet_data, dq._answer(answers, "Active VUs", "A")) == expected_vus(chosen)
    assert nonzero(by_second(fleet_data, dq._answer(answers, "Request rate", "A"))) == expected_requests(chosen)
    per_machine = dq._answer(answers, "Requests per load generator")["series"]
    assert sorted(s["tags"]["load_generator"] for s in per_machine) == sorted(chosen)
    total = sum(row[1] for row in dq._answer(answers, "Responses by status code")["series"][0]["values"])
    assert total == sum(requests_at(g, s) for g in chosen for s in range(SECONDS))
    for (title, ref), result in answers.items():  # every panel answers, none with another machine's data
        for one in result.get("series") or []:
            assert one.get("tags", {}).get("load_generator") in (None, *chosen), (title, ref, one.get("tags"))


def test_a_machine_not_in_the_run_selects_nothing(fleet_data, dashboard):
    answers = answers_for(fleet_data, dashboard, dict(ALL_SELECTED, load_generator=["lg9.example.net"]))
    assert answers and all(not result.get("series") for result in answers.values())


def test_a_run_without_the_tag_still_shows_under_all(fleet_data, dashboard):
    answers = answers_for(fleet_data, dashboard, dict(ALL_SELECTED, testid=OLD_RUN))
    assert by_second(fleet_data, dq._answer(answers, "Active VUs", "A")) == expected_vus(["lg1.example.net"])
    assert nonzero(by_second(fleet_data, dq._answer(answers, "Request rate", "A"))) == expected_requests(["lg1.example.net"])
