# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status file of an Ansible async job, read the way ansible.builtin.async_status reads it.

Private to the loadops.k6 collection: no stability promise outside it. Standard library only.
Shared by k6_lease (renew and poll in one task) and k6_control (stop waiting when k6_run ended).
"""
from __future__ import annotations

import json
import os


def read_job(async_dir, jid):
    """(results_file, found, finished, result): ``result`` is the job's own result once finished.

    A missing file counts as finished (the job was cleaned up, or never ran); a file that is not
    JSON yet (being written) or async_wrapper's first ``{"started": 1, "finished": 0}`` is running."""
    results_file = os.path.join(os.path.expanduser(async_dir), jid)
    try:
        with open(results_file) as handle:
            text = handle.read()
    except FileNotFoundError:
        return results_file, False, True, None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return results_file, True, False, None
    finished = "started" not in data or bool(data.get("finished"))
    return results_file, True, finished, (data if finished else None)
