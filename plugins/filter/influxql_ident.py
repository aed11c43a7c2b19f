# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: influxql_ident
short_description: A name as a quoted InfluxQL identifier
version_added: 0.1.0
description:
  - Returns the name in double quotes with InfluxQL's escapes, for user and database names in
    C(CREATE USER), C(SET PASSWORD FOR), C(GRANT), C(REVOKE), C(SHOW GRANTS FOR) and C(CREATE DATABASE).
  - InfluxDB 1.x reads a double-quoted identifier with the same scanner as a string literal (influxql
    C(ScanString)), so backslashes, double quotes and newlines are escaped; a carriage return or a NUL
    character is refused. A quoted identifier may be a keyword (C("user")).
  - For values (passwords) use P(loadops.k6.influxql_string#filter).
positional: _input
options:
  _input:
    description: The name.
    type: str
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Grant a user read access
  ansible.builtin.uri:
    url: http://127.0.0.1:8086/query
    method: POST
    body_format: form-urlencoded
    body:
      q: GRANT READ ON {{ 'k6' | loadops.k6.influxql_ident }} TO {{ 'grafana_reader' | loadops.k6.influxql_ident }}
"""

RETURN = r"""
_value:
  description: The quoted identifier, e.g. C("k6_writer") or C("a\\"b") for C(a"b).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.influxql_string import influxql_quote


def influxql_ident(value):
    if isinstance(value, str) and not value:
        raise AnsibleFilterError("influxql_ident: an InfluxQL identifier cannot be empty")
    return influxql_quote(value, '"', "influxql_ident")


class FilterModule(object):
    def filters(self):
        return {"influxql_ident": influxql_ident}
