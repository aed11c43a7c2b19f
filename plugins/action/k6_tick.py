# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tick of a k6 run, in one task: keep the lease, then read k6's progress (see the module's docs)."""
from __future__ import annotations

import json
import time

from ansible.plugins.action import ActionBase
from ansible_collections.loadops.k6.plugins.filter.k6_progress import k6_progress
from ansible_collections.loadops.k6.plugins.filter.lease_wait_over import controller_alive

# Seconds between two renewals (plus the time a renewal takes, about half a second).
RENEW_EVERY_S = 2.0
# k6's API must answer well within the lease's time to live.
API_TIMEOUT_S = 3

ARGUMENT_SPEC = {
    "lease_file": {"type": "path", "required": True},
    "jid": {"type": "str", "required": True},
    "async_dir": {"type": "path", "required": True},
    "until": {"type": "float", "required": True},
    "live_file": {"type": "path"},
    "api_port": {"type": "int"},
    "label": {"type": "str", "default": ""},
    "started": {"type": "float", "default": 0},
    "total_s": {"type": "float", "default": 0},
    "previous": {"type": "dict", "default": {}},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _lease(self, task_vars, args, live_file=None, renew=True):
        module_args = {"jid": args["jid"], "async_dir": args["async_dir"]}
        if renew:
            module_args["path"] = args["lease_file"]
        if live_file:
            module_args["live_file"] = live_file
        return self._execute_module(module_name="loadops.k6.k6_lease", module_args=module_args, task_vars=task_vars)

    def _hold(self, task_vars, args):
        """Renew every RENEW_EVERY_S until `until` (controller clock); the last renewal reads live_file.

        Returns (the last k6_lease result, renewals) or (a failed result, renewals).
        """
        renewals = 0
        while True:
            if not controller_alive():
                return {"failed": True, "msg": "ansible-playbook is gone; the lease is left to expire"}, renewals
            remaining = args["until"] - time.time()
            last = remaining <= 0
            status = self._lease(task_vars, args, live_file=args["live_file"] if last else None)
            renewals += 1
            if status.get("failed") or status.get("finished") or last:
                return status, renewals
            time.sleep(min(RENEW_EVERY_S, remaining))

    def _metrics(self, task_vars, port):
        """k6's /v1/metrics from the load machine's loopback, parsed; None when k6 does not answer."""
        answer = self._execute_module(module_name="ansible.builtin.uri", task_vars=task_vars, module_args={
            "url": "http://127.0.0.1:%d/v1/metrics" % port, "return_content": True, "timeout": API_TIMEOUT_S})
        if answer.get("failed") or answer.get("status") != 200:
            return None
        body = answer.get("json")
        if body is None:  # k6 answers JSON as text/plain
            try:
                body = json.loads(answer.get("content") or "")
            except ValueError:
                return None
        return body

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1])
        previous = args["previous"] or {}
        if previous.get("finished"):
            # The run ended at an earlier tick: nothing to keep, nothing to say.
            result.update(skipped=True, changed=False, finished=True, verdict=previous.get("verdict"),
                          live=previous.get("live"), msg="")
            return result
        try:
            status, renewals = self._hold(task_vars, args)
            if status.get("failed"):
                result.update(status)
                result["failed"] = True
                return result
            finished = bool(status.get("finished"))
            line = ""
            if not finished and args["api_port"]:
                body = self._metrics(task_vars, args["api_port"])
                if body is None:
                    # k6 may have ended since the renewal: then its API no longer answers.
                    again = self._lease(task_vars, args, renew=False)
                    finished = bool(again.get("finished"))
                    status = dict(status, verdict=again.get("verdict")) if finished else status
                if not finished:
                    progress = k6_progress(body, elapsed_s=time.time() - args["started"], total_s=args["total_s"])
                    line = ("%s %s" % (args["label"], progress)).strip()
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=False, finished=finished, verdict=status.get("verdict") if finished else None,
                      live=status.get("live"), renewals=renewals, msg=line)
        return result
