# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the fleet run's filters: fleet_segments, fleet_start, and the fleet parts of
run_verdict, verdict_table, junit_xml and run_judgement, and the fleet verdict rule."""

import xml.etree.ElementTree as ET

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.filter.fleet_segments import fleet_segments
from ansible_collections.loadops.k6.plugins.filter.fleet_start import fleet_start
from ansible_collections.loadops.k6.plugins.filter.junit_xml import junit_xml
from ansible_collections.loadops.k6.plugins.filter.run_judgement import run_judgement
from ansible_collections.loadops.k6.plugins.filter.run_verdict import run_verdict
from ansible_collections.loadops.k6.plugins.filter.verdict_table import verdict_table
from ansible_collections.loadops.k6.plugins.module_utils import k6_fleet as fleet
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import validate_segment
from ansible_collections.loadops.k6.plugins.module_utils.verdicts import fleet_verdict


# --- fleet_segments ------------------------------------------------------------------------------

def test_equal_shares_follow_the_sorted_host_list():
    split = fleet_segments(["lg3", "lg1", "lg2"])
    assert split["sequence"] == "0,1/3,2/3,1"
    assert {h: v["segment"] for h, v in split["hosts"].items()} == {"lg1": "0:1/3", "lg2": "1/3:2/3", "lg3": "2/3:1"}
    assert split["hosts"]["lg1"]["index"] == 0 and split["summary"] == "lg1 0:1/3, lg2 1/3:2/3, lg3 2/3:1"
    for host in split["hosts"].values():
        validate_segment(host["segment"], split["sequence"])  # what k6_run accepts


def test_weights_give_proportional_shares():
    split = fleet_segments(["a", "b", "c"], weights={"a": 2, "c": "1"})
    assert split["sequence"] == "0,1/2,3/4,1" and split["hosts"]["a"]["share"] == 0.5


@pytest.mark.parametrize("weight", [0, -1, "two", 1.5, True])
def test_a_bad_weight_is_named(weight):
    with pytest.raises(AnsibleFilterError, match="load weight .* of b is not allowed"):
        fleet_segments(["a", "b"], weights={"b": weight})


def test_uneven_vus_are_warned_about_and_one_machine_or_replicate_has_no_segment():
    assert fleet_segments(["a", "b"], max_vus=15)["warnings"][0].startswith("the test's 15 VUs do not divide evenly")
    assert fleet_segments(["a", "b", "c"], max_vus=15)["warnings"] == []
    assert fleet_segments(["a"])["distribution"] == "single" and fleet_segments(["a"])["hosts"]["a"]["segment"] == ""
    rep = fleet_segments(["b", "a"], distribution="replicate")
    assert rep["distribution"] == "replicate" and rep["sequence"] == "" and rep["hosts"]["a"]["index"] == 0
    with pytest.raises(AnsibleFilterError, match="distribution 'spread' is not known"):
        fleet_segments(["a", "b"], distribution="spread")


# --- fleet_start ---------------------------------------------------------------------------------

READY = {"status": 4, "changed": False}
SKIPPED = {"skipped": True, "changed": False}


def test_a_start_that_held_everywhere_has_its_skew():
    start = fleet_start(["a", "b"], first="a", at=100.0, ready=[READY, READY],
                        setup=[{"data": {"t": 1}, "changed": True}, SKIPPED],
                        put=[SKIPPED, {"data": {"t": 1}, "changed": True}],
                        resumed=[{"resumed_at": 100.0004}, {"resumed_at": 100.0011}])
    assert start["started"] and start["problem"] == ""
    assert start["skew_ms"] == pytest.approx(0.7) and start["hosts"]["b"]["late_ms"] == pytest.approx(1.1)


def test_the_first_step_that_failed_names_the_machine_and_why():
    not_ready = fleet_start(["a", "b"], first="a", ready=[READY, {"msg": "k6 ended before it was ready: boom"}])
    assert not not_ready["ready"] and not_ready["problem"] == "b is not ready: k6 ended before it was ready: boom"
    failed_setup = fleet_start(["a", "b"], first="a", ready=[READY, READY], setup=[{"msg": "setup() threw"}, SKIPPED])
    assert failed_setup["ready"] and not failed_setup["set_up"] and failed_setup["problem"] == "setup() failed on a: setup() threw"
    lost = fleet_start(["a", "b"], first="a", ready=[READY, READY], setup=[{"data": None}, SKIPPED],
                       put=[SKIPPED, {"msg": "connection refused"}])
    assert lost["problem"] == "setup()'s data did not reach b: connection refused"
    late = fleet_start(["a", "b"], first="a", at=1.0, ready=[READY, READY], setup=[{"data": None}, SKIPPED],
                       put=[SKIPPED, {"data": None}], resumed=[{"resumed_at": 1.0}, {"msg": "resume did not take"}])
    assert late["set_up"] and not late["started"] and late["problem"] == "b did not start: resume did not take"
    with pytest.raises(AnsibleFilterError, match="ready has 1 results for 2 load machines"):
        fleet_start(["a", "b"], first="a", ready=[READY])


# --- the verdict ---------------------------------------------------------------------------------

@pytest.mark.parametrize("verdicts, held, expected", [
    (["passed", "thresholds_failed"], True, "passed"),      # local numbers are detail
    (["passed", "passed"], False, "thresholds_failed"),
    (["passed", "k6_error", "interrupted"], True, "incomplete"),
    (["oom_killed", "interrupted"], True, "incomplete"),
    (["aborted", "interrupted", "interrupted"], False, "aborted"),
    (["script_error", "interrupted"], True, "script_error"),
    (["interrupted", "interrupted"], True, "interrupted"),
    (["passed", "interrupted"], True, "incomplete"),
    ([], True, "error"),
])
def test_the_fleet_verdict(verdicts, held, expected):
    assert fleet_verdict(verdicts, held) == expected


def _fleet_doc(verdicts=("passed", "thresholds_failed"), crossed=False, missing=None, problem=""):
    results = {"lg%d" % (i + 1): {"verdict": v, "rc": 0, "msg": "m%d" % i, "thresholds": [
        {"metric": "http_req_failed", "expression": "rate<0.1", "passed": v == "passed",
         "observed": {"stat": "rate", "value": 0.2, "unit": ""}}], "metrics": {"requests": 10}, "duration_s": 5}
        for i, v in enumerate(verdicts)}
    segments = {"lg1": {"segment": "0:1/2"}, "lg2": {"segment": "1/2:1"}}
    fleet = {"distribution": {"mode": "split", "sequence": "0,1/2,1", "hosts": segments},
             "start": {"started": not problem, "problem": problem, "skew_ms": 0.8,
                       "hosts": {"lg1": {"late_ms": 0.1}, "lg2": {"late_ms": 0.9}}},
             "judged": {"thresholds": [{"metric": "http_req_failed", "expression": "rate<0.1", "passed": not crossed,
                                        "observed": {"stat": "rate", "value": 0.05 if not crossed else 0.15, "unit": ""}}],
                        "metrics": {"requests": 20, "request_rate": 4.0, "failure_rate": 0.05, "iterations": 20},
                        "checks": [{"name": "ok", "path": "", "passes": 19, "fails": 1}], "endpoints": [], "errors": [],
                        "samples": 300, "merged": sorted(results), "missing": missing or {}}}
    return run_verdict(results, run_id="r1", scenario="smoke", fleet=fleet)


def test_the_document_of_a_fleet_run_is_judged_on_all_samples():
    doc = _fleet_doc()
    assert doc["verdict"] == "passed" and doc["outcome"] == "passed"
    assert doc["hosts"]["lg2"]["verdict"] == "thresholds_failed"   # its own samples: detail
    assert doc["checks"] == {"passed": 19, "failed": 1, "list": [{"name": "ok", "path": "", "passes": 19, "fails": 1}]}
    assert doc["distribution"]["sequence"] == "0,1/2,1" and doc["start"]["skew_ms"] == 0.8
    assert doc["reason"] == "every threshold held on all 2 machines' samples (300 samples)"
    crossed = _fleet_doc(verdicts=("passed", "passed"), crossed=True)
    assert crossed["verdict"] == "thresholds_failed" and crossed["reason"] == "crossed on all machines' samples: http_req_failed rate<0.1"
    missing = _fleet_doc(missing={"lg2": "no samples came back from this machine"})
    assert missing["verdict"] == "incomplete" and "lg2: no samples came back" in missing["reason"]
    unstarted = _fleet_doc(verdicts=("script_error", "interrupted"), problem="lg1 is not ready: boom")
    assert unstarted["verdict"] == "script_error" and unstarted["reason"] == "the load machines did not start: lg1 is not ready: boom"


def test_the_table_and_junit_put_the_whole_test_first():
    doc = _fleet_doc(verdicts=("passed", "thresholds_failed"))
    table = verdict_table(doc)
    lines = table.splitlines()
    assert lines[0] == "k6 run r1 on all 2 load machines"
    assert "load machines (split, sequence 0,1/2,1; start skew 0.8 ms):" in lines
    assert "  lg2: thresholds_failed, segment 1/2:1, started +0.9 ms, 10 requests" in lines
    assert lines[-1].startswith("VERDICT: PASSED (all load machines' samples) - every threshold held")
    root = ET.fromstring(junit_xml(doc).split("\n", 1)[1])
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["smoke on all 2 load machines", "smoke on lg1", "smoke on lg2"]
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert "this machine's own samples" in suites[2].find("system-out").text
    failed = _fleet_doc(verdicts=("passed", "k6_error"))
    root = ET.fromstring(junit_xml(failed).split("\n", 1)[1])
    assert root.get("errors") == "2"   # the whole test is incomplete, and lg2 did not finish
    judgement = run_judgement(failed, "lg1", results_dir="/r")
    assert not judgement["passed"]
    assert judgement["reason"].startswith("lg1: the test on all 2 load machines ended incomplete: lg2 k6_error: m1")


def test_a_fleet_that_is_not_a_mapping_is_refused():
    with pytest.raises(AnsibleFilterError, match="fleet must be a mapping"):
        run_verdict({"a": {}}, run_id="r", fleet=["x"])


@pytest.mark.parametrize("expression,observed,final", [
    ("max<5000", 6000, True), ("max<=5000", 6000, True), ("count<100", 150, True), ("min>10", 5, True),
    ("min>=10", 5, True),
    ("max>5000", 10, False), ("count>100", 10, False), ("min<10", 50, False),   # more samples may still get there
    ("p(95)<200", 300, False), ("avg<200", 300, False), ("med<200", 300, False), ("rate<0.1", 0.2, False),
    ("max==5000", 6000, False),
])
def test_a_failure_more_samples_could_not_undo_is_final(expression, observed, final):
    threshold = {"metric": "m", "expression": expression, "passed": False, "observed": {"value": observed}}
    assert fleet.final_failure(threshold) is final
    assert fleet.final_failure(dict(threshold, passed=True)) is False
    assert fleet.final_failure(dict(threshold, passed=None)) is False


def test_an_incomplete_run_marks_and_names_the_failures_that_are_final():
    doc = _fleet_doc(verdicts=("passed", "k6_error"), crossed=True)
    assert doc["verdict"] == "incomplete"
    assert [t["final"] for t in doc["thresholds"]] == [False]   # a rate: more samples could undo it
    assert "for good" not in doc["reason"]
    results = {"lg1": {"verdict": "passed"}, "lg2": {"verdict": "oom_killed", "msg": "out of memory"}}
    judged = {"thresholds": [
        {"metric": "http_req_duration", "expression": "max<5000", "passed": False, "observed": {"stat": "max", "value": 7100.0}},
        {"metric": "http_req_duration", "expression": "p(95)<500", "passed": False, "observed": {"stat": "p(95)", "value": 900.0}},
        {"metric": "http_reqs", "expression": "count<100000", "passed": True, "observed": {"stat": "count", "value": 5.0}}],
        "merged": ["lg1", "lg2"]}
    split = {"mode": "split", "sequence": "0,1/2,1", "hosts": {"lg1": {"segment": "0:1/2"}, "lg2": {"segment": "1/2:1"}}}
    doc = run_verdict(results, run_id="r2", fleet={"judged": judged, "distribution": split})
    assert doc["verdict"] == "incomplete"
    assert [t["final"] for t in doc["thresholds"]] == [True, False, False]
    assert doc["reason"] == ("lg2 oom_killed: out of memory; crossed for good on the samples that arrived "
                             "(more could not undo it): http_req_duration max<5000")
    complete = run_verdict({"lg1": {"verdict": "thresholds_failed"}, "lg2": {"verdict": "passed"}},
                           run_id="r3", fleet={"judged": judged, "distribution": split})
    assert complete["verdict"] == "thresholds_failed" and "final" not in complete["thresholds"][0]
    table = verdict_table(doc)
    assert "FAIL (final)" in table and "FAIL (so far)" in table and "PASS (so far)" in table
    assert "(final)" not in verdict_table(complete) and "(so far)" not in verdict_table(complete)


# --- a global abortOnFail (fleet_abort, run_verdict) ---------------------------------------------

def _live(machine_counts):
    """Live reductions as k6_lease returns them: http_reqs counted on each machine."""
    from ansible_collections.loadops.k6.plugins.module_utils import k6_samples as smp
    live = {}
    for host, count in machine_counts.items():
        if count is None:
            live[host] = None
            continue
        reducer = smp.Reducer()
        reducer.feed(b'{"type":"Metric","data":{"name":"http_reqs","type":"counter","contains":"default"},"metric":"http_reqs"}\n')
        reducer.feed(b"".join(b'{"metric":"http_reqs","type":"Point","data":{"time":"2026-12-01T10:00:0%dZ","value":1,'
                              b'"tags":{"name":"a"}}}\n' % (i % 10) for i in range(count)))
        live[host] = reducer.to_dict(live=True)
    return live


def test_fleet_abort_merges_the_machines_live_samples():
    from ansible_collections.loadops.k6.plugins.filter.fleet_abort import fleet_abort
    declared = {"http_reqs": [{"threshold": "count<30", "abortOnFail": True, "delayAbortEval": None}, "count>0"]}
    decided = fleet_abort(_live({"lg1": 12, "lg2": 12, "lg3": None}), thresholds=declared, elapsed_s=4.2)
    assert decided["abort"] is False and decided["missing"] == ["lg3"] and decided["summary"] == ""
    decided = fleet_abort(_live({"lg1": 12, "lg2": 12, "lg3": 12}), thresholds=declared, elapsed_s=4.2)
    assert decided["abort"] is True and decided["samples"] == 36
    assert decided["summary"] == ("crossed on all machines' samples after 4.2 s, stopping every machine: "
                                  "http_reqs count<30 (count=36)")
    waiting = fleet_abort(_live({"lg1": 40}), elapsed_s=4.2, thresholds={
        "http_reqs": [{"threshold": "count<30", "abortOnFail": True, "delayAbortEval": "10s"}]})
    assert waiting["abort"] is False and waiting["summary"] == (
        "crossed, within delayAbortEval: http_reqs count<30 (count=40) (until 10 s)")


@pytest.mark.parametrize("live, kwargs, message", [
    ([], {}, "mapping of load machine"),
    ({"lg1": None}, {"thresholds": ["count<1"]}, "thresholds object"),
    ({"lg1": None}, {"thresholds": {}, "elapsed_s": "soon"}, "elapsed_s must be a number"),
    ({"lg1": {"format": "other"}}, {"thresholds": {}}, "live reduction of lg1 cannot be read"),
    ({"lg1": None}, {"thresholds": {"x": [{"threshold": "count<1", "abortOnFail": True, "delayAbortEval": "later"}]}},
     "delayAbortEval 'later' is not a duration"),
])
def test_fleet_abort_refuses_bad_input_by_name(live, kwargs, message):
    from ansible_collections.loadops.k6.plugins.filter.fleet_abort import fleet_abort
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_abort(live, **kwargs)


def test_a_global_abort_makes_the_fleet_run_aborted_and_says_why():
    results = {"lg1": {"verdict": "interrupted"}, "lg2": {"verdict": "interrupted"}}
    judged = {"thresholds": [{"metric": "http_reqs", "expression": "count<30", "passed": False, "abort_on_fail": True,
                              "observed": {"stat": "count", "value": 41.0}}], "merged": ["lg1", "lg2"]}
    aborted = {"abort": True, "elapsed_s": 4.2, "samples": 36, "summary": "crossed on all machines' samples after 4.2 s, "
               "stopping every machine: http_reqs count<30 (count=36)",
               "breached": [{"metric": "http_reqs", "expression": "count<30", "observed": {"stat": "count", "value": 36.0},
                             "abort_on_fail": True, "passed": False}]}
    doc = run_verdict(results, run_id="r", fleet={"judged": judged, "aborted": aborted})
    assert doc["verdict"] == "aborted" and doc["outcome"] == "failed"
    assert doc["reason"] == ("an abortOnFail threshold was crossed on all machines' samples after 4.2 s, stopping every "
                             "machine: http_reqs count<30 (count=36)")
    assert doc["aborted"]["thresholds"] == [{"metric": "http_reqs", "expression": "count<30",
                                             "observed": {"stat": "count", "value": 36.0}}]
    # Stopped everywhere without it: interrupted; a broken script or a lost machine still comes first.
    assert run_verdict(results, run_id="r", fleet={"judged": judged, "aborted": {}})["verdict"] == "interrupted"
    assert run_verdict(results, run_id="r", fleet={"judged": judged})["aborted"] is None
    assert fleet_verdict(["interrupted", "oom_killed"], False, aborted=True) == "incomplete"
    assert fleet_verdict(["interrupted", "script_error"], False, aborted=True) == "script_error"
    assert fleet_verdict(["interrupted", "interrupted"], False, aborted=True) == "aborted"
