# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: health_probe
short_description: One step of the health probe - judge the answer, or follow a redirect only to an allowed host
version_added: 0.1.0
description:
  - The preflight probes the target's health endpoint with M(ansible.builtin.uri) and C(follow_redirects=none),
    one request at a time. This filter reads one answer and says what comes next - stop with no problem,
    stop with a problem (one sentence ending in its fix), or probe the redirect's C(Location) next.
  - A redirect (301, 302, 303, 307, 308 with a C(Location)) is followed only when O(allow_redirects=true)
    and its host is on O(allowed_targets) (the rule of P(loadops.k6.disallowed_targets#filter)), at most
    O(max_redirects) times. With O(allow_redirects=false) it is a problem - k6 gets C(K6_MAX_REDIRECTS=0)
    then and would not follow it either, so its own health check would fail.
  - A TLS failure (status -1 with C(CERTIFICATE_VERIFY_FAILED), a bad CA bundle, TLS spoken to a plain HTTP
    port) is a problem naming the URL, the reason and the setting that fixes it (C(scenario_run_ca_file),
    C(scenario_run_validate_certs), C(scenario_run_base_url)).
  - Any other answer is judged by P(loadops.k6.preflight_problem#filter) (kind V(health)).
  - Locations are quoted without credentials or query.
positional: _input
options:
  _input:
    description: The registered result of M(ansible.builtin.uri) (C(status), C(msg), C(location)).
    type: dict
    required: true
  state:
    description:
      - The probe so far - C(url) (the URL just probed) and C(hops) (redirects followed to get there), as
        this filter returned it last time; a plain URL for the first request.
    type: raw
    required: true
  allowed_targets:
    description: The target allowlist (C(scenario_run_allowed_targets)).
    type: list
    elements: str
    required: true
  allow_redirects:
    description: Whether redirects may be followed at all (C(scenario_run_allow_redirects)).
    type: bool
    default: false
  max_redirects:
    description: How many redirects may be followed (k6's own default is 10).
    type: int
    default: 10
  ca_file:
    description:
      - C(scenario_run_ca_file) as the user gave it (quoted in the message about an untrusted certificate),
        empty when none was given.
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Judge the answer; follow a redirect only to a host on the allowlist
  ansible.builtin.set_fact:
    _probe: "{{ health_answer | loadops.k6.health_probe(_probe, scenario_run_allowed_targets, allow_redirects=true) }}"
"""

RETURN = r"""
_value:
  description: The probe's next state.
  type: dict
  contains:
    url:
      description: The URL to probe next (when not C(done)), else the URL that was probed last.
      type: str
    hops:
      description: Redirects followed so far.
      type: int
    done:
      description: Whether the probe is over.
      type: bool
    problem:
      description: Empty when the target is ready, else the problem and its fix in one sentence.
      type: str
"""

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.filter.disallowed_targets import disallowed_targets
from ansible_collections.loadops.k6.plugins.filter.preflight_problem import preflight_problem

REDIRECTS = (301, 302, 303, 307, 308)
# ansible.builtin.uri reports a failed TLS check as status -1 and
# "Request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: REASON (_ssl.c:N)>".
_VERIFY = re.compile(r"CERTIFICATE_VERIFY_FAILED\]?\s*(?:certificate verify failed:\s*)?(?P<reason>[^<>]*?)\s*(?:\(_ssl\.c:\d+\))?>?\s*$",
                     re.I)
_BAD_CA = re.compile(r"\[X509: [A-Z_]+\][^<>]*?(?=\s*\(_ssl\.c|\s*$)|PEM lib|no certificate or crl found", re.I)
_NOT_TLS = re.compile(r"WRONG_VERSION_NUMBER|wrong version number|record layer failure|http request", re.I)
_SKIP = ("or scenario_run_validate_certs: false to skip the check in the probe and in k6 "
         "(--insecure-skip-tls-verify)")


def tls_problem(result, url, ca_file=""):
    """The problem of a probe that failed in TLS, or "" when it did not."""
    try:
        status = int(result.get("status", -1))
    except (TypeError, ValueError):
        status = -1
    msg = str(result.get("msg") or "")
    if status > 0 or not msg:
        return ""
    shown = _shown(url)
    match = _VERIFY.search(msg)
    if match:
        reason = match.group("reason").strip().rstrip(".") or "certificate verify failed"
        if "mismatch" in reason.lower() or "not valid for" in reason.lower():
            return ("the certificate of %s is not valid for the host in that URL (%s); use the name the certificate "
                    "was issued for in scenario_run_base_url, %s." % (shown, reason, _SKIP))
        if "expired" in reason.lower() or "not yet valid" in reason.lower():
            return "the certificate of %s is out of its validity period (%s); renew it on the target, %s." % (
                shown, reason, _SKIP)
        if ca_file:
            return ("the certificate of %s is not trusted even with scenario_run_ca_file %s (%s); put the CA that "
                    "signed it (and any intermediate CA) into that PEM bundle, %s." % (shown, ca_file, reason, _SKIP))
        return ("the certificate of %s is not trusted by the load machine (%s); set scenario_run_ca_file to the PEM "
                "bundle, on the controller, of the CA that signed it (an internal CA), %s." % (shown, reason, _SKIP))
    if ca_file and _BAD_CA.search(msg):
        return ("the CA bundle of scenario_run_ca_file %s could not be loaded for %s (%s); give a PEM file of CA "
                "certificates (-----BEGIN CERTIFICATE-----)." % (ca_file, shown, _BAD_CA.search(msg).group(0).strip()))
    if url.lower().startswith("https:") and _NOT_TLS.search(msg):
        return ("%s does not speak TLS on that port (%s); use http:// in scenario_run_base_url, or the port where the "
                "target serves HTTPS." % (shown, _NOT_TLS.search(msg).group(0)))
    return ""


def _shown(url):
    """The URL without credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return url


def _state(state):
    if isinstance(state, str):
        return state, 0
    if not isinstance(state, dict) or not state.get("url"):
        raise AnsibleFilterError("health_probe: state must be the probed URL or the dict this filter returned, got %r"
                                 % (state,))
    try:
        return str(state["url"]), int(state.get("hops") or 0)
    except (TypeError, ValueError):
        raise AnsibleFilterError("health_probe: hops must be a number, got %r" % (state.get("hops"),))


def health_probe(result, state, allowed_targets, allow_redirects=False, max_redirects=10, ca_file=""):
    if not isinstance(result, dict):
        raise AnsibleFilterError("health_probe expects the registered result of ansible.builtin.uri, got %s"
                                 % type(result).__name__)
    url, hops = _state(state)
    try:
        status = int(result.get("status", -1))
    except (TypeError, ValueError):
        status = -1
    location = str(result.get("location") or "").strip()

    def stop(problem):
        return {"url": url, "hops": hops, "done": True, "problem": problem}

    if status not in REDIRECTS or not location:
        return stop(tls_problem(result, url, ca_file or "") or preflight_problem(result, "health", url))
    target = urljoin(url, location)
    if not allow_redirects:
        return stop("the health endpoint %s answered %d, a redirect to %s, which neither this probe nor k6 follows "
                    "(scenario_run_allow_redirects is false); set scenario_run_base_url to the address that answers "
                    "200, or scenario_run_allow_redirects: true to follow redirects to hosts in "
                    "scenario_run_allowed_targets." % (_shown(url), status, _shown(target)))
    if disallowed_targets([target], allowed_targets):
        return stop("the health endpoint %s redirects to %s, whose host is not in scenario_run_allowed_targets (%s), "
                    "so the probe did not follow it (k6 would: scenario_run_allow_redirects is true); add the host to "
                    "scenario_run_allowed_targets if it may receive load, or set scenario_run_base_url to an address "
                    "that does not redirect there."
                    % (_shown(url), _shown(target), ", ".join(str(a) for a in allowed_targets)))
    if hops >= int(max_redirects):
        return stop("the health endpoint redirected more than %d times (the last one from %s to %s); set "
                    "scenario_run_base_url to the address that answers 200."
                    % (int(max_redirects), _shown(url), _shown(target)))
    return {"url": target, "hops": hops + 1, "done": False, "problem": ""}


class FilterModule(object):
    def filters(self):
        return {"health_probe": health_probe}
