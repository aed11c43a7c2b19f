# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: preflight_problem
short_description: Turn a preflight HTTP probe into a one-sentence problem and its fix
version_added: 0.1.0
description:
  - Reads the registered result of an M(ansible.builtin.uri) probe made from a load machine and
    returns an empty string when the answer is acceptable, else one sentence naming what is wrong
    and what to do.
  - V(health) probes expect a 2xx or 3xx answer from the target's health endpoint. Status 0/-1
    (nothing answered), a name that does not resolve, 400 (the target rejects the Host header, as
    Django does for a host missing from C(ALLOWED_HOSTS)), 401/403, 404 and 5xx each get their own
    fix.
  - V(influxdb) probes expect 204 from an InfluxDB v1 C(/write).
positional: _input
options:
  _input:
    description: The registered result of M(ansible.builtin.uri) (C(status), C(msg)).
    type: dict
    required: true
  kind:
    description: What was probed.
    type: str
    choices: [health, influxdb]
    required: true
  url:
    description: The probed URL, quoted in the message (credentials are never part of it).
    type: str
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Say what is wrong with the target
  ansible.builtin.set_fact:
    _problem: "{{ health_probe | loadops.k6.preflight_problem('health', scenario_run_base_url ~ '/health/') }}"
"""

RETURN = r"""
_value:
  description: Empty when the probe succeeded, else the problem and its fix in one sentence.
  type: str
"""

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

_DNS = re.compile(r"(Name or service not known|Temporary failure in name resolution|nodename nor servname|"
                  r"No address associated with hostname|getaddrinfo failed|\[Errno -[0-9]+\])", re.I)
# ansible.builtin.uri reports a failed connection as "Request failed: <... error REASON>".
_REASON = re.compile(r"Request failed: <\w+ error (.*)>\s*$|Request failed: (.*)$")


def _reason(msg):
    match = _REASON.search(msg or "")
    if match:
        return (match.group(1) or match.group(2) or "").strip()
    return (msg or "no answer").strip()


def _health(status, msg, url, host):
    if status <= 0:
        if _DNS.search(msg or ""):
            return ("the target's name %s does not resolve from this load machine; fix the host in "
                    "scenario_run_base_url or add it to the load machine's DNS or /etc/hosts." % host)
        return ("the target %s did not answer (%s); start the target or correct scenario_run_base_url so that it "
                "is reachable from this load machine." % (url, _reason(msg)))
    if status == 400:
        return ("the target %s answered 400 Bad Request, so it rejects the Host header %s; add %s to the target's "
                "ALLOWED_HOSTS (or its proxy's server_name)." % (url, host, host))
    if status in (401, 403):
        return ("the health endpoint %s answered %d; make it answer without credentials or set "
                "scenario_run_health_path to an endpoint that does." % (url, status))
    if status == 404:
        return ("the target has no health endpoint at %s (404); set scenario_run_health_path to the path "
                "that answers 200 when the target is up." % url)
    if status >= 500:
        return ("the target %s answered %d, so it is unhealthy before any load; read its logs and fix it "
                "before running a scenario." % (url, status))
    if 200 <= status < 400:
        return ""
    return "the target %s answered %d instead of 200; check scenario_run_base_url and scenario_run_health_path." % (url, status)


def _influxdb(status, msg, url, host):
    if status == 204 or 200 <= status < 300:
        return ""
    if status <= 0:
        if _DNS.search(msg or ""):
            return ("InfluxDB's name %s does not resolve from this load machine; fix scenario_run_influxdb_url or set "
                    "it to '' to run without metrics." % host)
        return ("InfluxDB at %s did not accept a connection (%s); start it (the loadops.k6.influxdb role) or set "
                "scenario_run_influxdb_url to '' to run without metrics." % (url, _reason(msg)))
    if status in (401, 403):
        return ("InfluxDB at %s refused the write (%d); give k6's credentials as K6_INFLUXDB_USERNAME and "
                "K6_INFLUXDB_PASSWORD in scenario_run_env (or INFLUXDB_TOKEN in the .env)." % (url, status))
    if status == 404:
        return ("InfluxDB at %s has no such database (404); create it (the loadops.k6.influxdb role does) or "
                "correct the database at the end of scenario_run_influxdb_url." % url)
    if status == 413:
        return ("InfluxDB at %s rejected a tiny write as too large (413); raise its max-body-size (the "
                "loadops.k6.influxdb role does)." % url)
    return ("InfluxDB at %s answered %d to a test write instead of 204; read its log and fix it, or set "
            "scenario_run_influxdb_url to '' to run without metrics." % (url, status))


def preflight_problem(result, kind, url):
    if not isinstance(result, dict):
        raise AnsibleFilterError("preflight_problem expects the registered result of ansible.builtin.uri, got %s"
                                 % type(result).__name__)
    if kind not in ("health", "influxdb"):
        raise AnsibleFilterError("preflight_problem: kind must be health or influxdb, got %r" % (kind,))
    try:
        status = int(result.get("status", -1))
    except (TypeError, ValueError):
        status = -1
    try:
        host = urlsplit(url).hostname or url
    except ValueError:
        host = url
    check = _health if kind == "health" else _influxdb
    return check(status, str(result.get("msg") or ""), url, host)


class FilterModule(object):
    def filters(self):
        return {"preflight_problem": preflight_problem}
