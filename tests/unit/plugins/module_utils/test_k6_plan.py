# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/k6_plan.py: validate(params) -> Plan, or a RunError that
names the bad value and what is allowed. validate is pure: no test here needs a file."""

import builtins
import datetime
import os

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_plan
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import RunError, validate

NOW = datetime.datetime(2026, 12, 1, 12, 34, 56, tzinfo=datetime.timezone.utc)


class FirstChoice(object):
    """A `random` stand-in: always the first candidate."""

    def choice(self, seq):
        return seq[0]


def params(**over):
    base = {"script": "/srv/load/checkout.js", "results_dir": "/var/lib/loadops/results"}
    base.update(over)
    return base


# ------------------------------------------------------------------------------ good params
def test_defaults_give_an_auto_plan_without_limits():
    plan = validate(params(tags={"testid": "t1"}))
    assert plan.script == "/srv/load/checkout.js"
    assert plan.script_given == "/srv/load/checkout.js"
    assert plan.runner == "auto"
    assert plan.limiter == "auto"
    assert plan.k6_path is None
    assert plan.image == k6_plan.DEFAULT_IMAGE
    assert plan.memory_limit is None and plan.cpu_limit is None
    assert plan.timeout is None
    assert plan.api_address == ""
    assert plan.fail_on_thresholds is True
    assert plan.html_report is True
    assert plan.summary_trend_stats == list(k6_plan.DEFAULT_TREND_STATS)
    assert plan.execution_segment is None and plan.execution_segment_sequence is None
    assert plan.env == {} and plan.outputs == []
    assert plan.secrets == frozenset()
    assert plan.check_mode is False


def test_relative_script_becomes_absolute_and_keeps_the_given_form_for_messages():
    plan = validate(params(script="scripts/smoke.js", tags={"testid": "t1"}))
    assert plan.script == os.path.abspath("scripts/smoke.js")
    assert plan.script_given == "scripts/smoke.js"


def test_testid_from_tags_names_the_run_dir_and_stays_a_tag():
    plan = validate(params(tags={"testid": "release-42.a_b", "team": "shop"}))
    assert plan.testid == "release-42.a_b"
    assert plan.tags == {"testid": "release-42.a_b", "team": "shop"}
    assert plan.run_dir == os.path.join("/var/lib/loadops/results", "release-42.a_b")


def test_testid_is_generated_from_script_name_clock_and_random_when_not_tagged():
    plan = validate(params(script="/srv/load/my load.test.js", tags={"team": "shop"}), now=NOW, rand=FirstChoice())
    assert plan.testid == "my-load-test-20261201T123456Z-aaaa"
    assert plan.tags == {"team": "shop", "testid": "my-load-test-20261201T123456Z-aaaa"}
    assert plan.run_dir == os.path.join("/var/lib/loadops/results", plan.testid)


def test_generated_testid_differs_with_the_random_source():
    import random
    one = validate(params(), now=NOW, rand=random.Random(1)).testid
    two = validate(params(), now=NOW, rand=random.Random(2)).testid
    assert one.startswith("checkout-20261201T123456Z-") and two.startswith("checkout-20261201T123456Z-")
    assert one != two


def test_generated_testid_for_a_script_name_without_usable_chars_is_run():
    assert validate(params(script="/srv/+++.js"), now=NOW, rand=FirstChoice()).testid == "run-20261201T123456Z-aaaa"


def test_abort_on_fail_adds_k6_abort_on_fail_to_the_env():
    plan = validate(params(env={"BASE_URL": "http://t"}, abort_on_fail=True, tags={"testid": "t"}))
    assert plan.env == {"BASE_URL": "http://t", "K6_ABORT_ON_FAIL": "true"}
    assert "K6_ABORT_ON_FAIL" not in validate(params(env={}, abort_on_fail=False, tags={"testid": "t"})).env


def test_user_env_dict_is_not_mutated_by_abort_on_fail():
    env = {"BASE_URL": "http://t"}
    validate(params(env=env, abort_on_fail=True, tags={"testid": "t"}))
    assert env == {"BASE_URL": "http://t"}


def test_secrets_are_found_in_secret_looking_env_names_and_output_urls():
    plan = validate(params(env={"API_TOKEN": "tok-123", "DB_PASSWORD": "pw-env", "BASE_URL": "http://t"},
                           outputs=["influxdb=http://k6:pw-url@127.0.0.1:8086/k6", "json=out.json"],
                           tags={"testid": "t"}))
    assert plan.secrets == frozenset({"tok-123", "pw-env", "pw-url"})


@pytest.mark.parametrize("memory, cpus, expected", [
    ("512m", "1.5", (512 * 1024 ** 2, 1.5)),
    ("2g", 2, (2 * 1024 ** 3, 2.0)),
    (64 * 1024 ** 2, "0.25", (64 * 1024 ** 2, 0.25)),
    ("", "", (None, None)),
    (None, None, (None, None)),
])
def test_limits_are_parsed_into_bytes_and_cpus(memory, cpus, expected):
    plan = validate(params(memory_limit=memory, cpu_limit=cpus, tags={"testid": "t"}))
    assert (plan.memory_limit, plan.cpu_limit) == expected


def test_limiter_none_without_limits_is_accepted():
    assert validate(params(limiter="none", memory_limit="", tags={"testid": "t"})).limiter == "none"


@pytest.mark.parametrize("value, seconds", [(30, 30.0), ("1.5", 1.5), (0.001, 0.001), (None, None)])
def test_timeout_is_seconds_as_float(value, seconds):
    assert validate(params(timeout=value, tags={"testid": "t"})).timeout == seconds


@pytest.mark.parametrize("address", ["", None, "127.0.0.1:0", ":6565", "[::1]:6565", "localhost:65535"])
def test_api_address_accepted(address):
    assert validate(params(api_address=address, tags={"testid": "t"})).api_address == (address or "")


def test_segment_with_its_sequence_is_accepted():
    plan = validate(params(execution_segment="1/3:2/3", execution_segment_sequence="0,1/3,2/3,1", tags={"testid": "t"}))
    assert (plan.execution_segment, plan.execution_segment_sequence) == ("1/3:2/3", "0,1/3,2/3,1")


def test_percent_and_decimal_segments_are_accepted():
    validate(params(execution_segment="50%:1", execution_segment_sequence="0,0.5,1", tags={"testid": "t"}))


def test_fail_on_thresholds_false_and_html_report_false_are_kept():
    plan = validate(params(fail_on_thresholds=False, html_report=False, tags={"testid": "t"}))
    assert plan.fail_on_thresholds is False and plan.html_report is False


def test_check_mode_is_recorded_in_the_plan():
    assert validate(params(tags={"testid": "t"}), check_mode=True).check_mode is True


def test_explicit_runner_image_and_k6_path_are_kept():
    plan = validate(params(runner="binary", k6_path="/opt/k6/k6", tags={"testid": "t"}))
    assert (plan.runner, plan.k6_path) == ("binary", "/opt/k6/k6")
    assert validate(params(runner="docker", image="grafana/k6:1.1.0", tags={"testid": "t"})).image == "grafana/k6:1.1.0"


# ------------------------------------------------------------------------------ bad params
def seg(segment, sequence):
    return dict(execution_segment=segment, execution_segment_sequence=sequence)


# (params, substrings the message must contain: the bad value and what is allowed)
BAD = {
    "runner": (dict(runner="podman"), ["'podman'", "auto, binary, docker"]),
    "limiter": (dict(limiter="cgroup3"), ["'cgroup3'", "auto", "cgroup", "systemd", "none"]),
    "limiter_none_with_memory": (dict(limiter="none", memory_limit="512m"),
                                 ["limiter=none", "memory_limit", "limiter=auto"]),
    "limiter_none_with_cpu": (dict(limiter="none", cpu_limit="1"), ["limiter=none", "cpu_limit"]),
    "memory_not_a_size": (dict(memory_limit="lots"), ["memory_limit 'lots'", "512m"]),
    "memory_too_small": (dict(memory_limit="1m"), ["memory_limit '1m'", "32m"]),
    "memory_bool": (dict(memory_limit=True), ["memory_limit True", "suffix"]),
    "cpu_not_a_number": (dict(cpu_limit="two"), ["cpu_limit 'two'", "0.5"]),
    "cpu_zero": (dict(cpu_limit="0"), ["cpu_limit '0'", "positive"]),
    "cpu_negative": (dict(cpu_limit=-1), ["cpu_limit -1", "positive"]),
    "cpu_nan": (dict(cpu_limit="nan"), ["cpu_limit 'nan'", "0.5, 1 or 1.5"]),
    "cpu_inf": (dict(cpu_limit="inf"), ["cpu_limit 'inf'", "0.5, 1 or 1.5"]),
    "cpu_underscore": (dict(cpu_limit="1_0"), ["cpu_limit '1_0'", "0.5, 1 or 1.5"]),
    "cpu_exponent": (dict(cpu_limit="1e3"), ["cpu_limit '1e3'"]),
    "memory_400_digits": (dict(memory_limit="9" * 400), ["memory_limit", "not a size"]),
    "memory_over_a_pebibyte": (dict(memory_limit="2000t"), ["memory_limit '2000t'", "larger than 1 PiB"]),
    "memory_inf_number": (dict(memory_limit=float("inf")), ["memory_limit inf", "not a size"]),
    "lease_ttl_too_short": (dict(lease_ttl=0.5), ["lease_ttl 0.5", "at least 2"]),
    "lease_ttl_nan": (dict(lease_ttl=float("nan")), ["lease_ttl nan", "finite"]),
    "env_and_secret_env": (dict(env={"K6_PASS": "a"}, secret_env={"K6_PASS": "b"}), ["K6_PASS", "both env and secret_env"]),
    "secret_env_bad_name": (dict(secret_env={"1X": "b"}), ["'1X'", "environment variable name"]),
    "file_output_outside_run_dir": (dict(outputs=["json=/etc/cron.d/x"]), ["json=/etc/cron.d/x", "outside the run's results directory"]),
    "cpu_tiny": (dict(cpu_limit="0.001"), ["cpu_limit '0.001'", "0.01"]),
    "timeout_zero": (dict(timeout=0), ["timeout 0", "positive, finite"]),
    "timeout_negative": (dict(timeout=-1), ["timeout -1", "positive, finite"]),
    "timeout_nan": (dict(timeout=float("nan")), ["timeout nan", "positive, finite"]),
    "timeout_inf": (dict(timeout=float("inf")), ["timeout inf", "positive, finite"]),
    "timeout_nan_text": (dict(timeout="nan"), ["timeout 'nan'", "positive, finite"]),
    "timeout_text": (dict(timeout="abc"), ["timeout 'abc'", "number of seconds"]),
    "tag_name_space": (dict(tags={"my tag": "x"}), ["tag name 'my tag'", "letters, digits"]),
    "tag_name_digit_first": (dict(tags={"1st": "x"}), ["tag name '1st'"]),
    "testid_slash": (dict(tags={"testid": "../etc"}), ["testid '../etc'", "letters, digits, '_', '.' and '-'"]),
    "testid_space": (dict(tags={"testid": "a b"}), ["testid 'a b'"]),
    "env_name_dash": (dict(env={"BASE-URL": "x"}), ["env name 'BASE-URL'", "environment variable name"]),
    "env_name_digit_first": (dict(env={"1X": "x"}), ["env name '1X'"]),
    "output_uppercase": (dict(outputs=["InfluxDB=http://h/db"]), ["'InfluxDB=http://h/db'", "TYPE=ARG"]),
    "output_empty": (dict(outputs=[""]), ["''", "TYPE or TYPE=ARG"]),
    "output_not_text": (dict(outputs=[{"influxdb": "x"}]), ["{'influxdb': 'x'}", "TYPE=ARG"]),
    "output_unknown_type": (dict(outputs=["influx=http://h/db"]),
                            ["influx=http://h/db", "output type influx", "not an output of k6 1.1.0",
                             "experimental-prometheus-rw"]),
    "output_removed_statsd": (dict(outputs=["statsd"]), ["output type statsd", "removed in k6 v0.55.0"]),
    "output_web_dashboard": (dict(outputs=["web-dashboard"]), ["output type web-dashboard", "html_report"]),
    "output_bare_xk6_prefix": (dict(outputs=["xk6-=x"]), ["output type xk6-", "xk6-..."]),
    "output_unknown_masks_password": (dict(outputs=["influx=http://u:pw-secret@h/db"]),
                                      ["influx=http://u:********@h/db", "output type influx"]),
    "file_output_relative_escape": (dict(outputs=["json=../other/x.json"]),
                                    ["json=../other/x.json", "outside the run's results directory"]),
    "segment_without_sequence": (dict(execution_segment="0:1/3"), ["'0:1/3'", "execution_segment_sequence"]),
    "sequence_without_segment": (dict(execution_segment_sequence="0,1/2,1"), ["execution_segment_sequence is set"]),
    "segment_without_colon": (seg("1/3", "0,1/3,1"), ["'1/3'", "START:END"]),
    "segment_backwards": (seg("2/3:1/3", "0,1/3,2/3,1"), ["'2/3:1/3'", "0 <= start < end <= 1"]),
    "segment_not_a_fraction": (seg("a:1", "0,1"), ["'a'", "0, 1/3, 0.5 or 50%"]),
    "segment_off_the_sequence": (seg("0:1/4", "0,1/3,2/3,1"), ["'0:1/4'", "'0,1/3,2/3,1'"]),
    "sequence_not_rising": (seg("0:1/2", "0,2/3,1/2,1"), ["'0,2/3,1/2,1'", "rise from 0 to 1"]),
    "sequence_zero_denominator": (seg("0:1", "0,1/0,1"), ["'1/0'", "fraction"]),
    "api_address_word": (dict(api_address="bogus"), ["'bogus'", "HOST:PORT", "0-65535", "''"]),
    "api_address_port_too_big": (dict(api_address="127.0.0.1:99999"), ["'127.0.0.1:99999'", "0-65535"]),
    "api_address_no_port": (dict(api_address="1.2.3.4"), ["'1.2.3.4'", "HOST:PORT"]),
    "k6_path_with_docker": (dict(runner="docker", k6_path="/usr/local/bin/k6"),
                            ["k6_path /usr/local/bin/k6", "runner=binary", k6_plan.DEFAULT_IMAGE]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_params_raise_run_error_naming_value_and_what_is_allowed(case):
    over, needles = BAD[case]
    over.setdefault("tags", {"testid": "t"})
    with pytest.raises(RunError) as err:
        validate(params(**over))
    for needle in needles:
        assert needle in str(err.value), (case, str(err.value))


def test_k6_path_with_docker_names_the_image_asked_for():
    with pytest.raises(RunError, match="image grafana/k6:1.1.0"):
        validate(params(runner="docker", k6_path="/k6", image="grafana/k6:1.1.0", tags={"testid": "t"}))


@pytest.mark.parametrize("testid", [".", ".."])
def test_testid_that_names_no_directory_of_its_own_is_refused(testid):
    with pytest.raises(RunError, match="testid"):
        validate(params(tags={"testid": testid}), check_mode=True)


# ------------------------------------------------------------------------------ purity
def test_validate_creates_nothing_on_disk(tmp_path):
    results = tmp_path / "results"
    plan = validate(params(script=str(tmp_path / "missing.js"), results_dir=str(results),
                           tags={"testid": "t1"}, memory_limit="512m", cpu_limit="1"))
    assert plan.run_dir == str(results / "t1")
    assert not results.exists()
    assert list(tmp_path.iterdir()) == []


def test_validate_opens_creates_and_removes_no_file(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("validate touched the filesystem: %r" % (args,))

    for name in ("makedirs", "mkdir", "remove", "unlink", "rmdir", "rename"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    plan = validate(params(results_dir=str(tmp_path / "r"), env={"API_TOKEN": "x"}, abort_on_fail=True,
                           outputs=["influxdb=http://u:p@h:8086/k6"], memory_limit="1g", cpu_limit="2",
                           execution_segment="0:1/2", execution_segment_sequence="0,1/2,1",
                           api_address="127.0.0.1:6565", timeout=60), now=NOW, rand=FirstChoice())
    assert plan.testid == "checkout-20261201T123456Z-aaaa"


# ------------------------------------------------------------------------------ fleet: thresholds judged globally
def test_thresholds_are_local_and_nothing_is_written_live_by_default():
    plan = validate(params(tags={"testid": "t1"}))
    assert plan.local_thresholds is True and plan.live_interval == 0 and plan.live_metrics is None


def test_a_fleet_machine_judges_no_threshold_itself_and_writes_its_samples_so_far():
    plan = validate(params(tags={"testid": "t1"}, local_thresholds=False, live_interval=2.5,
                           live_metrics=["http_reqs", "iterations"]))
    assert plan.local_thresholds is False and plan.live_interval == 2.5
    assert plan.live_metrics == frozenset(["http_reqs", "iterations"])


@pytest.mark.parametrize("over, message", [
    ({"local_thresholds": False, "samples": "off"}, "local_thresholds=false .* samples=off keeps none"),
    ({"live_interval": 2, "samples": "off"}, "live_interval=2 .* samples=off keeps none"),
    ({"live_interval": -1}, "live_interval -1 must be 0"),
    ({"live_interval": float("inf")}, "live_interval inf must be 0"),
    ({"live_interval": "often"}, "live_interval 'often' is not a number"),
    ({"live_metrics": "http_reqs"}, "live_metrics 'http_reqs' must be a list"),
])
def test_bad_fleet_judging_options_are_named(over, message):
    with pytest.raises(RunError, match=message):
        validate(params(tags={"testid": "t1"}, **over))


@pytest.mark.parametrize("output", ["json=samples.json", "csv=samples.csv.gz", "influxdb=http://127.0.0.1:8086/k6",
                                    "experimental-prometheus-rw", "experimental-opentelemetry", "cloud",
                                    "xk6-influxdb=http://127.0.0.1:8086"])
def test_every_output_type_of_k6_1_1_0_and_xk6_extensions_is_accepted(output):
    assert validate(params(outputs=[output], tags={"testid": "t"})).outputs == [output]
