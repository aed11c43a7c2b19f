# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/verdict_table.py: the threshold table and, from the sample stream's
endpoints, errors and evaluator, the worst endpoints, the failed requests by status and any
disagreement between k6 and loadops."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.verdict_table import verdict_table
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import error_hint

from test_run_verdict import k6_result, sample_errors, sample_result


def _block(text, heading):
    """The lines of a block: its heading and the indented lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def test_failing_endpoints_come_first_then_the_slowest():
    text = verdict_table(sample_result(), host="lg1")
    block = _block(text, "endpoints, worst first")
    assert block[0] == "endpoints, worst first:"
    names = [line.split()[0] for line in block[1:]]
    # /api/budgets/ fails 30, /login 3; then by p95: /slow, /api/tasks/ (/idle had no requests).
    assert names == ["/api/budgets/", "/login", "/slow", "/api/tasks/"]
    budgets = block[1].split()
    assert budgets[1:4] == ["30", "req", "failed"] and "100.00%" in block[1]
    assert "p95 48.00 ms" in block[1] and "statuses 400=30" in block[1]
    assert "failed 30.00%" in block[2] and "statuses 200=7, 0=3" in block[2]
    assert "failed 0.00%" in block[3] and "p95 900.00 ms" in block[3]
    # The block comes after the requests line.
    lines = text.splitlines()
    assert lines.index(block[0]) > next(i for i, line in enumerate(lines) if line.startswith("requests: "))


def test_only_five_endpoints_are_listed_and_the_heading_says_of_how_many():
    endpoints = [{"name": "/e%d" % n, "methods": ["GET"], "count": 10, "failed": 0, "failure_rate": 0.0,
                  "p95_ms": float(n), "statuses": {"200": 10}} for n in range(8)]
    block = _block(verdict_table(sample_result(endpoints=endpoints, errors=[])), "endpoints, worst first")
    assert block[0] == "endpoints, worst first (5 of 8):"
    assert [line.split()[0] for line in block[1:]] == ["/e7", "/e6", "/e5", "/e4", "/e3"]


def test_failed_requests_are_listed_by_status_with_hint_and_k6_error():
    text = verdict_table(sample_result())
    block = _block(text, "failed requests by status")
    assert block == [
        "failed requests by status:",
        "  30 x status 400 on /api/budgets/: %s" % error_hint(400),
        "  3 x status 0 on /login: %s (k6: dial: connection refused)" % error_hint(0),
    ]
    assert text.index("endpoints, worst first") < text.index("failed requests by status") < text.index("VERDICT:")


def test_at_most_ten_error_classes_and_the_rest_is_counted():
    errors = [{"endpoint": "/e%d" % n, "status": 500, "count": 20 - n, "hint": "h%d" % n, "error": ""}
              for n in range(12)]
    block = _block(verdict_table(sample_result(errors=errors)), "failed requests by status")
    assert len(block) == 1 + 10 + 1
    assert block[1] == "  20 x status 500 on /e0: h0" and block[10] == "  11 x status 500 on /e9: h9"
    assert block[11] == "  ... and 2 more classes (19 requests)"


def test_an_error_without_hint_gets_the_hint_of_its_status():
    errors = [{"endpoint": "/x", "status": 404, "count": 2}]
    block = _block(verdict_table(sample_result(errors=errors)), "failed requests by status")
    assert block[1] == "  2 x status 404 on /x: %s" % error_hint(404)


@pytest.mark.parametrize("missing", [{}, {"endpoints": [], "errors": [], "evaluator": {}},
                                     {"endpoints": None, "errors": None, "evaluator": None}])
def test_nothing_extra_when_endpoints_errors_and_evaluator_are_empty_or_missing(missing):
    base = k6_result("thresholds_failed")
    for key in ("endpoints", "errors", "evaluator"):
        base.pop(key, None)
    base.update(missing)
    text = verdict_table(base)
    for word in ("endpoints, worst first", "failed requests by status", "disagree"):
        assert word not in text
    # The same text as a result that never had these keys.
    plain = k6_result("thresholds_failed")
    plain.pop("endpoints")
    assert text == verdict_table(plain)


def test_endpoints_without_requests_are_left_out():
    endpoints = [{"name": "/never/requested/", "count": 0, "failure_rate": None, "p95_ms": None}]
    assert "endpoints, worst first" not in verdict_table(sample_result(endpoints=endpoints, errors=[]))


def test_old_results_with_only_name_count_failure_rate_p95():
    # What k6_run returned before the sample stream: from the summary's name submetrics.
    text = verdict_table(k6_result("mixed_status"))
    block = _block(text, "endpoints, worst first")
    assert [line.split()[0] for line in block[1:]] == ["/api/budgets/", "/api/core/projects/", "/api/tasks/"]
    assert "42 req" in block[1] and "failed 100.00%" in block[1] and "p95 47.92 ms" in block[1]
    assert "statuses -" in block[1] and "p95 -" in block[2]
    assert "failed requests by status" not in text
    # count None (a duration submetric only) is shown as unknown, not as zero.
    passed = _block(verdict_table(k6_result("passed")), "endpoints, worst first")
    assert any(line.split()[:3] == ["create_task", "-", "req"] for line in passed)


def test_a_disagreement_between_k6_and_loadops_is_named():
    evaluator = {"agrees": False, "compared": 12,
                 "differences": ["http_req_duration p(95): k6 48.0 ms, loadops 51.2 ms", "http_reqs: k6 40, loadops 39"]}
    text = verdict_table(sample_result(evaluator=evaluator))
    assert ("k6 and loadops disagree on: http_req_duration p(95): k6 48.0 ms, loadops 51.2 ms; "
            "http_reqs: k6 40, loadops 39") in text.splitlines()
    no_details = verdict_table(sample_result(evaluator={"agrees": False, "compared": 3, "differences": []}))
    assert "k6 and loadops disagree on: (no details given)" in no_details.splitlines()


@pytest.mark.parametrize("evaluator", [{"agrees": True, "compared": 12, "differences": []}, {"compared": 0},
                                       {"agrees": None, "compared": 0, "differences": []}, "odd"])
def test_agreement_or_no_verdict_of_the_evaluator_prints_nothing(evaluator):
    assert "disagree" not in verdict_table(sample_result(evaluator=evaluator))


def test_the_reduction_artifact_is_listed_with_the_others():
    artifacts = {"dir": "/r", "summary": "/r/summary.json", "html_report": None, "log": "/r/k6.log",
                 "reduction": "/r/reduction.json"}
    lines = verdict_table(sample_result(artifacts=artifacts)).splitlines()
    assert lines[-3:] == ["summary: /r/summary.json", "log: /r/k6.log", "reduction: /r/reduction.json"]
    without = verdict_table(sample_result(artifacts=dict(artifacts, reduction=None)))
    assert "reduction" not in without


def test_the_threshold_table_is_unchanged():
    result = k6_result("thresholds_failed")
    lines = verdict_table(result, host="lg1").splitlines()
    assert lines[0] == "k6 run it-1 on lg1" and lines[1] == "=" * len(lines[0])
    assert lines[2].split() == ["THRESHOLD", "OBSERVED", "RESULT"] and set(lines[3]) == {"-", " "}
    # The dashes are as wide as each column: they start under each heading.
    assert [lines[3][lines[2].index(h)] for h in ("THRESHOLD", "OBSERVED", "RESULT")] == ["-", "-", "-"]
    rows = lines[4:4 + len(result["thresholds"])]
    assert [row.split()[-1] for row in rows] == ["PASS" if t["passed"] else "FAIL" for t in result["thresholds"]]
    assert verdict_table({}).splitlines()[2] == "(no thresholds reported)"


def test_not_a_result_is_an_error():
    with pytest.raises(AnsibleFilterError):
        verdict_table([sample_result()])


def test_errors_are_sorted_by_count_even_when_given_unsorted():
    errors = list(reversed(sample_errors()))
    block = _block(verdict_table(sample_result(errors=errors)), "failed requests by status")
    assert block[1].startswith("  30 x status 400") and block[2].startswith("  3 x status 0")
