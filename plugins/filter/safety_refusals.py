# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: safety_refusals
short_description: The safety rules' refusals of a run, one sentence and its fix each
version_added: 0.1.0
description:
  - Applies the two safety rules of a run and returns one sentence, ending in its fix, per refusal.
  - Load goes only to targets whose host is allowed (the rule of P(loadops.k6.disallowed_targets#filter)).
  - A heavy scenario runs only on a dedicated load machine, unless O(force=true).
positional: _input
options:
  _input:
    description:
      - The target URLs the scenario sends load to (each is judged once), or the items of
        P(loadops.k6.effective_targets#filter) (C(url) and the environment C(keys) that carry it), whose
        refusals then name those keys.
      - A refusal shows the URL's origin (scheme, host and port) only, never its credentials, path or query.
    type: list
    elements: raw
    required: true
  allowed_targets:
    description: Hosts the load may go to - names, C(*.)wildcards, addresses or CIDR networks.
    type: list
    elements: str
    required: true
  scenario:
    description: Scenario name.
    type: str
    default: ""
  heavy_scenarios:
    description: Scenarios that need a dedicated load machine.
    type: list
    elements: str
    default: []
  dedicated:
    description: Whether this machine is a dedicated load machine (C(loadops_dedicated_load_machine)).
    type: bool
    default: false
  force:
    description: Run a heavy scenario on a machine that is not dedicated anyway.
    type: bool
    default: false
  prefix:
    description: "Text put before every sentence, e.g. C(lg1: )."
    type: str
    default: ""
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Refuse what the safety rules forbid
  ansible.builtin.set_fact:
    problems: >-
      {{ problems + (['http://staging.example.net'] | loadops.k6.safety_refusals(['*.example.net'], scenario='stress',
                                                                                  heavy_scenarios=['stress', 'spike'])) }}

- name: Judge every URL k6 will be given (the script's final environment)
  ansible.builtin.set_fact:
    problems: >-
      {{ problems + (_scenario_run_k6_env | loadops.k6.effective_targets | loadops.k6.safety_refusals(['*.example.net'])) }}
"""

RETURN = r"""
_value:
  description: The refusals, targets first; empty when the run may go ahead.
  type: list
  elements: str
"""

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.filter.disallowed_targets import disallowed_targets


def _origin(url):
    """scheme://host[:port] of an http(s) URL with a host, else None."""
    try:
        parts = urlsplit(str(url).strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = "[%s]" % host
    return "%s://%s%s" % (parts.scheme.lower(), host, (":%d" % port) if port else "")


def _targets(urls):
    """[(url, keys)] from URLs or effective_targets items, each URL once."""
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, (list, tuple)):
        raise AnsibleFilterError("safety_refusals expects a list of target URLs, got %s" % type(urls).__name__)
    targets = []
    for item in urls:
        if isinstance(item, dict):
            if "url" not in item:
                raise AnsibleFilterError("safety_refusals: a target item needs a url (loadops.k6.effective_targets "
                                         "makes them), got keys %s" % ", ".join(sorted(str(k) for k in item)))
            url, keys = item["url"], [str(k) for k in item.get("keys") or []]
        else:
            url, keys = item, []
        known = next((t for t in targets if t[0] == url), None)
        if known is None:
            targets.append((url, list(keys)))
        else:
            known[1].extend(k for k in keys if k not in known[1])
    return targets


def _target_refusals(targets, allowed_targets):
    """One sentence per refused origin (a URL is shown by its origin only: no credentials, path or query)."""
    refused = disallowed_targets([url for url, _keys in targets], allowed_targets)
    allowed = ", ".join(str(a) for a in allowed_targets)
    entries = []  # [origin or None, keys, sentence or None], in input order
    for url, keys in targets:
        if url not in refused:
            continue
        origin = _origin(url)
        if origin is None and keys:
            entries.append([None, keys, "refusing %s=%s because it is not an http:// or https:// URL with a host, so "
                            "its host cannot be checked against scenario_run_allowed_targets (%s); set it to the "
                            "target's full URL, e.g. https://staging.example.net." % ("/".join(keys), url, allowed)])
            continue
        origin = origin or str(url)
        known = next((e for e in entries if e[0] == origin), None)
        if known is None:
            entries.append([origin, list(keys), None])
        else:
            known[1].extend(k for k in keys if k not in known[1])
    sentences = []
    for origin, keys, sentence in entries:
        if sentence is None:
            given = ("; k6 would get it as %s" % ", ".join(keys)) if keys else ""
            sentence = ("refusing to send load to %s because its host is not in scenario_run_allowed_targets (%s)%s; "
                        "add the host to scenario_run_allowed_targets in the inventory if it may receive load."
                        % (origin, allowed, given))
        sentences.append(sentence)
    return sentences


def safety_refusals(urls, allowed_targets, scenario="", heavy_scenarios=None, dedicated=False, force=False, prefix=""):
    refusals = _target_refusals(_targets(urls), allowed_targets)
    if scenario in (heavy_scenarios or []) and not dedicated and not force:
        refusals.append("refusing to run %s here because this host is not marked as a dedicated load machine; set "
                        "loadops_dedicated_load_machine: true for it in the inventory, or scenario_run_force: true to "
                        "accept that it may become unresponsive." % scenario)
    return ["%s%s" % (prefix, refusal) for refusal in refusals]


class FilterModule(object):
    def filters(self):
        return {"safety_refusals": safety_refusals}
