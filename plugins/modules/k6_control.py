#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: k6_control
short_description: Drive one k6 through its REST API on the load machine's loopback (fleet runs started in sync)
version_added: 0.1.0
description:
  - For a fleet run - one test on several load machines - every k6 is started with C(--paused --no-setup)
    and its REST API (C(--address), M(loadops.k6.k6_run) O(loadops.k6.k6_run#module:api_address)) on
    the loopback. This module, run on each load machine, talks to that API (C(/v1/status),
    C(/v1/setup)) to wait until k6 is ready, run the script's C(setup) function once on the first machine,
    hand its data to the others, and resume all of them at one moment.
  - O(action=wait_paused) polls C(GET /v1/status) until k6 is paused before its start (status 4,
    C(PausedBeforeRun)). k6 opens its API before it initializes the VUs, so an API that answers is
    not yet a k6 that is ready.
  - O(action=setup) runs the script's C(setup) function on this k6 (C(POST /v1/setup)) and returns its data.
    k6 runs it even when started with C(--no-setup). The module refuses before k6 is ready
    (status below 4); run O(action=wait_paused) first.
  - O(action=put_setup) gives this k6 setup data (C(PUT /v1/setup)), the RV(data) another k6 returned;
    its VUs get it on their first iteration.
  - O(action=resume) resumes k6 (C(PATCH /v1/status), paused false), at the epoch time O(at) by this
    machine's clock when given, and checks that it took.
  - O(action=stop) stops the test run (C(PATCH /v1/status), stopped true); k6 ends with exit code 103 (C(ScriptStoppedFromRESTAPI)).
  - O(action=status) reads C(GET /v1/status).
  - Every request goes to the loopback only, without proxies, with a 3 s timeout (the C(setup) function request
    with O(timeout)); errors name the address and the action.
author:
  - loadops.k6 developers (@loadops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: V(status) and V(wait_paused) run as usual; the other actions send nothing and report C(changed).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details:
      - V(status) and V(wait_paused) never change anything; V(stop) of a k6 that is gone or stopping reports no change.
      - V(setup), V(put_setup) and V(resume) act every time (a second V(resume) fails, k6 is no longer paused).
options:
  api_address:
    description:
      - Address of k6's REST API, C(host:port) - the C(--address) k6 was started with.
      - The host must be a loopback address (C(127.0.0.0/8), C([::1]) in brackets, or C(localhost)); k6's
        API has no authentication, so it is never reached over the network.
    type: str
    required: true
  action:
    description: What to do; see the description.
    type: str
    required: true
    choices: [wait_paused, setup, put_setup, resume, stop, status]
  timeout:
    description:
      - With V(wait_paused), seconds to wait for k6 to be ready before failing.
      - With V(setup), seconds to wait for the script's C(setup) function to return (k6's own C(setupTimeout)
        is 60 s by default).
    type: float
    default: 120
  data:
    description:
      - With V(put_setup), the setup data to give k6 - any JSON value, normally the RV(data) that
        V(setup) returned on another machine. Omitted or null means no setup data (as when
        C(setup) function returns nothing).
      - Setup data may carry secrets (tokens); the module never puts it in a message, and the
        C(loadops.k6) role registers the V(setup) result and runs the V(put_setup) task with C(no_log).
    type: raw
  at:
    description:
      - With V(resume), the epoch time (seconds, fractions allowed) at which to resume, by this machine's
        clock; the module sleeps until then. Refused when more than 300 s ahead or more than 30 s past.
      - Omitted, k6 is resumed at once.
    type: float
  jid:
    description:
      - With V(wait_paused), the id of the async job that runs M(loadops.k6.k6_run) for this k6
        (C(ansible_job_id) of the task started with C(async) and C(poll=0)). When that job ends while
        the module waits - k6 died during its init - the module fails at once instead of waiting for
        O(timeout).
    type: str
  async_dir:
    description:
      - Directory of Ansible's async job status files on this host, where O(jid) is looked up.
      - The task that started the job returns its status file as C(results_file); its directory is
        the safest value. Otherwise the C(async_dir) shell option (E(ANSIBLE_ASYNC_DIR)), by default
        V(~/.ansible_async).
    type: path
    default: ~/.ansible_async
  lease_file:
    description:
      - The run's lease file (M(loadops.k6.k6_run) O(loadops.k6.k6_run#module:lease_file)). While this
        module runs, it renews the lease every second, so a start that waits on slow machines (VUs to
        initialize, a long C(setup) function, the agreed instant) does not outlast
        O(loadops.k6.k6_run#module:lease_ttl). It never creates the file, and stops renewing when the
        file is gone (the lease was dropped).
      - The renewals end with the module - at its O(timeout) at the latest, or with V(resume) just after
        O(at) - so a controller that is gone keeps a run alive that long at most.
      - Not renewed in check mode.
    type: path
notes:
  - k6 status numbers (C(lib.ExecutionStatus) in k6 v1.1.0) - 0 Created, 1 InitVUs, 2 InitExecutors,
    3 InitDone, 4 PausedBeforeRun, 5 Started, 6 Setup, 7 Running, 8 Teardown, 9 Ended, 10 Interrupted.
  - k6 v1.1.0 answers 200 to a C(PATCH /v1/status) whose body is not the JSON:API envelope (for example a
    bare C({"paused":false})) and does nothing; this module always sends the envelope and checks the result.
  - A short test may end, and its API close, right after the resume; the module then relies on the
    answer to its C(PATCH).
seealso:
  - module: loadops.k6.k6_run
  - module: loadops.k6.k6_lease
  - name: k6 REST API
    description: The API this module drives.
    link: https://grafana.com/docs/k6/latest/reference/k6-rest-api/
"""

EXAMPLES = r"""
- name: Wait until k6 has initialized its VUs and is paused before its start
  loadops.k6.k6_control:
    api_address: 127.0.0.1:6565
    action: wait_paused
    jid: "{{ k6_job.ansible_job_id }}"
    async_dir: "{{ k6_job.results_file | dirname }}"
    timeout: 120

- name: Run setup() once, on the first load machine
  loadops.k6.k6_control:
    api_address: 127.0.0.1:6565
    action: setup
  register: __k6_setup
  no_log: true
  when: inventory_hostname == ansible_play_hosts[0]

- name: Give the others the same setup data
  loadops.k6.k6_control:
    api_address: 127.0.0.1:6565
    action: put_setup
    data: "{{ hostvars[ansible_play_hosts[0]].__k6_setup.data }}"
  no_log: true
  when: inventory_hostname != ansible_play_hosts[0]

- name: Resume every k6 at the same moment
  loadops.k6.k6_control:
    api_address: 127.0.0.1:6565
    action: resume
    at: "{{ _start_at }}"
  register: resumed

- name: Stop the run
  loadops.k6.k6_control:
    api_address: 127.0.0.1:6565
    action: stop
"""

RETURN = r"""
status:
  description: k6's execution status number (see the notes), after the action.
  returned: with O(action=wait_paused), O(action=resume), O(action=status), and O(action=stop) when k6 answered
  type: int
  sample: 4
status_name:
  description: The name of RV(status) in k6's source (C(PausedBeforeRun), C(Running), ...).
  returned: when RV(status) is
  type: str
  sample: PausedBeforeRun
paused:
  description: Whether k6 is paused.
  returned: with O(action=status)
  type: bool
  sample: true
running:
  description: Whether the test has started and not yet ended.
  returned: with O(action=status)
  type: bool
  sample: false
vus:
  description: Currently active VUs.
  returned: with O(action=status)
  type: int
  sample: 0
waited_s:
  description: Seconds O(action=wait_paused) waited.
  returned: with O(action=wait_paused)
  type: float
  sample: 1.42
job_result:
  description:
    - With O(action=wait_paused) and O(jid), when the job ended before k6 was ready - the job's C(msg)
      and C(verdict) only (never its invocation).
  returned: when the job ended before k6 was ready
  type: dict
  sample: {"msg": "k6 could not load the script", "verdict": "script_error"}
data:
  description:
    - With O(action=setup), the value the script's C(setup) function returned (any JSON value; null when it
      returned nothing). With O(action=put_setup), what k6 now holds. Null in check mode.
    - May carry secrets; register it with C(no_log).
  returned: with O(action=setup) and O(action=put_setup)
  type: raw
  sample: {"token": "abc", "n": 42}
resumed_at:
  description: Epoch time, by this machine's clock, taken just before the C(PATCH) that resumed k6 was sent.
  returned: with O(action=resume), not in check mode
  type: float
  sample: 1764576000.003
late_ms:
  description: Milliseconds RV(resumed_at) came after O(at) (negative when early).
  returned: with O(action=resume) and O(at), not in check mode
  type: float
  sample: 3.1
"""

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.loadops.k6.plugins.module_utils.k6_jobs import LeaseKeeper, read_job

# lib/execution.go in k6 v1.1.0: `type ExecutionStatus uint32`, the constants in iota order.
EXECUTION_STATUS = {
    0: "Created",
    1: "InitVUs",
    2: "InitExecutors",
    3: "InitDone",
    4: "PausedBeforeRun",
    5: "Started",
    6: "Setup",
    7: "Running",
    8: "Teardown",
    9: "Ended",
    10: "Interrupted",
}
PAUSED_BEFORE_RUN = 4
REQUEST_TIMEOUT_S = 3.0
POLL_INTERVAL_S = 0.2
AT_MAX_AHEAD_S = 300.0
AT_MAX_BEHIND_S = 30.0
RESUME_RETRIES = 2
RESUME_RETRY_WINDOW_S = 2.0


class ControlError(Exception):
    """A failure with its message for the task; REFUSED when nothing listens on the address."""

    def __init__(self, msg, refused=False, **result):
        super().__init__(msg)
        self.msg = msg
        self.refused = refused
        self.result = result


def parse_address(value):
    """'127.0.0.1:6565' | 'localhost:6565' | '[::1]:6565' -> (host for a URL, port). Loopback only."""
    text = (value or "").strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ControlError("api_address %r is not host:port (for example 127.0.0.1:6565)" % value)
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare.lower() == "localhost":
        return "localhost", int(port)
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback or (ip.version == 6 and bare == host):
        raise ControlError("api_address %r: the host must be a loopback address (127.0.0.0/8, [::1] or localhost); "
                           "k6's REST API has no authentication and is only driven on the load machine itself" % value)
    return ("[%s]" % bare if ip.version == 6 else bare), int(port)


def job_status(async_dir, jid):
    """(finished, job_result) of the async job, read as ansible.builtin.async_status (and k6_lease) reads it."""
    results_file, found, finished, result = read_job(async_dir, jid)
    if not found:
        return True, {"msg": "the job's status file %s is gone" % results_file, "verdict": None}
    if not finished:
        return False, None
    return True, {"msg": result.get("msg"), "verdict": result.get("verdict")}


def status_attributes(document):
    """The attributes of k6's JSON:API status document."""
    try:
        attributes = document["data"]["attributes"]
    except (KeyError, TypeError):
        attributes = None
    if not isinstance(attributes, dict) or not isinstance(attributes.get("status"), int):
        raise ControlError("k6 answered with no status: %s" % json.dumps(document)[:300])
    return attributes


def named(attributes):
    status = attributes["status"]
    return {"status": status, "status_name": EXECUTION_STATUS.get(status, "unknown")}


def envelope(**attributes):
    """PATCH /v1/status body. k6 reads only data.attributes; anything else is a 200 that does nothing."""
    return {"data": {"type": "status", "id": "default", "attributes": attributes}}


class K6Api(object):
    """HTTP to one k6 REST API (api/v1), loopback only, no proxies."""

    def __init__(self, address, action):
        self.address = address
        self.action = action
        host, port = parse_address(address)
        self.base = "http://%s:%d" % (host, port)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def where(self):
        return "k6 API at %s (%s)" % (self.address, self.action)

    def request(self, method, path, body=None, raw_body=None, timeout=REQUEST_TIMEOUT_S):
        """The decoded JSON answer (None when empty). Raises ControlError."""
        payload = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=payload, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with self.opener.open(req, timeout=timeout) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            raise ControlError("%s: %s %s answered HTTP %d: %s" % (self.where(), method, path, exc.code, api_error(exc)))
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, ConnectionRefusedError):
                raise ControlError("%s: nothing listens there (k6 not started yet, or already ended)" % self.where(),
                                   refused=True)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise ControlError("%s: %s %s got no answer within %g s" % (self.where(), method, path, timeout))
            raise ControlError("%s: %s %s failed: %s" % (self.where(), method, path, reason))
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise ControlError("%s: %s %s answered with no JSON" % (self.where(), method, path))

    def status(self):
        return status_attributes(self.request("GET", "/v1/status"))


def api_error(exc):
    """k6's apiError body {"errors": [{"title", "detail"}]} as text (bounded)."""
    try:
        errors = json.loads(exc.read() or b"{}").get("errors") or []
        text = "; ".join("%s: %s" % (e.get("title"), e.get("detail")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError, OSError):
        text = ""
    return (text or exc.reason or "")[:500]


class K6Control(object):
    """The actions. Each returns the result dict or raises ControlError."""

    def __init__(self, params, check_mode=False, clock=time.time, sleep=time.sleep):
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.api = K6Api(params["api_address"], params["action"])

    def run(self):
        actions = {"status": self.do_status, "wait_paused": self.do_wait_paused, "setup": self.do_setup,
                   "put_setup": self.do_put_setup, "resume": self.do_resume, "stop": self.do_stop}
        return actions[self.params["action"]]()

    def do_status(self):
        attributes = self.api.status()
        return dict(named(attributes), changed=False, paused=bool(attributes.get("paused")),
                    running=bool(attributes.get("running")), vus=attributes.get("vus"))

    def do_wait_paused(self):
        started = self.clock()
        deadline = started + self.params["timeout"]
        last = "no answer yet"
        while True:
            try:
                attributes = self.api.status()
            except ControlError as exc:  # not listening yet, or busy initializing: ask again
                attributes, last = None, exc.msg
            if attributes is not None:
                if attributes["status"] == PAUSED_BEFORE_RUN and attributes.get("paused") is True:
                    return dict(named(attributes), changed=False, waited_s=round(self.clock() - started, 3))
                if attributes["status"] > PAUSED_BEFORE_RUN:
                    raise ControlError("%s: k6 is no longer waiting to start (status %d %s); was it started with --paused?"
                                       % ((self.api.where(),) + tuple(named(attributes).values())), **named(attributes))
                last = "status %d %s" % tuple(named(attributes).values())
            self.check_job()
            if self.clock() >= deadline:
                raise ControlError("%s: k6 was not paused and ready within %g s (last: %s)"
                                   % (self.api.where(), self.params["timeout"], last))
            self.sleep(POLL_INTERVAL_S)

    def check_job(self):
        if not self.params.get("jid"):
            return
        finished, job_result = job_status(self.params["async_dir"], self.params["jid"])
        if finished:
            raise ControlError("k6 ended before it was ready: %s" % job_result.get("msg"), job_result=job_result)

    def do_setup(self):
        if self.check_mode:
            return {"changed": True, "data": None}
        attributes = self.api.status()
        if attributes["status"] < PAUSED_BEFORE_RUN:
            raise ControlError("%s: k6 is still initializing (status %d %s); run action wait_paused first"
                               % ((self.api.where(),) + tuple(named(attributes).values())))
        answer = self.api.request("POST", "/v1/setup", timeout=max(self.params["timeout"], REQUEST_TIMEOUT_S))
        return {"changed": True, "data": setup_data(answer, self.api)}

    def do_put_setup(self):
        if self.check_mode:
            return {"changed": True, "data": None}
        data = self.params.get("data")
        # An empty body is "no setup data" for k6 (setup() returned undefined); JSON null would be null.
        raw = b"" if data is None else json.dumps(data).encode()
        answer = self.api.request("PUT", "/v1/setup", raw_body=raw)
        return {"changed": True, "data": setup_data(answer, self.api)}

    def do_stop(self):
        if self.check_mode:
            return {"changed": True}
        try:
            attributes = self.api.status()
            if attributes.get("stopped") or attributes["status"] >= 9:
                return dict(named(attributes), changed=False)
            attributes = status_attributes(self.api.request("PATCH", "/v1/status", envelope(stopped=True)))
        except ControlError as exc:
            if exc.refused:
                return {"changed": False}
            raise
        return dict(named(attributes), changed=True)

    def do_resume(self):
        at = self.params.get("at")
        if at is not None:
            self.check_at(at)
        if self.check_mode:
            return {"changed": True}
        if at is not None:
            self.wait_until(at)
        resumed_at, attributes = self.resume_until_taken()
        result = dict(named(attributes), changed=True, resumed_at=round(resumed_at, 6))
        if at is not None:
            result["late_ms"] = round((resumed_at - at) * 1000.0, 3)
        return result

    def check_at(self, at):
        ahead = at - self.clock()
        if ahead > AT_MAX_AHEAD_S:
            raise ControlError("%s: at is %.1f s ahead of this machine's clock; more than %g s is refused"
                               % (self.api.where(), ahead, AT_MAX_AHEAD_S))
        if -ahead > AT_MAX_BEHIND_S:
            raise ControlError("%s: at is %.1f s in the past by this machine's clock; more than %g s is refused "
                               "(clocks out of sync, or the play was too slow)" % (self.api.where(), -ahead, AT_MAX_BEHIND_S))

    def wait_until(self, at):
        while True:
            ahead = at - self.clock()
            if ahead <= 0:
                return
            # sleep coarse, then short steps: time.sleep may overshoot by a scheduler tick
            self.sleep(ahead - 0.02 if ahead > 0.05 else min(ahead, 0.001))

    def resume_until_taken(self):
        """PATCH paused=false until k6 says it is no longer paused: (epoch just before that PATCH, attributes)."""
        first = self.clock()
        for attempt in range(RESUME_RETRIES + 1):
            sent_at = self.clock()
            answered = None
            try:
                answered = status_attributes(self.api.request("PATCH", "/v1/status", envelope(paused=False)))
            except ControlError as exc:
                if exc.refused or attempt == RESUME_RETRIES:
                    raise
            if answered is not None and answered.get("paused") is False:
                return sent_at, self.confirmed(answered)
            try:
                now = self.api.status()
            except ControlError:
                now = None
            if now is not None and not still_paused(now):
                return sent_at, now
            if attempt < RESUME_RETRIES:
                self.sleep(max(0.0, min(0.5, first + RESUME_RETRY_WINDOW_S - self.clock())))
        raise ControlError("%s: resume did not take: k6 answered but is still paused after %d tries"
                           % (self.api.where(), RESUME_RETRIES + 1), **named(now or answered or {"status": PAUSED_BEFORE_RUN}))

    def confirmed(self, answered):
        """GET /v1/status after a PATCH that said resumed; a short test may already be over (API closed)."""
        try:
            now = self.api.status()
        except ControlError:
            return answered
        if still_paused(now):
            raise ControlError("%s: resume did not take: k6 answered paused false, then reports paused again"
                               % self.api.where(), **named(now))
        return now


def still_paused(attributes):
    return attributes.get("paused") is not False and attributes["status"] <= PAUSED_BEFORE_RUN


def setup_data(answer, api):
    """data.attributes.data of k6's setupData document; absent means none (setup() returned undefined)."""
    try:
        attributes = answer["data"]["attributes"]
    except (KeyError, TypeError):
        raise ControlError("%s: k6 answered with no setup data document" % api.where())
    return attributes.get("data") if isinstance(attributes, dict) else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            api_address=dict(type="str", required=True),
            action=dict(type="str", required=True, choices=["wait_paused", "setup", "put_setup", "resume", "stop", "status"]),
            timeout=dict(type="float", default=120.0),
            data=dict(type="raw"),
            at=dict(type="float"),
            jid=dict(type="str"),
            async_dir=dict(type="path", default="~/.ansible_async"),
            lease_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        with LeaseKeeper(None if module.check_mode else module.params["lease_file"]):
            result = K6Control(module.params, check_mode=module.check_mode).run()
        module.exit_json(**result)
    except ControlError as exc:
        module.fail_json(msg=exc.msg, **exc.result)


if __name__ == "__main__":
    main()
