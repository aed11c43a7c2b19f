# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/safety_refusals.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.safety_refusals import safety_refusals

LOCAL = ["127.0.0.0/8", "localhost", "::1"]
HEAVY = ["stress", "spike"]


def test_allowed_targets_and_a_light_scenario_are_no_refusal():
    assert safety_refusals(["http://127.0.0.1:8480", "http://localhost:8480"], LOCAL, scenario="smoke",
                           heavy_scenarios=HEAVY) == []


def test_a_target_outside_the_allowlist_is_refused_once():
    refusals = safety_refusals(["http://10.1.2.3:8000", "http://10.1.2.3:8000"], ["10.0.0.0/16", "localhost"], prefix="lg1: ")
    assert refusals == ["lg1: refusing to send load to http://10.1.2.3:8000 because its host is not in "
                        "scenario_run_allowed_targets (10.0.0.0/16, localhost); add the host to "
                        "scenario_run_allowed_targets in the inventory if it may receive load."]


def test_a_heavy_scenario_needs_a_dedicated_machine_or_force():
    refusals = safety_refusals(["http://127.0.0.1"], LOCAL, scenario="stress", heavy_scenarios=HEAVY, prefix="lg1: ")
    assert refusals == ["lg1: refusing to run stress here because this host is not marked as a dedicated load machine; "
                        "set loadops_dedicated_load_machine: true for it in the inventory, or scenario_run_force: true "
                        "to accept that it may become unresponsive."]
    assert safety_refusals(["http://127.0.0.1"], LOCAL, scenario="stress", heavy_scenarios=HEAVY, dedicated=True) == []
    assert safety_refusals(["http://127.0.0.1"], LOCAL, scenario="spike", heavy_scenarios=HEAVY, force=True) == []


def test_targets_come_before_the_machine():
    refusals = safety_refusals(["http://staging.example.net"], LOCAL, scenario="spike", heavy_scenarios=HEAVY)
    assert [r.split(" ")[2] for r in refusals] == ["send", "run"]


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        safety_refusals({"url": "http://127.0.0.1"}, LOCAL)
    with pytest.raises(AnsibleFilterError):
        safety_refusals(["http://127.0.0.1"], "localhost")


# --- items of loadops.k6.effective_targets (issue 11) ---------------------------------------------

def test_target_items_name_the_keys_k6_gets_them_as():
    items = [{"url": "https://prod.example.com/api", "keys": ["K6_BASE_URL"]},
             {"url": "https://prod.example.com", "keys": ["K6_FRONTEND_URL"]},
             {"url": "http://127.0.0.1:8480", "keys": ["K6_AUTH_URL"]}]
    assert safety_refusals(items, ["127.0.0.1"]) == [
        "refusing to send load to https://prod.example.com because its host is not in scenario_run_allowed_targets "
        "(127.0.0.1); k6 would get it as K6_BASE_URL, K6_FRONTEND_URL; add the host to scenario_run_allowed_targets "
        "in the inventory if it may receive load."]


def test_a_refusal_shows_the_origin_only_never_credentials_path_or_query():
    items = [{"url": "https://user:s3cret@hooks.example.com:8443/T0/B1/tok3n?k=v", "keys": ["K6_WEBHOOK_URL"]}]
    refusal = safety_refusals(items, LOCAL)[0]
    assert "refusing to send load to https://hooks.example.com:8443 because" in refusal
    for secret in ("s3cret", "user", "tok3n", "k=v"):
        assert secret not in refusal


def test_a_target_key_that_is_not_a_url_is_refused_saying_so():
    refusal = safety_refusals([{"url": "prod.example.net:443", "keys": ["K6_BASE_URL"]}], LOCAL)
    assert refusal == ["refusing K6_BASE_URL=prod.example.net:443 because it is not an http:// or https:// URL with "
                       "a host, so its host cannot be checked against scenario_run_allowed_targets (127.0.0.0/8, "
                       "localhost, ::1); set it to the target's full URL, e.g. https://staging.example.net."]


def test_allowed_items_are_no_refusal_and_an_item_needs_a_url():
    assert safety_refusals([{"url": "http://[::1]:8480", "keys": ["K6_BASE_URL"]}], LOCAL) == []
    with pytest.raises(AnsibleFilterError):
        safety_refusals([{"keys": ["K6_BASE_URL"]}], LOCAL)
