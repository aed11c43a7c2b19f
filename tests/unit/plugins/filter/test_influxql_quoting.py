# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/influxql_string.py and influxql_ident.py.

The reference is influxql's scanner (ScanString): after a backslash only n, \\, " and ' are valid;
a raw newline ends the string with an error. `scan` below is a transcription of it, so that every
quoted value is read back to itself. tests/integration/test_influxdb_quoting_live.py does the same
against a real influxd.
"""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.influxql_ident import influxql_ident
from ansible_collections.loadops.k6.plugins.filter.influxql_string import influxql_string

ESCAPES = {"n": "\n", "\\": "\\", '"': '"', "'": "'"}


def scan(literal):
    """influxql.ScanString: the value of a quoted literal; raises on what InfluxDB would reject."""
    ending, rest = literal[0], iter(literal[1:])
    out = []
    for char in rest:
        if char == ending:
            assert next(rest, None) is None, "text after the closing quote: %r" % literal
            return "".join(out)
        if char in "\n\r\x00":
            raise ValueError("bad string")
        if char == "\\":
            escaped = next(rest, "")
            if escaped not in ESCAPES:
                raise ValueError("bad escape")
            out.append(ESCAPES[escaped])
        else:
            out.append(char)
    raise ValueError("unterminated")


def test_a_password_with_quotes_and_backslashes_is_escaped():
    assert influxql_string("it's\\a\"test") == "'it\\'s\\\\a\"test'"
    assert influxql_string("plain") == "'plain'"
    assert influxql_string("") == "''"
    assert influxql_string(1234) == "'1234'"


@pytest.mark.parametrize("value", [
    "it's\\a\"test", "'", "\\", "\\'", "'; DROP DATABASE k6; --", "a\\nb", "line\nbreak", "ünïcødé €", "\\\\''\"\"",
    "ends with backslash\\", "tab\there",
])
def test_every_value_reads_back_to_itself(value):
    assert scan(influxql_string(value)) == value
    assert scan(influxql_ident(value)) == value


def test_the_unescaped_quote_would_have_ended_the_string():
    # What the role did before: '...' around the raw value.
    with pytest.raises(AssertionError):
        scan("'" + "it's" + "'")
    with pytest.raises(ValueError):
        scan("'" + "a\\b" + "'")


def test_identifiers_use_double_quotes():
    assert influxql_ident("k6_writer") == '"k6_writer"'
    assert influxql_ident('we"ird\\name') == '"we\\"ird\\\\name"'
    assert influxql_ident("it's") == '"it\'s"'


@pytest.mark.parametrize("value", ["a\rb", "a\x00b"])
def test_characters_influxql_cannot_carry_are_refused_without_echoing_the_value(value):
    for quote in (influxql_string, influxql_ident):
        with pytest.raises(AnsibleFilterError) as err:
            quote(value)
        assert value not in str(err.value)


@pytest.mark.parametrize("value", [None, {"a": 1}, ["x"], True])
def test_non_text_is_refused(value):
    with pytest.raises(AnsibleFilterError):
        influxql_string(value)


def test_an_empty_identifier_is_refused():
    with pytest.raises(AnsibleFilterError):
        influxql_ident("")
