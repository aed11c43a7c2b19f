# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/grafana_run_link.py and plugins/filter/dashboard_pointer.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.dashboard_pointer import dashboard_pointer
from ansible_collections.loadops.k6.plugins.filter.grafana_run_link import grafana_run_link


def test_the_link_selects_the_run_with_a_minute_either_side_in_milliseconds():
    link = grafana_run_link("http://127.0.0.1:3000/", "loadops-k6", "smoke-20261201T100000Z-42", "1796120000.25", 1796120030.5)
    assert link == ("http://127.0.0.1:3000/d/loadops-k6?orgId=1&var-testid=smoke-20261201T100000Z-42"
                    "&from=1796119940250&to=1796120090500")


def test_the_run_id_is_url_encoded_and_no_grafana_is_no_link():
    assert "var-testid=a%20b%26c&" in grafana_run_link("http://g", "u", "a b&c", 0, 1)
    assert grafana_run_link("", "loadops-k6", "x", 0, 1) == ""
    with pytest.raises(AnsibleFilterError):
        grafana_run_link("http://g", "u", "x", "soon", 1)


def test_the_pointer_gives_the_link_or_the_html_report():
    assert dashboard_pointer({"grafana_url": "http://g/d/u?x=1"}, report="/r/lg1/report.html") == "Grafana: http://g/d/u?x=1"
    text = dashboard_pointer({"grafana_url": ""}, report="/r/lg1/report.html")
    assert text.startswith("No Grafana link (scenario_run_grafana_url is empty;")
    assert text.endswith("open the HTML report instead: /r/lg1/report.html")
    with pytest.raises(AnsibleFilterError):
        dashboard_pointer("http://g", report="/r")
