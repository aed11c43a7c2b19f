# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: proxy_env
short_description: The proxy environment the health probe and k6 both get
version_added: 0.1.0
description:
  - Turns C(scenario_run_proxy) (keys C(http_proxy), C(https_proxy), C(no_proxy)) and any proxy variable
    in O(env) (C(HTTP_PROXY), C(HTTPS_PROXY), C(NO_PROXY), either case) into one environment with each set
    variable in upper and lower case, so that Python's C(urllib) (the probe, lower case first) and Go's
    C(net/http) (k6, upper case first) read the same values. C(scenario_run_proxy) wins over O(env); in
    O(env) the upper-case name wins.
  - When anything is set, C(localhost), C(127.0.0.1) and C(::1) are added to C(no_proxy) - k6 never sends
    loopback requests through a proxy, and the probe then does not either.
  - A proxy must be an C(http://) or C(https://) URL with a host; anything else is an error naming it.
  - Empty when nothing is set - the load machine's own environment applies then.
positional: _input
options:
  _input:
    description: C(scenario_run_proxy).
    type: dict
    required: true
  env:
    description: C(scenario_run_env); only its proxy variables are read.
    type: dict
    default: {}
  shown:
    description: Return one line for people instead, passwords in proxy URLs masked, empty when nothing is set.
    type: bool
    default: false
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: The proxy environment of the probe
  ansible.builtin.uri:
    url: https://staging-api.example.net/health/
  environment: "{{ scenario_run_proxy | loadops.k6.proxy_env(scenario_run_env) }}"
"""

RETURN = r"""
_value:
  description: Environment variables (name to value), or with O(shown) a line of text.
  type: raw
"""

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

KEYS = ("http_proxy", "https_proxy", "no_proxy")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_USERINFO = re.compile(r"(://[^:/@\s]+):[^@/\s]+@")


def _check_url(key, value):
    try:
        parts = urlsplit(value)
        # .port raises ValueError on a port that is not a number or out of range.
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok:
        raise AnsibleFilterError("proxy %s %r is not a proxy URL; give http://HOST:PORT or https://HOST:PORT "
                                 "(e.g. http://proxy.example.net:3128)" % (key, _USERINFO.sub(r"\1:********@", value)))


def proxy_env(proxy, env=None, shown=False):
    if proxy in (None, ""):
        proxy = {}
    if not isinstance(proxy, dict):
        raise AnsibleFilterError("scenario_run_proxy must be a dict with http_proxy, https_proxy and no_proxy, got %r"
                                 % (proxy,))
    unknown = sorted(str(k) for k in proxy if str(k) not in KEYS)
    if unknown:
        raise AnsibleFilterError("scenario_run_proxy has %s; the keys are %s" % (", ".join(unknown), ", ".join(KEYS)))
    if not isinstance(env or {}, dict):
        raise AnsibleFilterError("proxy_env: env must be a dict, got %r" % (env,))
    chosen = {}
    for key in KEYS:
        for source in (proxy.get(key), (env or {}).get(key.upper()), (env or {}).get(key)):
            if source not in (None, "") and str(source).strip():
                chosen[key] = str(source).strip()
                break
    if not chosen:
        return "" if shown else {}
    for key in ("http_proxy", "https_proxy"):
        if key in chosen:
            _check_url(key, chosen[key])
    entries = [e.strip() for e in chosen.get("no_proxy", "").split(",") if e.strip()]
    chosen["no_proxy"] = ",".join(entries + [host for host in LOOPBACK if host not in entries])
    if shown:
        return "; ".join("%s=%s" % (key, _USERINFO.sub(r"\1:********@", chosen[key])) for key in KEYS if key in chosen)
    out = {}
    for key in KEYS:
        if key in chosen:
            out[key.upper()] = out[key] = chosen[key]
    return out


class FilterModule(object):
    def filters(self):
        return {"proxy_env": proxy_env}
