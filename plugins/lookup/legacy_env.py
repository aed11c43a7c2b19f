# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: legacy_env
short_description: Read the old docker-compose setup's .env file as loadops.k6.scenario_run settings
version_added: 0.1.0
description:
  - Reads the first existing file of the given paths with python-dotenv (no variable interpolation)
    and maps the old keys onto C(scenario_run_*) variables and the script's environment.
  - C(K6_BASE_URL) -> C(scenario_run_base_url); C(K6_FRONTEND_URL) -> C(scenario_run_frontend_url);
    C(INFLUXDB_URL) and C(INFLUXDB_BUCKET) (default V(k6)) -> C(scenario_run_influxdb_url)
    (k6's InfluxDB v1 write API, C(<url>/<bucket>)); C(K6_DOCKER_MEMORY) ->
    C(scenario_run_memory_limit); C(K6_DOCKER_CPUS) -> C(scenario_run_cpu_limit);
    C(K6_ABORT_ON_FAIL) -> C(scenario_run_abort_on_fail); C(K6_USE_CUSTOM_IMAGE=true) ->
    C(scenario_run_runner=docker) (k6 from the local image).
  - C(K6_TEST_USER_EMAIL), C(K6_TEST_USER_PASSWORD) and C(K6_VERBOSE) go to the script's environment;
    C(INFLUXDB_TOKEN) becomes k6's InfluxDB password (C(K6_INFLUXDB_PASSWORD), user C(k6) unless
    C(scenario_run_env) names another).
  - C(INFLUXDB_ORG) is accepted and unused (the v1 write API has no organisation).
    C(K6_DOCKER_NETWORK) and C(K6_USE_SERVICE_NAMES) are accepted with a warning that they have no
    effect (k6 uses the load machine's own network).
  - Any other key gets a warning naming it and its line. A malformed value (C(K6_DOCKER_CPUS=abc),
    C(K6_ABORT_ON_FAIL=maybe), a URL without scheme, a placeholder such as C(<token>)) is an error
    naming the key and the line; the values of secret keys are never shown.
  - An empty value (C(KEY=)) counts as unset.
options:
  _terms:
    description: Candidate paths, first existing one wins; empty strings are skipped.
    required: true
    type: list
    elements: path
  required:
    description: Fail when none of the paths exists (an explicitly named file), instead of returning no settings.
    type: bool
    default: false
author:
  - loadops.k6 developers (@loadops)
notes:
  - Needs python-dotenv on the controller.
"""

EXAMPLES = r"""
- name: Read the legacy .env next to the inventory, else in the directory ansible-playbook runs from
  ansible.builtin.set_fact:
    _legacy: "{{ lookup('loadops.k6.legacy_env', inventory_dir ~ '/.env', lookup('loadops.k6.controller_cwd') ~ '/.env') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One mapping.
  type: list
  elements: dict
  contains:
    source: {description: "The file read, or null when none exists.", type: str}
    vars: {description: "scenario_run_* variables set by the file.", type: dict}
    script_env: {description: "Environment for the k6 script (credentials, verbosity).", type: dict}
    keys: {description: "The recognised keys that were set.", type: list}
"""

import math
import os
import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleLookupError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

try:
    from dotenv.parser import parse_stream
except ImportError:  # reported when the lookup runs
    parse_stream = None

display = Display()

SECRET_KEYS = frozenset(("K6_TEST_USER_PASSWORD", "INFLUXDB_TOKEN"))
NO_EFFECT = {
    "K6_DOCKER_NETWORK": "k6 runs on the load machine and uses its network; put an address the load machine "
                         "reaches into K6_BASE_URL / scenario_run_base_url instead",
    "K6_USE_SERVICE_NAMES": "there is no docker network to resolve service names in; use addresses the load "
                            "machine reaches",
}
KNOWN = ("K6_TEST_USER_EMAIL", "K6_TEST_USER_PASSWORD", "K6_BASE_URL", "K6_FRONTEND_URL", "INFLUXDB_URL",
         "INFLUXDB_ORG", "INFLUXDB_BUCKET", "INFLUXDB_TOKEN", "K6_DOCKER_MEMORY", "K6_DOCKER_CPUS",
         "K6_ABORT_ON_FAIL", "K6_VERBOSE", "K6_DOCKER_NETWORK", "K6_USE_CUSTOM_IMAGE", "K6_USE_SERVICE_NAMES")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_SIZE = re.compile(r"^\d+(\.\d+)?\s*([kmgt]i?b?|b)?$", re.I)
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_PLACEHOLDER = re.compile(r"^<.*>$|^\$\{.*\}$|^(changeme|todo|xxx+)$", re.I)


class _Bad(Exception):
    pass


def _bool(value):
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad("is not a boolean; use true or false")


def _url(value):
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        ok = False
    if not ok:
        raise _Bad("is not an http:// or https:// URL with a host")
    return value.strip().rstrip("/")


def _size(value):
    text = value.strip()
    if not _SIZE.match(text) or float(re.match(r"^\d+(\.\d+)?", text).group(0)) <= 0:
        raise _Bad("is not a memory size such as 512m or 2g")
    return text


def _cpus(value):
    try:
        cpus = float(value.strip())
    except ValueError:
        raise _Bad("is not a number of CPUs such as 2 or 1.5")
    if math.isnan(cpus) or math.isinf(cpus) or cpus <= 0:
        raise _Bad("must be a number of CPUs greater than 0")
    return value.strip()


def _email(value):
    if "@" not in value or value.strip() != value or " " in value:
        raise _Bad("is not an email address")
    return value


def _name(value):
    if not _NAME.match(value.strip()):
        raise _Bad("may only hold letters, digits, '.', '_' and '-'")
    return value.strip()


def _text(value):
    return value


PARSERS = {
    "K6_TEST_USER_EMAIL": _email, "K6_TEST_USER_PASSWORD": _text, "K6_BASE_URL": _url, "K6_FRONTEND_URL": _url,
    "INFLUXDB_URL": _url, "INFLUXDB_ORG": _name, "INFLUXDB_BUCKET": _name, "INFLUXDB_TOKEN": _text,
    "K6_DOCKER_MEMORY": _size, "K6_DOCKER_CPUS": _cpus, "K6_ABORT_ON_FAIL": _bool, "K6_VERBOSE": _bool,
    "K6_DOCKER_NETWORK": _name, "K6_USE_CUSTOM_IMAGE": _bool, "K6_USE_SERVICE_NAMES": _bool,
}


def read_legacy_env(path):
    """Parse one .env file: returns (values by key, line by key); raises AnsibleLookupError."""
    if parse_stream is None:
        raise AnsibleLookupError("loadops.k6.legacy_env needs python-dotenv on the controller (pip install python-dotenv)")
    values, lines = {}, {}
    try:
        with open(path, encoding="utf-8") as stream:
            bindings = list(parse_stream(stream))
    except (OSError, UnicodeDecodeError) as exc:
        raise AnsibleLookupError("cannot read the legacy .env file %s: %s" % (path, exc))
    for binding in bindings:
        line = binding.original.line
        if binding.error:
            raise AnsibleLookupError("legacy .env %s line %d cannot be parsed (%r); write KEY=value"
                                     % (path, line, binding.original.string.strip()[:60]))
        if binding.key is None:
            continue
        values[binding.key] = binding.value
        lines[binding.key] = line
    return values, lines


def map_legacy_env(values, lines, path, warn):
    parsed, keys = {}, []
    for key, raw in values.items():
        where = "legacy .env %s line %d" % (path, lines.get(key, 0))
        if key not in PARSERS:
            warn("%s: unknown key %s is ignored (loadops.k6 reads %s)" % (where, key, ", ".join(KNOWN)))
            continue
        if raw is None or raw.strip() == "":
            continue
        shown = "<hidden>" if key in SECRET_KEYS else raw
        if _PLACEHOLDER.match(raw.strip()):
            raise AnsibleLookupError("%s: %s is still a placeholder (%s); put the real value there or remove the line"
                                     % (where, key, shown if key not in SECRET_KEYS else "value hidden"))
        try:
            parsed[key] = PARSERS[key](raw)
        except _Bad as exc:
            raise AnsibleLookupError("%s: %s=%s %s" % (where, key, shown, exc))
        keys.append(key)
        if key in NO_EFFECT:
            warn("%s: %s has no effect with loadops.k6: %s" % (where, key, NO_EFFECT[key]))

    out_vars, script_env = {}, {}
    if "K6_BASE_URL" in parsed:
        out_vars["scenario_run_base_url"] = parsed["K6_BASE_URL"]
    if "K6_FRONTEND_URL" in parsed:
        out_vars["scenario_run_frontend_url"] = parsed["K6_FRONTEND_URL"]
    if "INFLUXDB_URL" in parsed:
        url = parsed["INFLUXDB_URL"]
        if urlsplit(url).path not in ("", "/"):
            raise AnsibleLookupError("legacy .env %s line %d: INFLUXDB_URL=%s must be the server address without a "
                                     "path (the database comes from INFLUXDB_BUCKET)" % (path, lines["INFLUXDB_URL"], url))
        out_vars["scenario_run_influxdb_url"] = "%s/%s" % (url, parsed.get("INFLUXDB_BUCKET", "k6"))
    if "K6_DOCKER_MEMORY" in parsed:
        out_vars["scenario_run_memory_limit"] = parsed["K6_DOCKER_MEMORY"]
    if "K6_DOCKER_CPUS" in parsed:
        out_vars["scenario_run_cpu_limit"] = parsed["K6_DOCKER_CPUS"]
    if "K6_ABORT_ON_FAIL" in parsed:
        out_vars["scenario_run_abort_on_fail"] = parsed["K6_ABORT_ON_FAIL"]
    if parsed.get("K6_USE_CUSTOM_IMAGE"):
        out_vars["scenario_run_runner"] = "docker"
    for key in ("K6_TEST_USER_EMAIL", "K6_TEST_USER_PASSWORD"):
        if key in parsed:
            script_env[key] = parsed[key]
    if "K6_VERBOSE" in parsed:
        script_env["K6_VERBOSE"] = "true" if parsed["K6_VERBOSE"] else "false"
    if "INFLUXDB_TOKEN" in parsed:
        script_env["K6_INFLUXDB_USERNAME"] = "k6"
        script_env["K6_INFLUXDB_PASSWORD"] = parsed["INFLUXDB_TOKEN"]
    return {"source": path, "vars": out_vars, "script_env": script_env, "keys": sorted(keys)}


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        unknown = set(kwargs) - {"required"}
        if unknown:
            raise AnsibleLookupError("loadops.k6.legacy_env: unknown option(s) %s; only 'required' exists" % ", ".join(sorted(unknown)))
        required = boolean(kwargs.get("required", False), strict=False)
        candidates = [str(t) for t in self._flatten(terms) if t not in (None, "")]
        for candidate in candidates:
            path = os.path.expanduser(candidate)
            if os.path.isfile(path):
                values, lines = read_legacy_env(path)
                return [map_legacy_env(values, lines, path, display.warning)]
            if os.path.exists(path):
                raise AnsibleLookupError("legacy .env %s is not a regular file" % path)
        if required:
            raise AnsibleLookupError("legacy .env file %s does not exist (scenario_run_env_file)" % " or ".join(candidates))
        return [{"source": None, "vars": {}, "script_env": {}, "keys": []}]
