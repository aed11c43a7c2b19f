# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/health_probe.py: one step of the health probe, redirects under the allowlist."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.health_probe import health_probe

START = "http://127.0.0.1:8480/health/"
LOOPBACK = ["127.0.0.0/8"]


def _redirect(location, status=302):
    return {"status": status, "location": location, "msg": "Status code was %d and not [200]: HTTP Error" % status}


def test_a_healthy_answer_ends_the_probe_without_a_problem():
    assert health_probe({"status": 200}, START, LOOPBACK) == {"url": START, "hops": 0, "done": True, "problem": ""}


def test_other_answers_are_judged_like_before():
    step = health_probe({"status": 503, "msg": "Service Unavailable"}, START, LOOPBACK)
    assert step["done"] and "answered 503, so it is unhealthy before any load" in step["problem"]
    step = health_probe({"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"},
                        START, LOOPBACK)
    assert "did not answer ([Errno 111] Connection refused)" in step["problem"]


def test_a_redirect_is_a_problem_when_redirects_are_not_allowed_and_is_not_followed():
    step = health_probe(_redirect("http://127.0.0.2:9000/health/?sso=tok3n"), START, LOOPBACK)
    assert step["done"] and step["url"] == START
    assert step["problem"] == (
        "the health endpoint http://127.0.0.1:8480/health/ answered 302, a redirect to http://127.0.0.2:9000/health/, "
        "which neither this probe nor k6 follows (scenario_run_allow_redirects is false); set scenario_run_base_url "
        "to the address that answers 200, or scenario_run_allow_redirects: true to follow redirects to hosts in "
        "scenario_run_allowed_targets.")


def test_an_allowed_redirect_to_an_allowed_host_is_probed_next_relative_locations_included():
    step = health_probe(_redirect("http://127.0.0.2:9000/health/", 301), START, LOOPBACK, allow_redirects=True)
    assert step == {"url": "http://127.0.0.2:9000/health/", "hops": 1, "done": False, "problem": ""}
    step = health_probe(_redirect("/healthz"), step, LOOPBACK, allow_redirects=True)
    assert step == {"url": "http://127.0.0.2:9000/healthz", "hops": 2, "done": False, "problem": ""}
    assert health_probe({"status": 200}, step, LOOPBACK, allow_redirects=True) == dict(step, done=True)


def test_a_redirect_to_a_host_off_the_allowlist_is_never_followed():
    step = health_probe(_redirect("https://user:pw@prod.example.com/health/?x=1", 307), START, ["127.0.0.1"],
                        allow_redirects=True)
    assert step["done"] and step["url"] == START
    assert step["problem"].startswith(
        "the health endpoint http://127.0.0.1:8480/health/ redirects to https://prod.example.com/health/, whose host "
        "is not in scenario_run_allowed_targets (127.0.0.1), so the probe did not follow it")
    assert "pw" not in step["problem"] and "x=1" not in step["problem"]


def test_too_many_redirects_end_the_probe():
    step = {"url": START, "hops": 10}
    result = health_probe(_redirect(START), step, LOOPBACK, allow_redirects=True)
    assert result["done"] and "redirected more than 10 times" in result["problem"]


def test_a_3xx_without_location_is_judged_as_an_answer():
    assert health_probe({"status": 304}, START, LOOPBACK)["problem"] == ""


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        health_probe("200", START, LOOPBACK)
    with pytest.raises(AnsibleFilterError):
        health_probe({"status": 200}, {"hops": 1}, LOOPBACK)
