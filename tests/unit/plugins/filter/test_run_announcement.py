# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/run_announcement.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.run_announcement import run_announcement

REQ = {"max_vus": 10, "total_duration_s": 18.4, "memory_estimate_bytes": 41943040 + 1000}
RUN = {"scenario": "stress", "run_id": "stress-1", "host": "lg1", "target": "http://127.0.0.1:8480"}


def test_it_says_what_is_about_to_happen():
    text = run_announcement(REQ, memory_limit="2g", cpu_limit=2, influxdb_url="http://k6_writer@127.0.0.1:8086/k6", **RUN)
    assert text == ("About to run stress (run stress-1) from lg1 against http://127.0.0.1:8480: peak 10 VUs, 0m 18s, "
                    "about 40 MiB of memory (limit 2g, CPUs 2), metrics to 127.0.0.1:8086.")


def test_defaults_say_none_and_nowhere_and_check_mode_says_would():
    text = run_announcement(REQ, check_mode=True, **RUN)
    assert text.startswith("Check mode: would run stress (run stress-1)")
    assert "(limit none, CPUs no limit), metrics to nowhere (no InfluxDB)." in text


@pytest.mark.parametrize("seconds,said", [(30, "0m 30s"), (840.0, "14m 0s"), (90.6, "1m 31s"), (0, "0m 0s")])
def test_the_duration_in_minutes_and_seconds(seconds, said):
    assert (", %s," % said) in run_announcement(dict(REQ, total_duration_s=seconds), **RUN)


def test_an_influxdb_without_a_port_names_only_its_host():
    assert run_announcement(REQ, influxdb_url="https://influx.example.net/k6", **RUN).endswith("metrics to influx.example.net.")


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        run_announcement(None, **RUN)
    with pytest.raises(AnsibleFilterError):
        run_announcement(dict(REQ, total_duration_s="long"), **RUN)
