# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: effective_targets
short_description: The URLs k6 will be given, read from the script's final environment
version_added: 0.1.0
description:
  - Reads the environment the collection hands k6 (C(_scenario_run_k6_env), after the inventory, extra
    vars, O(_input) merging and a legacy C(.env) have all been applied) and returns every target URL
    in it, one item per distinct URL with the keys that carry it, so that the allowlist judges exactly
    what k6 gets.
  - V(K6_BASE_URL) and V(K6_FRONTEND_URL) (O(target_keys)) are always targets when set, whatever their
    value looks like - a value that is not an C(http://) or C(https://) URL is returned as is, so that
    the allowlist refuses it.
  - Any other key whose whole value (spaces stripped) is an C(http://) or C(https://) URL with a host is
    a target too (a script may read C(K6_AUTH_URL) and send requests there), except the keys k6 itself
    reads for its metrics outputs (O(output_prefixes)), which name where metrics go, not where load goes.
  - Empty values are skipped (the script falls back to its own default; the bundled scripts' default
    is the loopback demo target).
  - It knows only the environment. Hosts a script calls by itself (written into the script, or
    built from other values) are not seen.
positional: _input
options:
  _input:
    description: k6's environment, key to value.
    type: dict
    required: true
  target_keys:
    description: Keys that are always targets, first in the result, in this order.
    type: list
    elements: str
    default: [K6_BASE_URL, K6_FRONTEND_URL]
  output_prefixes:
    description: Key prefixes of k6's own output settings, never read as targets.
    type: list
    elements: str
    default: [K6_OUT, K6_INFLUXDB_, K6_PROMETHEUS_RW_, K6_OTEL_, K6_STATSD_, K6_DATADOG_, K6_CLOUD_, K6_WEB_DASHBOARD]
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Refuse every URL k6 would get that is outside the allowlist
  ansible.builtin.set_fact:
    problems: >-
      {{ problems + (_scenario_run_k6_env | loadops.k6.effective_targets
                     | loadops.k6.safety_refusals(allowed_targets=scenario_run_allowed_targets)) }}
"""

RETURN = r"""
_value:
  description: One item per distinct URL, target keys first, then the others in the environment's key order.
  type: list
  elements: dict
  contains:
    url:
      description: The URL as k6 gets it.
      type: str
    keys:
      description: The environment keys that carry it.
      type: list
      elements: str
"""

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

TARGET_KEYS = ("K6_BASE_URL", "K6_FRONTEND_URL")
OUTPUT_PREFIXES = ("K6_OUT", "K6_INFLUXDB_", "K6_PROMETHEUS_RW_", "K6_OTEL_", "K6_STATSD_", "K6_DATADOG_",
                   "K6_CLOUD_", "K6_WEB_DASHBOARD")


def is_http_url(value):
    """True when the whole value is an http(s) URL with a host."""
    try:
        parts = urlsplit(str(value).strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def effective_targets(env, target_keys=TARGET_KEYS, output_prefixes=OUTPUT_PREFIXES):
    if not isinstance(env, dict):
        raise AnsibleFilterError("effective_targets expects k6's environment as a dict, got %s" % type(env).__name__)
    target_keys = [str(k) for k in (target_keys or [])]
    prefixes = tuple(str(p) for p in (output_prefixes or []))
    chosen = []
    for key in target_keys:
        if key in env:
            chosen.append((key, env[key]))
    for key, value in env.items():
        key = str(key)
        if key in target_keys or (prefixes and key.startswith(prefixes)):
            continue
        if is_http_url(value):
            chosen.append((key, value))
    targets = []
    for key, value in chosen:
        if value is None or str(value).strip() == "":
            continue
        url = str(value).strip()
        known = next((t for t in targets if t["url"] == url), None)
        if known is None:
            targets.append({"url": url, "keys": [key]})
        else:
            known["keys"].append(key)
    return targets


class FilterModule(object):
    def filters(self):
        return {"effective_targets": effective_targets}
