# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Last stage of a run: exit code and evidence -> verdict, and the module's result.

Private to the loadops.k6 collection: no stability promise outside it. Pure: it reads what the
earlier stages collected (the inspect info, the supervision Outcome, the parsed summary) and
returns plain data. The vocabulary and its order are in verdicts.py; this file decides which
verdict a finished k6 gets and says it in a sentence.
"""
from __future__ import annotations

import re

from .k6_process import first_error
from .k6_summary import parse_thresholds
from .verdicts import is_accepted

# k6 1.1.0 exit codes (errext/exitcodes), as measured.
RC_OK = 0
RC_THRESHOLDS_FAILED = 99
RC_SETUP_TIMEOUT = 100
RC_TEARDOWN_TIMEOUT = 101
RC_INVALID_CONFIG = 104
RC_EXTERNAL_ABORT = 105
RC_SCRIPT_EXCEPTION = 107
RC_SCRIPT_ABORTED = 108
RC_MARKED_AS_FAILED = 110
RC_KILLED = (137, -9)  # SIGKILL as a shell reports it / as Python's subprocess reports it
RC_SIGNALLED_STOP = (-2, -15, 130, 143)  # SIGINT/SIGTERM that k6 did not get to handle

# What k6 logs when an abortOnFail threshold stops the run (k6 1.1.0):
#   thresholds on metrics 'http_req_duration' were crossed; at least one has abortOnFail
#   enabled, stopping test prematurely
_ABORT_ON_FAIL_LOG = re.compile(r"abortOnFail enabled|stopping test prematurely")
# OOM evidence a runner may append to the log (kernel, cgroup or container runtime wording).
_OOM_LOG = re.compile(r"oom[-_ ]?kill|out of memory|OOMKilled", re.IGNORECASE)

_INFLUX_WRITE_ERRORS = re.compile(r"(Couldn't write stats|failed to write|write failed|InfluxDB.*error)", re.I)
# k6 could not open its REST API (exit code 106): the address is the user's api_address.
RC_CANNOT_START_API = 106
_API_SERVER_ERROR = re.compile(r'msg="Error from API server".*?error="(?P<error>(?:[^"\\]|\\.)*)"')


def _threshold_list(summary_thresholds):
    if isinstance(summary_thresholds, dict):
        if isinstance(summary_thresholds.get("thresholds"), list):  # parse_summary's result
            summary_thresholds = summary_thresholds["thresholds"]
        else:  # a raw export: no declared object, so no abortOnFail either
            return parse_thresholds(summary_thresholds)
    if isinstance(summary_thresholds, (list, tuple)):
        return [t for t in summary_thresholds if isinstance(t, dict)]
    return []


def verdict_from(rc, summary_thresholds, log_text, oom_killed=False, timed_out=False,
                 interrupted=False):
    """One of VERDICTS for a finished (or killed) k6 process.

    ``rc``: k6's exit status (None or a negative signal number when it was killed).
    ``summary_thresholds``: the list from parse_thresholds or parse_summary's dict (these know
    abortOnFail from the declared thresholds), a raw export dict (they do not), or None.
    ``log_text``: k6's log (stderr), plus whatever OOM evidence the runner appended.
    The flags are what the runner observed itself (cgroup OOM counter, its own wall-clock
    limit, a stop it sent); they override the exit code unless k6 exited 0.

    Exit codes: 0 passed; 99 thresholds_failed, or aborted when a crossed threshold had
    abortOnFail or the log shows the early stop; 100/101 (setup/teardown timeout) and 107
    script_error; 104 config_error; 105 interrupted; 108 aborted (exec.test.abort); 110
    script_failed (exec.test.fail); 137/-9 oom_killed with evidence; anything else k6_error.
    """
    log_text = log_text or ""
    failed = rc != RC_OK
    if failed and (oom_killed or (rc in RC_KILLED and _OOM_LOG.search(log_text))):
        return "oom_killed"
    if failed and timed_out:
        return "timeout"
    if failed and interrupted:
        return "interrupted"
    if rc == RC_OK:
        return "passed"
    if rc == RC_THRESHOLDS_FAILED:
        crossed_abort = any(
            t.get("abort_on_fail") and t.get("passed") is False
            for t in _threshold_list(summary_thresholds)
        )
        if crossed_abort or _ABORT_ON_FAIL_LOG.search(log_text):
            return "aborted"
        return "thresholds_failed"
    if rc == RC_SCRIPT_ABORTED:
        return "aborted"
    if rc == RC_MARKED_AS_FAILED:
        return "script_failed"
    if rc in (RC_SCRIPT_EXCEPTION, RC_SETUP_TIMEOUT, RC_TEARDOWN_TIMEOUT):
        return "script_error"
    if rc == RC_INVALID_CONFIG:
        return "config_error"
    if rc == RC_EXTERNAL_ABORT or rc in RC_SIGNALLED_STOP:
        return "interrupted"
    return "k6_error"


def _failed_thresholds(result):
    failed = [t for t in result.get("thresholds", []) if not t.get("passed")]
    return failed, ", ".join("%s %s" % (t["metric"], t["expression"]) for t in failed[:5])


def verdict_sentence(verdict, result, log_tail):
    """One sentence for the verdict, naming what failed."""
    failed, names = _failed_thresholds(result)
    total = len(result.get("thresholds", []))
    return {
        "passed": "all %d thresholds held" % total,
        "thresholds_failed": "%d of %d thresholds crossed: %s" % (len(failed), total, names),
        "aborted": "the test was aborted early (abortOnFail threshold or exec.test.abort()): %s" % (names or first_error(log_tail)),
        "script_failed": "the script called exec.test.fail(): %s" % first_error(log_tail),
        "script_error": "the script failed to run: %s" % first_error(log_tail),
        "config_error": "k6 rejected the options or thresholds: %s" % first_error(log_tail),
        "oom_killed": "k6 was killed by the kernel's OOM killer at the memory limit; raise memory_limit or lower VUs",
        "timeout": "the run exceeded its timeout and was stopped",
        "interrupted": "the run was interrupted (SIGTERM/SIGINT) and stopped",
        "k6_error": "k6 failed (rc %s): %s" % (result.get("rc"), first_error(log_tail)),
    }.get(verdict, "k6 ended with rc %s" % result.get("rc"))


def api_address_problem(rc, log_text, api_address):
    """The sentence for k6's exit 106 (its REST API could not listen), naming api_address; else None."""
    if rc != RC_CANNOT_START_API:
        return None
    match = _API_SERVER_ERROR.search(log_text or "")
    why = match.group("error") if match else first_error(log_text)
    return ("k6 could not open its REST API at api_address %s (%s); give a free HOST:PORT on the load machine, "
            "or '' to run k6 without its REST API" % (api_address, why))


def judge(outcome, result, plan):
    """(verdict, msg or None) for a run that started: the exit code and evidence, then what they
    cannot say alone (an unbindable api_address, the controller's lease, a missing summary)."""
    verdict = verdict_from(outcome.rc, result.get("thresholds"), outcome.log_tail,
                           oom_killed=outcome.evidence.get("oom_killed", False),
                           timed_out=outcome.stop_reason == "timeout",
                           interrupted=outcome.stop_reason in ("interrupted", "lease"))
    msg = None
    if verdict == "k6_error":
        msg = api_address_problem(outcome.rc, outcome.log_tail, plan.api_address)
        verdict = "config_error" if msg else verdict
    if verdict == "interrupted" and outcome.stop_reason == "lease":
        msg = ("the controller's lease %s was not renewed for %g s (ansible-playbook was stopped, or lost the load "
               "machine), so k6 was stopped" % (plan.lease_file, plan.lease_ttl))
    if verdict == "passed" and not plan.local_thresholds and any(
            t.get("passed") is False for t in result.get("thresholds") or []):
        verdict = "thresholds_failed"  # k6 ran with --no-thresholds: loadops' judgement decides (k6's rc stays 0)
    if verdict == "passed" and not (result.get("artifacts") or {}).get("summary"):
        # k6 exits 0 when it cannot write its summary: no threshold was judged, nothing passed.
        verdict = "k6_error"
        msg = ("k6 exited 0 but its summary %s/summary.json is missing or unreadable, so no threshold could be "
               "judged; see k6's log %s/k6.log" % (plan.run_dir, plan.run_dir))
    return verdict, msg


def _mib(value):
    return "%d MiB" % (value // 2 ** 20) if value else "?"


def generator_health(evidence, metrics):
    """The limiter's evidence plus whether the load generator itself was the bottleneck, and why."""
    gen = dict(evidence)
    reasons = []
    if gen.get("oom_killed"):
        reasons.append("k6 was OOM-killed at the %s memory limit" % _mib(gen.get("memory_limit_bytes")))
    peak, limit = gen.get("memory_peak_bytes"), gen.get("memory_limit_bytes")
    if peak and limit and peak > 0.9 * limit and not gen.get("oom_killed"):
        reasons.append("memory peaked at %s of the %s limit" % (_mib(peak), _mib(limit)))
    throttled = gen.get("throttled_share")
    if throttled is not None and throttled > 0.2:
        reasons.append("CPU throttled in %d%% of scheduler periods at cpu_limit %s" % (round(throttled * 100), gen.get("cpu_limit")))
    dropped = metrics.get("dropped_iterations") or 0
    if dropped:
        reasons.append("%d iterations dropped: not enough VUs or CPU to keep the arrival rate" % dropped)
    gen["saturated"] = bool(reasons)
    gen["reasons"] = reasons
    return gen


def write_errors_warning(rc, log_tail, log_path):
    """A warning when k6 exited 0 but logged that an output lost metrics; else None."""
    if rc == RC_OK and _INFLUX_WRITE_ERRORS.search(log_tail or ""):
        return "k6 could not write some metrics to an output (see %s): dashboards miss data from this run" % log_path
    return None


def finish(result, verdict, rc, fail_on_thresholds, log_tail="", msg=None):
    """Verdict, rc, the explicit failed flag (Ansible fails a non-zero rc without one) and msg."""
    result["verdict"] = verdict
    result["rc"] = rc
    result["failed"] = not is_accepted(verdict, fail_on_thresholds)
    result["msg"] = msg if msg is not None else verdict_sentence(verdict, result, log_tail)
    return result
