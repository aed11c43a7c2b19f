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
    "script_failed",
    "aborted",
    "thresholds_failed",
    "passed",
)

# What loadops.k6.k6_run can return.
MODULE_VERDICTS = tuple(v for v in SEVERITY if v != "error")


def normalize(verdict):
    """A known verdict, or 'error' for anything else (None, a typo, a missing result)."""
    return verdict if verdict in SEVERITY else "error"


def worst(verdicts):
    """The most serious of several verdicts; 'error' for none at all."""
    known = [normalize(v) for v in verdicts]
    return min(known, key=SEVERITY.index) if known else "error"


def is_accepted(verdict, fail_on_thresholds=True):
    """Whether a run with this verdict is accepted: passed, or thresholds_failed when crossed
    thresholds are only reported (fail_on_thresholds false)."""
    verdict = normalize(verdict)
    return verdict == "passed" or (verdict == "thresholds_failed" and not fail_on_thresholds)
