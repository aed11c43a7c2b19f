# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/lookup/legacy_env.py: the old setup's .env mapped onto scenario_run."""

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.loadops.k6.plugins.lookup.legacy_env import LookupModule

# The complete .env of the old README's configuration section, in its own layout (comments,
# inline comments, a placeholder token replaced by a real-looking one).
FULL = """\
# Test user credentials
K6_TEST_USER_EMAIL=test@example.com
K6_TEST_USER_PASSWORD=testpassword123

# Target URLs
K6_BASE_URL=http://localhost:8000
K6_FRONTEND_URL=http://localhost:3000

# InfluxDB settings
INFLUXDB_URL=http://localhost:8086
INFLUXDB_ORG=k6
INFLUXDB_BUCKET=k6
INFLUXDB_TOKEN=tok-123

K6_DOCKER_NETWORK=mediajira_default  # Default: mediajira_default
K6_USE_SERVICE_NAMES=true             # Default: true
K6_USE_CUSTOM_IMAGE=false             # Set to true to use custom k6-influxdb image
K6_ABORT_ON_FAIL=false                # Set to true to abort test on threshold failure
K6_VERBOSE=true
K6_DOCKER_MEMORY=2g                   # Memory limit
K6_DOCKER_CPUS=2                      # CPU limit
"""


def _run(tmp_path, text, **kwargs):
    path = tmp_path / ".env"
    path.write_text(text)
    warnings = []
    lookup = LookupModule()
    import ansible_collections.loadops.k6.plugins.lookup.legacy_env as plugin
    original = plugin.display.warning
    plugin.display.warning = warnings.append
    try:
        return lookup.run([[str(tmp_path / "missing.env"), str(path)]], variables={}, **kwargs)[0], warnings
    finally:
        plugin.display.warning = original


def test_the_old_readmes_env_maps_onto_scenario_run(tmp_path):
    result, warnings = _run(tmp_path, FULL)
    assert result["source"] == str(tmp_path / ".env")
    assert result["vars"] == {
        "scenario_run_base_url": "http://localhost:8000",
        "scenario_run_frontend_url": "http://localhost:3000",
        "scenario_run_influxdb_url": "http://localhost:8086/k6",
        "scenario_run_memory_limit": "2g",
        "scenario_run_cpu_limit": "2",
        "scenario_run_abort_on_fail": False,
    }
    assert result["script_env"] == {
        "K6_TEST_USER_EMAIL": "test@example.com", "K6_TEST_USER_PASSWORD": "testpassword123",
        "K6_VERBOSE": "true", "K6_INFLUXDB_USERNAME": "k6", "K6_INFLUXDB_PASSWORD": "tok-123"}
    assert len(warnings) == 2 and all("has no effect" in w for w in warnings)
    assert "K6_DOCKER_NETWORK" in warnings[0] and "K6_USE_SERVICE_NAMES" in warnings[1]


def test_custom_image_selects_the_docker_runner(tmp_path):
    result, _w = _run(tmp_path, "K6_USE_CUSTOM_IMAGE=YES\n")
    assert result["vars"] == {"scenario_run_runner": "docker"}


def test_an_unknown_key_is_a_warning_naming_it_and_its_line(tmp_path):
    result, warnings = _run(tmp_path, "K6_BASE_URL=http://127.0.0.1:8000\nALLOWED_HOSTS=localhost,backend-dev\n")
    assert result["vars"] == {"scenario_run_base_url": "http://127.0.0.1:8000"}
    assert len(warnings) == 1 and "line 2: unknown key ALLOWED_HOSTS is ignored" in warnings[0]


def test_empty_values_count_as_unset(tmp_path):
    result, warnings = _run(tmp_path, "K6_DOCKER_MEMORY=\nK6_DOCKER_CPUS\n")
    assert result["vars"] == {} and warnings == []


@pytest.mark.parametrize("line,message", [
    ("K6_DOCKER_CPUS=abc", "line 1: K6_DOCKER_CPUS=abc is not a number of CPUs"),
    ("K6_DOCKER_CPUS=0", "K6_DOCKER_CPUS=0 must be a number of CPUs greater than 0"),
    ("K6_ABORT_ON_FAIL=maybe", "K6_ABORT_ON_FAIL=maybe is not a boolean; use true or false"),
    ("K6_VERBOSE=2", "K6_VERBOSE=2 is not a boolean"),
    ("K6_DOCKER_MEMORY=two gigs", "K6_DOCKER_MEMORY=two gigs is not a memory size"),
    ("K6_BASE_URL=backend-dev:8000", "K6_BASE_URL=backend-dev:8000 is not an http:// or https:// URL"),
    ("K6_FRONTEND_URL=http://host:port", "K6_FRONTEND_URL=http://host:port is not an http:// or https:// URL"),
    ("INFLUXDB_URL=http://localhost:8086/k6", "INFLUXDB_URL=http://localhost:8086/k6 must be the server address without a path"),
    ("INFLUXDB_BUCKET=k6/autogen", "INFLUXDB_BUCKET=k6/autogen may only hold"),
    ("K6_TEST_USER_EMAIL=nobody", "K6_TEST_USER_EMAIL=nobody is not an email address"),
    ("INFLUXDB_TOKEN=<generate-token-using-command-above>", "INFLUXDB_TOKEN is still a placeholder"),
    ("THIS IS NOT A LINE", "line 1 cannot be parsed"),
])
def test_a_malformed_value_is_an_error_naming_the_key(tmp_path, line, message):
    with pytest.raises(AnsibleLookupError) as err:
        _run(tmp_path, line + "\n")
    assert message in str(err.value) and str(tmp_path / ".env") in str(err.value)


def test_secret_values_never_appear_in_errors(tmp_path):
    with pytest.raises(AnsibleLookupError) as err:
        _run(tmp_path, "INFLUXDB_TOKEN=<hunter2-secret>\n")
    assert "hunter2" not in str(err.value)


def test_no_file_means_no_settings_unless_one_was_named(tmp_path):
    lookup = LookupModule()
    assert lookup.run([[str(tmp_path / "a.env"), ""]], variables={})[0] == {
        "source": None, "vars": {}, "script_env": {}, "keys": []}
    with pytest.raises(AnsibleLookupError, match="does not exist"):
        lookup.run([str(tmp_path / "a.env")], variables={}, required=True)
