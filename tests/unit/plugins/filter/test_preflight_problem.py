# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/preflight_problem.py. The `msg` texts are what
ansible.builtin.uri returned on the project's test machines (Debian 12, ansible-core 2.19) for
each case."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.preflight_problem import preflight_problem

URL = "http://127.0.0.1:8480/health/"
REFUSED = "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>"
NO_NAME = "Status code was -1 and not [200]: Request failed: <urlopen error [Errno -2] Name or service not known>"


@pytest.mark.parametrize("status", [200, 204, 301])
def test_a_healthy_answer_is_no_problem(status):
    assert preflight_problem({"status": status, "msg": "OK"}, "health", URL) == ""


def test_nothing_answering_says_to_start_the_target():
    text = preflight_problem({"status": -1, "msg": REFUSED}, "health", URL)
    assert "did not answer ([Errno 111] Connection refused)" in text
    assert "start the target or correct scenario_run_base_url" in text


def test_a_name_that_does_not_resolve_says_so():
    text = preflight_problem({"status": -1, "msg": NO_NAME}, "health", "http://backend-dev:8000/health/")
    assert text.startswith("the target's name backend-dev does not resolve from this load machine")
    assert "/etc/hosts" in text


def test_400_points_to_allowed_hosts_with_the_host_to_add():
    text = preflight_problem({"status": 400, "msg": "Status code was 400"}, "health", "http://backend-dev:8000/health/")
    assert "add backend-dev to the target's ALLOWED_HOSTS" in text


@pytest.mark.parametrize("status,words", [
    (500, "unhealthy before any load"), (503, "answered 503"), (404, "scenario_run_health_path"),
    (401, "without credentials"), (418, "instead of 200"),
])
def test_other_statuses_each_get_their_fix(status, words):
    assert words in preflight_problem({"status": status, "msg": ""}, "health", URL)


@pytest.mark.parametrize("status,words", [
    (204, ""), (-1, "did not accept a connection"), (404, "has no such database (404); create it"),
    (401, "K6_INFLUXDB_USERNAME"), (413, "max-body-size"), (500, "answered 500 to a test write"),
])
def test_influxdb_write_answers(status, words):
    text = preflight_problem({"status": status, "msg": REFUSED if status == -1 else ""}, "influxdb", "http://127.0.0.1:8086")
    assert (text == "") if not words else (words in text)


def test_every_problem_is_one_sentence_with_a_fix():
    for result in ({"status": -1, "msg": REFUSED}, {"status": -1, "msg": NO_NAME}, {"status": 400}, {"status": 502},
                   {"status": 404}):
        text = preflight_problem(result, "health", URL)
        assert text.endswith(".") and text.count(". ") == 0 and ";" in text, text


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        preflight_problem("nope", "health", URL)
    with pytest.raises(AnsibleFilterError):
        preflight_problem({"status": 200}, "grafana", URL)
