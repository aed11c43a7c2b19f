# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: disallowed_targets
short_description: The URLs whose host is not on a target allowlist
version_added: 0.1.0
description:
  - Returns every URL of the input whose host matches no entry of O(allowed), in input order.
    An empty list means every target is allowed.
  - Hosts are compared as written in the URL; names are not resolved, so a name that happens to
    resolve to an allowed address is still refused until the name itself is listed.
  - A URL that is not C(http://) or C(https://), or has no host, is always refused.
  - Empty strings in the input are skipped (an unset frontend URL, for example).
positional: _input
options:
  _input:
    description: URLs of the system under test.
    type: list
    elements: str
    required: true
  allowed:
    description:
      - Allowlist entries. Each is a host name (V(staging.example.net), case-insensitive), a
        wildcard for the sub-domains of a name (V(*.staging.example.net)), an IP address
        (V(10.0.0.5), V(::1)) or a network in CIDR form (V(127.0.0.0/8), V(10.20.0.0/16)).
    type: list
    elements: str
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Refuse targets outside the allowlist
  ansible.builtin.assert:
    that: _refused | length == 0
    fail_msg: "{{ _refused | join(', ') }} not in scenario_run_allowed_targets"
  vars:
    _refused: "{{ [scenario_run_base_url, scenario_run_frontend_url] | loadops.k6.disallowed_targets(scenario_run_allowed_targets) }}"
"""

RETURN = r"""
_value:
  description: The refused URLs.
  type: list
  elements: str
"""

import ipaddress
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError


def _host(url):
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.lower().rstrip(".")


def _entry(raw):
    text = str(raw).strip().lower().rstrip(".")
    if not text:
        raise AnsibleFilterError("disallowed_targets: an empty allowlist entry is not allowed")
    if text.startswith("*."):
        return ("suffix", text[1:])
    if "/" in text:
        try:
            return ("net", ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise AnsibleFilterError("disallowed_targets: allowlist entry %r is not a network in CIDR form "
                                     "(e.g. 127.0.0.0/8)" % raw)
    try:
        return ("ip", ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return ("name", text)


def _matches(host, entry):
    kind, value = entry
    if kind == "name":
        return host == value
    if kind == "suffix":
        return host.endswith(value) and len(host) > len(value)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if kind == "ip":
        return address == value
    return address.version == value.version and address in value


def disallowed_targets(urls, allowed):
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(allowed, (list, tuple)):
        raise AnsibleFilterError("disallowed_targets: allowed must be a list of hosts, wildcards, "
                                 "addresses or networks, got %s" % type(allowed).__name__)
    entries = [_entry(item) for item in allowed]
    refused = []
    for url in urls or []:
        if url in (None, ""):
            continue
        host = _host(url)
        if host is None or not any(_matches(host, entry) for entry in entries):
            refused.append(url)
    return refused


class FilterModule(object):
    def filters(self):
        return {"disallowed_targets": disallowed_targets}
