# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: influxql_string
short_description: A value as an InfluxQL string literal, quoted and escaped
version_added: 0.1.0
description:
  - Returns the value in single quotes with InfluxQL's escapes, for passwords in
    C(CREATE USER ... WITH PASSWORD '...') and C(SET PASSWORD FOR ... = '...').
  - >-
    InfluxDB 1.x's scanner (influxql ScanString) reads a backslash followed by a backslash, a single
    quote, a double quote or C(n) as that character (C(n) as a newline); any other backslash sequence
    is an error, and so is a raw newline. So backslashes, single quotes and newlines are escaped with
    a backslash; everything else is literal.
  - A carriage return or a NUL character cannot be written in an InfluxQL string at all (the scanner
    reads a carriage return as a newline and NUL as the end of the query), so the filter refuses them.
  - For names (users, databases) use P(loadops.k6.influxql_ident#filter).
positional: _input
options:
  _input:
    description: The value (a password). Numbers are turned into text.
    type: str
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Create a user whose password may hold quotes and backslashes
  ansible.builtin.uri:
    url: http://127.0.0.1:8086/query
    method: POST
    body_format: form-urlencoded
    body:
      q: CREATE USER {{ name | loadops.k6.influxql_ident }} WITH PASSWORD {{ password | loadops.k6.influxql_string }}
  no_log: true
"""

RETURN = r"""
_value:
  description: >-
    The quoted literal. For example the password C(it's) becomes C('it\\'s') and a single backslash
    becomes two backslashes between single quotes.
  type: str
"""

from ansible.errors import AnsibleFilterError

# The escapes influxql's ScanString understands, for the characters that need one.
_ESCAPES = {"\\": "\\\\", "\n": "\\n"}


def influxql_quote(value, quote, what):
    """value in `quote` quotes, escaped the way influxql's ScanString reads it back."""
    if value is None or isinstance(value, (dict, list, tuple, set, bool)):
        raise AnsibleFilterError("%s expects text, got %s" % (what, type(value).__name__))
    text = str(value)
    if "\r" in text or "\x00" in text:
        # Not the value itself in the message: it is usually a password.
        raise AnsibleFilterError("%s: the value holds a carriage return or a NUL character, which an InfluxQL "
                                 "quoted string cannot carry; choose one without" % what)
    escapes = dict(_ESCAPES)
    escapes[quote] = "\\" + quote
    return quote + "".join(escapes.get(char, char) for char in text) + quote


def influxql_string(value):
    return influxql_quote(value, "'", "influxql_string")


class FilterModule(object):
    def filters(self):
        return {"influxql_string": influxql_string}
