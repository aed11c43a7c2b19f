# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/proxy_env.py: one proxy environment for the health probe and k6."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.proxy_env import proxy_env


def test_nothing_set_gives_no_environment_so_the_load_machine_own_applies():
    assert proxy_env({}) == {}
    assert proxy_env(None, {"K6_BASE_URL": "https://x"}) == {}
    assert proxy_env({"http_proxy": "", "no_proxy": None}, {}, shown=True) == ""


def test_each_setting_reaches_both_cases_and_loopback_is_never_proxied():
    env = proxy_env({"https_proxy": "http://proxy.example.net:3128", "no_proxy": ".corp.example, 10.0.0.0/8"})
    assert env == {
        "HTTPS_PROXY": "http://proxy.example.net:3128", "https_proxy": "http://proxy.example.net:3128",
        "NO_PROXY": ".corp.example,10.0.0.0/8,localhost,127.0.0.1,::1",
        "no_proxy": ".corp.example,10.0.0.0/8,localhost,127.0.0.1,::1"}


def test_loopback_entries_already_in_no_proxy_are_not_repeated():
    env = proxy_env({"http_proxy": "http://p:3128", "no_proxy": "localhost,127.0.0.1"})
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1"


def test_proxy_variables_of_scenario_run_env_count_and_scenario_run_proxy_wins():
    env = proxy_env({"https_proxy": "http://chosen:3128"},
                    {"HTTPS_PROXY": "http://upper:3128", "http_proxy": "http://lower:8080", "K6_BASE_URL": "https://t"})
    assert env["https_proxy"] == env["HTTPS_PROXY"] == "http://chosen:3128"
    assert env["http_proxy"] == env["HTTP_PROXY"] == "http://lower:8080"
    assert "K6_BASE_URL" not in env
    # In scenario_run_env the upper-case name wins, as in k6.
    assert proxy_env({}, {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2"})["http_proxy"] == "http://upper:1"


def test_the_shown_line_masks_a_proxy_password():
    line = proxy_env({"https_proxy": "http://load:s3cret@proxy:3128"}, shown=True)
    assert line == "https_proxy=http://load:********@proxy:3128; no_proxy=localhost,127.0.0.1,::1"


@pytest.mark.parametrize("value", ["proxy.example.net:3128", "socks5://proxy:1080", "http://", "http://p:99999"])
def test_a_proxy_that_is_not_an_http_url_is_refused_by_name(value):
    with pytest.raises(AnsibleFilterError) as err:
        proxy_env({"https_proxy": value})
    assert "proxy https_proxy %r is not a proxy URL" % value in str(err.value)
    assert "http://HOST:PORT" in str(err.value)


def test_a_password_in_a_refused_proxy_url_is_not_repeated():
    with pytest.raises(AnsibleFilterError) as err:
        proxy_env({"http_proxy": "ftp://u:hunter2@p:21"})
    assert "hunter2" not in str(err.value)


def test_unknown_keys_are_refused_with_the_allowed_ones():
    with pytest.raises(AnsibleFilterError, match="scenario_run_proxy has HTTPS_PROXY, all_proxy; the keys are "
                                                 "http_proxy, https_proxy, no_proxy"):
        proxy_env({"HTTPS_PROXY": "http://p:1", "all_proxy": "x"})
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        proxy_env("http://p:3128")
