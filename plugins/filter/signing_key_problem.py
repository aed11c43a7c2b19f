# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: signing_key_problem
short_description: Why a downloaded repository key file is not exactly the expected key (empty when it is)
version_added: 0.1.0
description:
  - Reads the output of C(gpg --batch --with-colons --show-keys <file>) and says what is wrong with the file
    as an apt C(signed-by) keyring, or returns an empty string when nothing is.
  - The file must hold exactly one primary key, and that key's own fingerprint must equal O(fingerprint).
    A second key (even next to the expected one) is refused, since apt would trust every key in the file;
    so is a file where only a subkey carries the expected fingerprint, and one gpg could not read.
  - Subkeys of the expected key are accepted.
positional: _input
options:
  _input:
    description: The standard output of C(gpg --batch --with-colons --show-keys <file>), as text or lines.
    type: raw
    required: true
  fingerprint:
    description: The expected fingerprint (40 or 64 hex digits; spaces and case do not matter).
    type: str
    required: true
  source:
    description: Where the key came from, for the message.
    type: str
    default: the key file
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Check the key is Grafana's and only Grafana's
  ansible.builtin.assert:
    that: _problem == ''
    fail_msg: "{{ _problem }}"
  vars:
    _problem: "{{ gpg_show.stdout | loadops.k6.signing_key_problem(fingerprint=expected, source='https://apt.grafana.com/gpg.key') }}"
"""

RETURN = r"""
_value:
  description: Empty when the file holds exactly the expected key; otherwise one sentence naming the source,
    the expected fingerprint and what was found.
  type: str
"""

import re

from ansible.errors import AnsibleFilterError

PRIMARY = ("pub", "sec")
FINGERPRINT = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")


def normalize(fingerprint):
    return re.sub(r"\s+", "", str(fingerprint or "")).upper()


def primary_fingerprints(lines):
    """The fingerprint of every primary key, in file order (None for a key without an fpr record)."""
    found = []
    expect_primary_fpr = False
    for line in lines:
        fields = line.split(":")
        kind = fields[0]
        if kind in PRIMARY:
            found.append(None)
            expect_primary_fpr = True
        elif kind in ("sub", "ssb"):
            expect_primary_fpr = False
        elif kind == "fpr" and expect_primary_fpr:
            found[-1] = normalize(fields[9]) if len(fields) > 9 else None
            expect_primary_fpr = False
    return found


def signing_key_problem(gpg_output, fingerprint, source="the key file"):
    expected = normalize(fingerprint)
    if not FINGERPRINT.match(expected):
        raise AnsibleFilterError("signing_key_problem: the expected fingerprint %r is not 40 or 64 hex digits" % fingerprint)
    if isinstance(gpg_output, (list, tuple)):
        lines = [str(line) for line in gpg_output]
    elif isinstance(gpg_output, str):
        lines = gpg_output.splitlines()
    else:
        raise AnsibleFilterError("signing_key_problem expects the output of gpg --with-colons --show-keys, got %s"
                                 % type(gpg_output).__name__)
    keys = primary_fingerprints(lines)
    if not keys:
        return "%s holds no OpenPGP key gpg can read; expected the key %s." % (source, expected)
    if len(keys) > 1:
        return ("%s holds %d keys (%s); expected exactly one, %s. apt would trust every key in the file, "
                "so it is refused." % (source, len(keys), ", ".join(key or "no fingerprint" for key in keys), expected))
    if keys[0] != expected:
        return "%s holds the key %s, not the expected %s." % (source, keys[0] or "without a fingerprint", expected)
    return ""


class FilterModule(object):
    def filters(self):
        return {"signing_key_problem": signing_key_problem}
