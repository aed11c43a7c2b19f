# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/health_probe.py: one step of the health probe, redirects under the allowlist."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.health_probe import health_probe

START = "http://127.0.0.1:8480/health/"
LOOPBACK = ["127.0.0.0/8"]


def _redirect(location, status=302):
    return {"status": status, "location": location, "msg": "Status code was %d and not [200]: HTTP Error" % status}


def test_a_healthy_answer_ends_the_probe_without_a_problem():
    assert health_probe({"status": 200}, START, LOOPBACK) == {"url": START, "hops": 0, "done": True, "problem": ""}


def test_other_answers_are_judged_like_before():
    step = health_probe({"status": 503, "msg": "Service Unavailable"}, START, LOOPBACK)
    assert step["done"] and "answered 503, so it is unhealthy before any load" in step["problem"]
    step = health_probe({"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"},
                        START, LOOPBACK)
    assert "did not answer ([Errno 111] Connection refused)" in step["problem"]


def test_a_redirect_is_a_problem_when_redirects_are_not_allowed_and_is_not_followed():
    step = health_probe(_redirect("http://127.0.0.2:9000/health/?sso=tok3n"), START, LOOPBACK)
    assert step["done"] and step["url"] == START
    assert step["problem"] == (
        "the health endpoint http://127.0.0.1:8480/health/ answered 302, a redirect to http://127.0.0.2:9000/health/, "
        "which neither this probe nor k6 follows (scenario_run_allow_redirects is false); set scenario_run_base_url "
        "to the address that answers 200, or scenario_run_allow_redirects: true to follow redirects to hosts in "
        "scenario_run_allowed_targets.")


def test_an_allowed_redirect_to_an_allowed_host_is_probed_next_relative_locations_included():
    step = health_probe(_redirect("http://127.0.0.2:9000/health/", 301), START, LOOPBACK, allow_redirects=True)
    assert step == {"url": "http://127.0.0.2:9000/health/", "hops": 1, "done": False, "problem": ""}
    step = health_probe(_redirect("/healthz"), step, LOOPBACK, allow_redirects=True)
    assert step == {"url": "http://127.0.0.2:9000/healthz", "hops": 2, "done": False, "problem": ""}
    assert health_probe({"status": 200}, step, LOOPBACK, allow_redirects=True) == dict(step, done=True)


def test_a_redirect_to_a_host_off_the_allowlist_is_never_followed():
    step = health_probe(_redirect("https://user:pw@prod.example.com/health/?x=1", 307), START, ["127.0.0.1"],
                        allow_redirects=True)
    assert step["done"] and step["url"] == START
    assert step["problem"].startswith(
        "the health endpoint http://127.0.0.1:8480/health/ redirects to https://prod.example.com/health/, whose host "
        "is not in scenario_run_allowed_targets (127.0.0.1), so the probe did not follow it")
    assert "pw" not in step["problem"] and "x=1" not in step["problem"]


def test_too_many_redirects_end_the_probe():
    step = {"url": START, "hops": 10}
    result = health_probe(_redirect(START), step, LOOPBACK, allow_redirects=True)
    assert result["done"] and "redirected more than 10 times" in result["problem"]


def test_a_3xx_without_location_is_judged_as_an_answer():
    assert health_probe({"status": 304}, START, LOOPBACK)["problem"] == ""


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        health_probe("200", START, LOOPBACK)
    with pytest.raises(AnsibleFilterError):
        health_probe({"status": 200}, {"hops": 1}, LOOPBACK)


# --- TLS -------------------------------------------------------------------------------------------
HTTPS = "https://127.0.0.1:8443/health/"
# What ansible.builtin.uri (ansible-core 2.19, Python 3.11) answered, recorded against a test server.
UNTRUSTED = ("Status code was -1 and not [200]: Request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] "
             "certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)>")
MISMATCH = ("Status code was -1 and not [200]: Request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] "
            "certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'. (_ssl.c:1006)>")
BAD_CA = ("Status code was -1 and not [200]: Connection failure: [X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate "
          "or crl found (_ssl.c:4154)")
PLAIN_PORT = ("Status code was -1 and not [200]: Request failed: <urlopen error [SSL: WRONG_VERSION_NUMBER] wrong "
              "version number (_ssl.c:1006)>")


def test_an_untrusted_certificate_names_the_url_the_reason_and_both_settings():
    step = health_probe({"status": -1, "msg": UNTRUSTED}, HTTPS, LOOPBACK)
    assert step["done"]
    assert step["problem"] == (
        "the certificate of https://127.0.0.1:8443/health/ is not trusted by the load machine (unable to get local "
        "issuer certificate); set scenario_run_ca_file to the PEM bundle, on the controller, of the CA that signed "
        "it (an internal CA), or scenario_run_validate_certs: false to skip the check in the probe and in k6 "
        "(--insecure-skip-tls-verify).")


def test_an_untrusted_certificate_despite_a_ca_file_names_that_file():
    step = health_probe({"status": -1, "msg": UNTRUSTED}, HTTPS, LOOPBACK, ca_file="certs/corp-ca.pem")
    assert "is not trusted even with scenario_run_ca_file certs/corp-ca.pem" in step["problem"]
    assert "put the CA that signed it (and any intermediate CA) into that PEM bundle" in step["problem"]


def test_a_certificate_for_another_name_says_to_use_the_name_it_was_issued_for():
    problem = health_probe({"status": -1, "msg": MISMATCH}, "https://localhost:8443/health/", LOOPBACK)["problem"]
    assert problem.startswith("the certificate of https://localhost:8443/health/ is not valid for the host in that "
                              "URL (Hostname mismatch, certificate is not valid for 'localhost');")
    assert "scenario_run_base_url" in problem and "scenario_run_validate_certs: false" in problem


def test_a_ca_file_that_holds_no_certificate_is_named():
    problem = health_probe({"status": -1, "msg": BAD_CA}, HTTPS, LOOPBACK, ca_file="/x/ca.key")["problem"]
    assert problem.startswith("the CA bundle of scenario_run_ca_file /x/ca.key could not be loaded for "
                              "https://127.0.0.1:8443/health/ ([X509: NO_CERTIFICATE_OR_CRL_FOUND]")


def test_https_to_a_plain_http_port_says_so():
    problem = health_probe({"status": -1, "msg": PLAIN_PORT}, HTTPS, LOOPBACK)["problem"]
    assert problem.startswith("https://127.0.0.1:8443/health/ does not speak TLS on that port (WRONG_VERSION_NUMBER);")


def test_a_refused_connection_over_https_is_still_judged_as_no_answer():
    step = health_probe({"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"},
                        HTTPS, LOOPBACK, ca_file="ca.pem")
    assert "did not answer ([Errno 111] Connection refused)" in step["problem"]
