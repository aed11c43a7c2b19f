"""k6 command lines, sizes, CPUs, durations and secret masking: table-driven."""
import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_command as c

MiB = 1024 ** 2


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 * MiB), ("2g", 2048 * MiB), ("2G", 2048 * MiB), ("1.5g", int(1.5 * 1024 * MiB)),
    ("64MiB", 64 * MiB), ("64mb", 64 * MiB), ("33554432", 32 * MiB), (1073741824, 1024 * MiB), ("1t", 1024 ** 4),
])
def test_parse_size_accepts_docker_style_sizes(text, expected):
    assert c.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "2x", "-1g", "1.2.3g", "g", True, "16m", "0"])
def test_parse_size_rejects_bad_or_tiny_sizes_naming_the_value(text):
    with pytest.raises(ValueError) as err:
        c.parse_size(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("text,expected", [("1", 1.0), ("1.5", 1.5), (2, 2.0), ("0.25", 0.25)])
def test_parse_cpus_accepts_positive_numbers(text, expected):
    assert c.parse_cpus(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", None, "nan", "inf", "0.001"])
def test_parse_cpus_rejects_zero_negative_and_junk_naming_the_value(text):
    with pytest.raises(ValueError) as err:
        c.parse_cpus(text)
    assert "cpu_limit" in str(err.value) and repr(text) in str(err.value)


@pytest.mark.parametrize("options,expected", [
    ({}, ["k6", "run", "s.js"]),
    ({"quiet": True, "address": ""}, ["k6", "run", "--quiet", "--address", "", "s.js"]),
    ({"tags": {"testid": "t1", "a": "b"}}, ["k6", "run", "--tag", "a=b", "--tag", "testid=t1", "s.js"]),
    ({"outputs": ["influxdb=http://127.0.0.1:8086/k6", "json=o.json"]},
     ["k6", "run", "--out", "influxdb=http://127.0.0.1:8086/k6", "--out", "json=o.json", "s.js"]),
    ({"summary_trend_stats": ["avg", "p(95)"], "summary_export": "/r/s.json"},
     ["k6", "run", "--summary-export", "/r/s.json", "--summary-trend-stats", "avg,p(95)", "s.js"]),
    ({"execution_segment": "0:1/2", "execution_segment_sequence": "0,1/2,1"},
     ["k6", "run", "--execution-segment", "0:1/2", "--execution-segment-sequence", "0,1/2,1", "s.js"]),
    ({"outputs": [], "tags": {}, "address": None}, ["k6", "run", "s.js"]),
    ({"no_thresholds": True, "no_setup": True}, ["k6", "run", "--no-setup", "--no-thresholds", "s.js"]),
    ({"no_thresholds": False}, ["k6", "run", "s.js"]),
    ({"insecure_skip_tls_verify": True}, ["k6", "run", "--insecure-skip-tls-verify", "s.js"]),
    ({"insecure_skip_tls_verify": False}, ["k6", "run", "s.js"]),
    # scenario_run_tags beside the role's own: one --tag each, sorted, values as text.
    ({"tags": {"testid": "t1", "team": "payments", "build": 1234}},
     ["k6", "run", "--tag", "build=1234", "--tag", "team=payments", "--tag", "testid=t1", "s.js"]),
    ({"outputs": ["influxdb=http://127.0.0.1:8086/k6", "json=samples.json", "csv=samples.csv.gz"]},
     ["k6", "run", "--out", "influxdb=http://127.0.0.1:8086/k6", "--out", "json=samples.json", "--out", "csv=samples.csv.gz",
      "s.js"]),
])
def test_build_run_argv_renders_each_option_once_in_declared_order(options, expected):
    assert c.build_run_argv("k6", "s.js", **options) == expected


def test_build_run_argv_refuses_unknown_options():
    with pytest.raises(TypeError, match="nosuch"):
        c.build_run_argv("k6", "s.js", nosuch=1)


def test_build_env_turns_usage_reports_off_and_sets_the_html_export():
    env = c.build_env({"PATH": "/bin", "K6_NO_USAGE_REPORT": "false"}, {"X": 1, "Y": None}, "/r/report.html")
    assert env["K6_NO_USAGE_REPORT"] == "true"
    assert env["K6_WEB_DASHBOARD"] == "true" and env["K6_WEB_DASHBOARD_EXPORT"] == "/r/report.html"
    assert env["X"] == "1" and env["Y"] == "" and env["PATH"] == "/bin"


def test_secrets_are_found_in_env_keys_and_output_urls_and_masked_in_the_command():
    env = {"K6_TEST_USER_PASSWORD": "hunter2", "INFLUXDB_TOKEN": "tok-123", "K6_BASE_URL": "http://x"}
    outputs = ["influxdb=http://k6writer:s3cret@127.0.0.1:8086/k6"]
    secrets = c.secret_values(env, outputs)
    assert secrets == {"hunter2", "tok-123", "s3cret"}
    line = c.render_cmd(["k6", "run", "--out", outputs[0], "--tag", "note=hunter2", "s.js"], secrets)
    for secret in secrets:
        assert secret not in line
    assert "k6writer:********@127.0.0.1" in line


@pytest.mark.parametrize("text,seconds", [
    ("32s", 32.0), ("14m30s", 870.0), ("1h0m0s", 3600.0), ("500ms", 0.5), ("1m20.5s", 80.5), ("0s", 0.0),
])
def test_parse_duration_reads_go_durations(text, seconds):
    assert c.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "10", "5x", "1m junk"])
def test_parse_duration_rejects_junk(text):
    with pytest.raises(ValueError):
        c.parse_duration(text)


def test_parse_inspect_reads_max_vus_and_total_duration_from_real_output():
    # Captured from `k6 inspect --execution-requirements` (k6 1.1.0) on a 1 VU / 2 s script.
    stdout = '{"vus": 1, "duration": "2s", "totalDuration": "32s", "maxVUs": 1, "thresholds": {"http_req_failed": ["rate<0.5"]}}'
    assert c.parse_inspect(stdout) == {"max_vus": 1, "total_duration_s": 32.0,
                                       "thresholds": {"http_req_failed": ["rate<0.5"]}}


@pytest.mark.parametrize("name", ["K6_PASS", "K6_AUTH_HEADER", "K6_SESSION_COOKIE", "K6_PRIVATE_KEY", "DB_PASSWORD",
                                  "API_TOKEN", "K6_INFLUXDB_PASSWORD", "BEARER"])
def test_secret_names_that_the_old_setup_used_are_recognised(name):
    assert c.secret_values({name: "v-4711"}) == {"v-4711"}


@pytest.mark.parametrize("name", ["K6_BASE_URL", "K6_VUS", "DURATION", "K6_TEST_USER"])
def test_ordinary_names_are_not_secrets(name):
    assert c.secret_values({name: "v-4711"}) == set()


@pytest.mark.parametrize("line,hidden", [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("Set-Cookie: sessionid=abcdef123456; Path=/", "abcdef123456"),
    ('{"access_token": "abcdefgh12345", "user": 1}', "abcdefgh12345"),
    ('{"token":"zyxwvuts98765"}', "zyxwvuts98765"),
])
def test_credentials_a_script_obtains_at_run_time_are_masked_in_their_usual_shapes(line, hidden):
    masked = c.mask(line, set())
    assert hidden not in masked and "********" in masked


def test_ordinary_lines_are_left_alone_by_the_runtime_credential_rule():
    line = "level=info msg=\"the token endpoint answered 200\" source=console"
    assert c.mask(line, set()) == line


def test_a_password_in_a_proxy_url_of_the_env_is_a_secret_and_the_proxy_host_is_not():
    env = {"HTTPS_PROXY": "http://loaduser:pr0xy-pw@proxy.example.net:3128", "HTTP_PROXY": "http://proxy:3128"}
    secrets = c.secret_values(env, [])
    assert secrets == {"pr0xy-pw"}
    assert c.mask("proxyconnect tcp via " + env["HTTPS_PROXY"], secrets) == (
        "proxyconnect tcp via http://loaduser:********@proxy.example.net:3128")
