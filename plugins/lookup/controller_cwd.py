# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: controller_cwd
short_description: The directory ansible-playbook was started from, on the controller
version_added: 0.1.0
description:
  - Returns the working directory of the controller's C(ansible-playbook) process (C(os.getcwd())),
    the directory the user ran the command from.
  - The C(scenario_run) role keeps its controller-side files there by default (C(results/),
    C(baselines/), the legacy C(.env)), so that nothing is written inside an installed collection
    (C(playbook_dir) of C(ansible-playbook loadops.k6.smoke) is inside the collection).
  - Unlike C(lookup('env', 'PWD')), it is exact when a parent process changed the directory without
    updating E(PWD) (a CI runner, Python's C(subprocess) with C(cwd=)).
  - When the working directory no longer exists, the user's home directory is returned, with a warning.
options: {}
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Show where results land by default
  ansible.builtin.debug:
    msg: "{{ lookup('loadops.k6.controller_cwd') }}/results"
"""

RETURN = r"""
_raw:
  description: One absolute path.
  type: list
  elements: path
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

display = Display()


def controller_cwd():
    """The process's working directory; the home directory when it was removed."""
    try:
        return os.getcwd()
    except OSError as exc:
        home = os.path.expanduser("~")
        display.warning("loadops.k6.controller_cwd: the working directory of ansible-playbook is gone (%s); "
                        "using %s instead" % (exc, home))
        return home


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError("loadops.k6.controller_cwd takes no terms, got %r" % (terms,))
        self.set_options(var_options=variables, direct=kwargs)
        return [controller_cwd()]
