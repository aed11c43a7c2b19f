# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/effective_targets.py: which URLs k6 will be given."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.effective_targets import effective_targets
from ansible_collections.loadops.k6.plugins.filter.safety_refusals import safety_refusals


def test_base_and_frontend_come_first_and_one_url_is_listed_once_with_its_keys():
    env = {"K6_TIME_SCALE": "0.1", "K6_FRONTEND_URL": "http://127.0.0.1:8480", "K6_BASE_URL": "http://127.0.0.1:8480"}
    assert effective_targets(env) == [{"url": "http://127.0.0.1:8480", "keys": ["K6_BASE_URL", "K6_FRONTEND_URL"]}]


def test_any_other_value_that_is_an_http_url_is_a_target():
    env = {"K6_BASE_URL": "http://127.0.0.1:8480", "K6_FRONTEND_URL": "https://app.example.net",
           "K6_AUTH_URL": " HTTPS://sso.example.net/login ", "API_ROOT": "http://10.0.0.5:8000/v1",
           "K6_TEST_USER_EMAIL": "demo@example.com", "K6_HTTP_TIMEOUT": "30s", "NOTE": "see http://x.example"}
    assert effective_targets(env) == [
        {"url": "http://127.0.0.1:8480", "keys": ["K6_BASE_URL"]},
        {"url": "https://app.example.net", "keys": ["K6_FRONTEND_URL"]},
        {"url": "HTTPS://sso.example.net/login", "keys": ["K6_AUTH_URL"]},
        {"url": "http://10.0.0.5:8000/v1", "keys": ["API_ROOT"]},
    ]


def test_k6_output_settings_are_where_metrics_go_not_targets():
    env = {"K6_BASE_URL": "http://127.0.0.1", "K6_PROMETHEUS_RW_SERVER_URL": "http://prom.example.net:9090/api/v1/write",
           "K6_INFLUXDB_ADDR": "http://influx.example.net:8086", "K6_CLOUD_HOST": "https://ingest.k6.io",
           "K6_WEB_DASHBOARD_EXPORT": "/tmp/report.html"}
    assert effective_targets(env) == [{"url": "http://127.0.0.1", "keys": ["K6_BASE_URL"]}]
    assert effective_targets(env, output_prefixes=[])[1]["keys"] == ["K6_PROMETHEUS_RW_SERVER_URL"]


def test_the_target_keys_are_targets_whatever_they_hold_and_empty_values_are_skipped():
    assert effective_targets({"K6_BASE_URL": "prod.example.net:443", "K6_FRONTEND_URL": ""}) == [
        {"url": "prod.example.net:443", "keys": ["K6_BASE_URL"]}]
    assert effective_targets({"K6_FRONTEND_URL": None}) == []
    assert effective_targets({}) == []


def test_a_url_put_in_by_scenario_run_env_is_refused_by_the_allowlist():
    # The bypass of issue 11: scenario_run_env's K6_BASE_URL replaces the inventory's allowed one.
    env = {"K6_BASE_URL": "https://prod.example.com", "K6_FRONTEND_URL": "http://127.0.0.1:8480"}
    refusals = safety_refusals(effective_targets(env), ["127.0.0.1"], prefix="lg1: ")
    assert refusals == ["lg1: refusing to send load to https://prod.example.com because its host is not in "
                        "scenario_run_allowed_targets (127.0.0.1); k6 would get it as K6_BASE_URL; add the host to "
                        "scenario_run_allowed_targets in the inventory if it may receive load."]


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        effective_targets(["http://127.0.0.1"])
