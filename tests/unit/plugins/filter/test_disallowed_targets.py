# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/disallowed_targets.py: the target allowlist."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.disallowed_targets import FilterModule, disallowed_targets

DEFAULT = ["127.0.0.0/8", "localhost", "::1"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8480", "http://127.3.4.5/x", "https://localhost", "http://LOCALHOST:3000/",
    "http://[::1]:8000/api", "http://localhost.:80",
])
def test_loopback_targets_pass_the_default_allowlist(url):
    assert disallowed_targets([url], DEFAULT) == []


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8000", "https://staging.example.net", "http://128.0.0.1", "http://[::2]/",
    "http://localhost.example.net", "ftp://127.0.0.1/", "127.0.0.1:8000", "http://", "not a url",
])
def test_anything_else_is_refused_by_the_default_allowlist(url):
    assert disallowed_targets([url], DEFAULT) == [url]


def test_names_wildcards_addresses_and_networks():
    allowed = ["staging.example.net", "*.perf.example.net", "10.20.0.0/16", "192.0.2.7"]
    urls = ["https://STAGING.example.net/api", "http://api.perf.example.net", "http://perf.example.net",
            "http://10.20.99.1:8000", "http://10.21.0.1", "http://192.0.2.7", "http://192.0.2.8",
            "http://evilstaging.example.net"]
    assert disallowed_targets(urls, allowed) == [
        "http://perf.example.net", "http://10.21.0.1", "http://192.0.2.8", "http://evilstaging.example.net"]


def test_names_are_not_resolved():
    # localhost resolves to 127.0.0.1, but only what is written in the URL counts.
    assert disallowed_targets(["http://localhost:1"], ["127.0.0.0/8"]) == ["http://localhost:1"]


def test_empty_urls_are_skipped_and_order_is_kept():
    assert disallowed_targets(["", "http://b.example", None, "http://a.example"], DEFAULT) == [
        "http://b.example", "http://a.example"]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", ""])
def test_a_broken_allowlist_entry_is_an_error(entry):
    with pytest.raises(AnsibleFilterError):
        disallowed_targets(["http://127.0.0.1"], [entry])


def test_allowed_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        disallowed_targets(["http://127.0.0.1"], "127.0.0.1")


def test_filter_is_registered():
    assert FilterModule().filters()["disallowed_targets"] is disallowed_targets
