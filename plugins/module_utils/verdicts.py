# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one verdict vocabulary of loadops.k6, its severity order, and the acceptance rule.

Private to the loadops.k6 collection: no stability promise outside it. Pure standard library,
so the module (on the load machine), the filters and the role (on the controller) share it.

To add a verdict: put it in SEVERITY at its place (most serious first), give it a sentence in
the engine's result stage (plugins/module_utils/k6_result.py) and, if an exit code or evidence
leads to it, a branch in k6_result.verdict_from. Everything else (the run's worst verdict, the
acceptance rule, JUnit, the table) reads this tuple.
"""
from __future__ import annotations

# Most serious first: no usable result at all, the generator died, the script is broken, k6
# refused, the run was cut short, the script gave up, the target failed its thresholds.
SEVERITY = (
    "error",              # no usable k6_run result (the task itself failed); never returned by k6_run
    "oom_killed",
    "script_error",
    "config_error",
    "k6_error",
    "timeout",
    "interrupted",
    "incomplete",         # a fleet run lost a load machine mid-run; never returned by k6_run
    "script_failed",
    "aborted",
    "thresholds_failed",
    "passed",
)

# What loadops.k6.k6_run can return.
MODULE_VERDICTS = tuple(v for v in SEVERITY if v not in ("error", "incomplete"))

# A fleet machine with one of these did not deliver all of its share of the test.
LOST = ("error", "oom_killed", "k6_error", "timeout", "interrupted")
# ... and with one of these the script or its configuration is at fault (on every machine alike).
BROKEN = ("script_error", "config_error")


def normalize(verdict):
    """A known verdict, or 'error' for anything else (None, a typo, a missing result)."""
    return verdict if verdict in SEVERITY else "error"


def worst(verdicts):
    """The most serious of several verdicts; 'error' for none at all."""
    known = [normalize(v) for v in verdicts]
    return min(known, key=SEVERITY.index) if known else "error"


def fleet_verdict(host_verdicts, thresholds_passed, aborted=False):
    """The verdict of one test run on several machines. A broken script or configuration first; a
    machine that did not finish its share (killed, out of memory, timed out, lost) makes the run
    ``incomplete``; then an abortOnFail threshold crossed on all machines' samples (``aborted``: the
    controller stopped every machine, which end ``interrupted``) or a script that gave up (an abort on
    one machine stops the others); a run stopped everywhere is ``interrupted``; otherwise the
    thresholds judged on all samples decide."""
    known = [normalize(v) for v in host_verdicts]
    if not known:
        return "error"
    broken = [v for v in known if v in BROKEN]
    if broken:
        return worst(broken)
    if any(v in LOST and v != "interrupted" for v in known):
        return "incomplete"
    if aborted:
        return "aborted"
    gave_up = [v for v in known if v in ("script_failed", "aborted")]
    if gave_up:
        return worst(gave_up)
    if all(v == "interrupted" for v in known):
        return "interrupted"
    if "interrupted" in known:
        return "incomplete"
    return "passed" if thresholds_passed else "thresholds_failed"


def is_accepted(verdict, fail_on_thresholds=True):
    """Whether a run with this verdict is accepted: passed, or thresholds_failed when crossed
    thresholds are only reported (fail_on_thresholds false)."""
    verdict = normalize(verdict)
    return verdict == "passed" or (verdict == "thresholds_failed" and not fail_on_thresholds)
