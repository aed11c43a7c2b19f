# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: credential
short_description: Read, or generate once, a secret kept on the controller for one host
version_added: 0.1.0
description:
  - Returns the secret stored in C(<dir>/<host>/<name>) on the controller, generating a random one
    (letters and digits) the first time. The directory is created with mode 0700 and the file
    with mode 0600, so secrets never land in the inventory, the checkout or a log.
  - Every role of the collection that needs the same secret (the InfluxDB users, the Grafana
    admin) asks this lookup, so one place decides where secrets live.
options:
  _terms:
    description: Secret names, e.g. V(influxdb_k6).
    required: true
    type: list
    elements: str
  host:
    description: Inventory host the secret belongs to.
    type: str
    required: true
  length:
    description: Length of a generated secret.
    type: int
    default: 32
  dir:
    description: Base directory on the controller.
    type: path
    default: ~/.loadops/credentials
    env:
      - name: LOADOPS_CREDENTIALS_DIR
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: The InfluxDB password k6 writes with
  ansible.builtin.set_fact:
    _k6_password: "{{ lookup('loadops.k6.credential', 'influxdb_k6', host=inventory_hostname) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One secret per name.
  type: list
  elements: str
"""

import os
import re
import secrets
import string

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_ALPHABET = string.ascii_letters + string.digits


def read_or_create(base, host, name, length=32):
    """The secret at base/host/name, created (0600, dirs 0700) when absent."""
    for what, value in (("host", host), ("name", name)):
        if not value or not _SAFE.match(value) or value in (".", ".."):
            raise AnsibleLookupError("credential %s %r may only hold letters, digits, '_', '.' and '-'" % (what, value))
    if length < 16:
        raise AnsibleLookupError("credential length %d is too short; use 16 or more" % length)
    directory = os.path.join(os.path.expanduser(base), host)
    path = os.path.join(directory, name)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with open(path) as handle:
                value = handle.read().strip()
            if not value:
                raise AnsibleLookupError("credential file %s is empty; delete it to generate a new secret" % path)
            return value
        value = "".join(secrets.choice(_ALPHABET) for _i in range(length))
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value
    except OSError as exc:
        raise AnsibleLookupError("cannot keep credential %s: %s" % (path, exc.strerror))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        base, host, length = self.get_option("dir"), self.get_option("host"), self.get_option("length")
        return [read_or_create(base, host, term, length) for term in terms]
