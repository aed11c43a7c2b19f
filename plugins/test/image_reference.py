# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: image_reference
short_description: Is the value a docker image reference
version_added: 0.1.0
description:
  - True for C([registry[:port]/]path[:tag][@sha256:digest]) with a lower-case path, no spaces
    and no empty tag, e.g. V(loadops/k6:1.1.0) or V(registry.example:5000/influxdb:2.7.12).
  - The same grammar the M(loadops.k6.k6_run) module applies to its O(loadops.k6.k6_run#module:image)
    option; the roles use it in their preflight checks.
positional: _input
options:
  _input:
    description: The value to check.
    type: raw
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Check the image before anything is built
  ansible.builtin.assert:
    that: k6_runner_docker_image is loadops.k6.image_reference
    fail_msg: "{{ k6_runner_docker_image | to_json }} is not an image reference such as loadops/k6:1.1.0"
"""

RETURN = r"""
_value:
  description: Whether the input is an image reference.
  type: boolean
"""

from ansible_collections.loadops.k6.plugins.module_utils.k6_docker import is_image_reference


class TestModule(object):
    def tests(self):
        return {"image_reference": is_image_reference}
