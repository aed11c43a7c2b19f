# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status file of an Ansible async job, read the way ansible.builtin.async_status reads it, and
the controller's lease on a k6 run (a file whose mtime the controller renews; k6_run stops k6 when
it is older than lease_ttl).

Private to the loadops.k6 collection: no stability promise outside it. Standard library only.
Shared by k6_lease (renew and poll in one task) and k6_control (stop waiting when k6_run ended; keep
the lease while a fleet run starts).
"""
from __future__ import annotations

import json
import os
import threading
import time


def read_json_object(path):
    """A JSON object file as a dict, or None when it is missing, unreadable, cut off or not an object."""
    if not path:
        return None
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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


def renew_lease(path, check_mode=False, now=None):
    """(renewed, age in seconds before this renewal or None). Never creates the file."""
    now = time.time() if now is None else now
    try:
        age = max(0.0, now - os.stat(path).st_mtime)
    except FileNotFoundError:
        return False, None
    if check_mode:
        return False, round(age, 3)
    try:
        os.utime(path, (now, now))
    except FileNotFoundError:  # removed between the stat and the touch: the run has ended
        return False, round(age, 3)
    return True, round(age, 3)


class LeaseKeeper(object):
    """Renews the lease PATH every INTERVAL seconds in a daemon thread while a module waits on k6
    (a context manager). Renewal stops with the block, or for good once the file is gone (a dropped
    lease is never brought back). The module's own time limit bounds how long it renews after the
    controller is gone."""

    def __init__(self, path, interval=1.0, renew=renew_lease):
        self.path = path
        self.interval = interval
        self.renew = renew
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = None

    def tick(self):
        """One renewal; False once the lease file is gone."""
        renewed, age = self.renew(self.path)
        self.renewals += 1 if renewed else 0
        return age is not None

    def _loop(self):
        while not self._stop.wait(self.interval):
            if not self.tick():
                return

    def __enter__(self):
        if self.path and self.tick():
            self._thread = threading.Thread(target=self._loop, name="lease", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1.0)
        if self.path:
            self.tick()
        return False
