# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/k6_progress.py. BODY is a real `GET /v1/metrics` answer of
k6 1.1.0 during a smoke run (trimmed to the metrics the line uses)."""

from ansible_collections.loadops.k6.plugins.filter.k6_progress import k6_progress

BODY = {"data": [
    {"type": "metrics", "id": "http_req_duration", "attributes": {"type": "trend", "contains": "time", "tainted": None,
     "sample": {"avg": 0.35973560447761205, "max": 1.710651, "med": 0.287846, "min": 0.108782,
                "p(90)": 0.6454091000000001, "p(95)": 0.9118915999999999}}},
    {"type": "metrics", "id": "iterations", "attributes": {"type": "counter", "contains": "default", "tainted": None,
     "sample": {"count": 9, "rate": 2.252087967056457}}},
    {"type": "metrics", "id": "http_req_failed", "attributes": {"type": "rate", "contains": "default", "tainted": False,
     "sample": {"rate": 0}}},
    {"type": "metrics", "id": "http_reqs", "attributes": {"type": "counter", "contains": "default", "tainted": None,
     "sample": {"count": 134, "rate": 33.53108750950725}}},
    {"type": "metrics", "id": "vus", "attributes": {"type": "gauge", "contains": "default", "tainted": None,
     "sample": {"value": 1}}},
]}


def test_the_line_has_elapsed_total_vus_requests_errors_and_p95():
    assert k6_progress(BODY, elapsed_s=64.4, total_s=840) == \
        "1:04 of 14:00 elapsed, 1 VUs, 134 requests, errors 0.00%, p95 0.9 ms"


def test_metrics_not_reported_yet_show_as_dashes():
    assert k6_progress({"data": []}, elapsed_s=2, total_s=30) == "0:02 of 0:30 elapsed, - VUs, - requests, errors -, p95 -"


def test_no_answer_from_k6_says_so():
    assert "k6 is not reporting yet" in k6_progress(None, elapsed_s=1, total_s=0)
    assert k6_progress(None, elapsed_s=3725, total_s=7200).startswith("1:02:05 of 2:00:00 elapsed")


def test_ticks_every_interval_then_just_after_the_end_then_ten_overrun_ticks():
    from ansible_collections.loadops.k6.plugins.filter.progress_ticks import progress_ticks

    # The load scenario unscaled: 14 min plus a 10 s graceful stop, a line every 30 s.
    ticks = progress_ticks(850.0, interval=30, timeout=3600)
    assert ticks[:3] == [30, 60, 90] and 840 in ticks and 851 in ticks
    assert ticks[ticks.index(851) + 1:] == [851 + 30 * k for k in range(1, 11)]
    assert all(b - a <= 30 for a, b in zip(ticks, ticks[1:]))
    assert progress_ticks(850.0, interval=30, timeout=900)[-1] <= 900
    assert progress_ticks(3.2, interval=30) == [5] + [5 + 30 * k for k in range(1, 11)]
    assert progress_ticks(10, interval=0, timeout=12) == list(range(1, 12 + 1))
