# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: junit_xml
short_description: Render a run document as JUnit XML for CI systems
version_added: 0.1.0
description:
  - One C(testsuite) per load machine with one C(testcase) per threshold; a crossed threshold is a
    C(failure) whose message carries the observed value. A run that did not end in C(passed) or
    C(thresholds_failed) (OOM kill, script error, timeout...) adds an C(error) test case with
    k6's message, so a CI never shows a broken run as green.
  - Each machine's suite also has one C(testcase) per endpoint (the C(endpoints) of
    M(loadops.k6.k6_run), classname ending in C(.endpoints), named after the endpoint). An endpoint
    with failed requests is a C(failure) whose message gives the failed requests and their statuses
    and whose text gives each status's hint (and k6's error text) from the result's C(errors); an
    endpoint that received no requests is C(skipped). When the machine's verdict is C(passed) (the
    thresholds tolerated those failures) the same text is the case's C(system-out) and the case
    passes, so the XML never shows a run red that the verdict calls passed.
  - Characters XML 1.0 cannot carry (control characters such as the escape of k6's coloured
    output) are replaced by U+FFFD.
  - When the document holds a regression check, one more C(testsuite) with one C(testcase) per
    compared series (a regression is a C(failure) with baseline and current value).
  - The XML states facts; whether the play failed is in C(verdict.json)'s C(outcome).
positional: _input
options:
  _input:
    description: The document of P(loadops.k6.run_verdict#filter).
    type: dict
    required: true
author:
  - loadops.k6 developers (@loadops)
"""

EXAMPLES = r"""
- name: Write the JUnit report
  ansible.builtin.copy:
    content: "{{ run_document | loadops.k6.junit_xml }}"
    dest: "results/{{ run_document.run_id }}/junit.xml"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The XML document, UTF-8, with an XML declaration.
  type: str
"""

import re
import xml.etree.ElementTree as ET

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import as_number, error_hint, format_observed

_RUN_OK = ("passed", "thresholds_failed")
# What XML 1.0 cannot hold, even escaped (ElementTree writes it as it is and the file would not parse).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _seconds(value):
    try:
        return "%.3f" % float(value or 0)
    except (TypeError, ValueError):
        return "0.000"


def _threshold_cases(suite, classname, doc, host, entry):
    """One testcase per threshold; returns (tests, failures)."""
    tests = failures = 0
    for threshold in entry.get("thresholds") or []:
        tests += 1
        name = "%s %s" % (threshold.get("metric"), threshold.get("expression"))
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
        observed = format_observed(threshold.get("observed"))
        if not threshold.get("passed"):
            failures += 1
            failure = ET.SubElement(case, "failure", type="threshold",
                                    message="%s crossed: observed %s" % (name, observed))
            failure.text = "threshold %s on %s: observed %s (run %s)" % (name, host, observed, doc.get("run_id"))
        else:
            ET.SubElement(case, "system-out").text = "observed %s" % observed
    return tests, failures


def _failed_requests(endpoint):
    """Failed requests of an endpoint: its own count, else failure_rate x count; None when unknown."""
    failed = as_number(endpoint.get("failed"))
    if failed is None:
        rate, count = as_number(endpoint.get("failure_rate")), as_number(endpoint.get("count"))
        failed = rate * count if rate is not None and count is not None else None
    return None if failed is None else int(round(failed))


def _statuses(endpoint):
    statuses = endpoint.get("statuses")
    if not isinstance(statuses, dict) or not statuses:
        return ""
    counts = sorted(statuses.items(), key=lambda item: (-(as_number(item[1]) or 0), str(item[0])))
    return ", ".join("%s=%s" % (status, count) for status, count in counts)


def _status_hints(endpoint, classes):
    """(status, hint, detail line) per class of failed requests; without classes (older results), per
    status of the endpoint that is no success."""
    if classes:
        rows = []
        for error in classes:
            status = error.get("status")
            hint = error.get("hint") or error_hint(status)
            line = "%s x status %s: %s" % (error.get("count"), status, hint)
            rows.append((status, hint, line + ("\nk6: %s" % error["error"] if error.get("error") else "")))
        return rows
    statuses = endpoint.get("statuses") if isinstance(endpoint.get("statuses"), dict) else {}
    return [(status, error_hint(status), "status %s: %s" % (status, error_hint(status)))
            for status in sorted(statuses, key=lambda s: as_number(s) or 0)
            if not 200 <= (as_number(status) or 0) < 400]


def _endpoint_failure(case, endpoint, failed, classes, tolerated=False):
    """The <failure> of an endpoint with failed requests: counts and statuses, then each status's hint.
    In a run whose thresholds held, the same text goes to system-out. Returns the failures added."""
    count = endpoint.get("count")
    message = "%s of %s requests failed" % ("some" if failed is None else failed, "-" if count is None else count)
    if _statuses(endpoint):
        message += " (statuses %s)" % _statuses(endpoint)
    hints = _status_hints(endpoint, classes)
    seen = []
    for status, hint, _line in hints:
        if (status, hint) not in seen:
            seen.append((status, hint))
    if seen:
        message += "; " + "; ".join("status %s: %s" % pair for pair in seen)
    rate = as_number(endpoint.get("failure_rate"))
    text = "\n".join(line for _status, _hint, line in hints) or (
        "%s of the requests failed; this result has no breakdown by status" % (
            "-" if rate is None else "%.2f%%" % (rate * 100)))
    if tolerated:  # the thresholds held: the failures are shown, the case is not failed
        ET.SubElement(case, "system-out").text = "tolerated by the thresholds: %s\n%s" % (message, text)
        return 0
    ET.SubElement(case, "failure", type="failed_requests", message=message).text = text
    return 1


def _endpoint_cases(suite, classname, host, entry):
    """One testcase per endpoint; returns (tests, failures, skipped)."""
    tests = failures = skipped = 0
    errors = [e for e in entry.get("errors") or [] if isinstance(e, dict)]
    for endpoint in entry.get("endpoints") or []:
        if not isinstance(endpoint, dict):
            continue
        tests += 1
        name = str(endpoint.get("name"))
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
        failed = _failed_requests(endpoint)
        if endpoint.get("count") == 0:
            skipped += 1
            ET.SubElement(case, "skipped", message="no requests to %s on %s" % (name, host))
        elif failed or (failed is None and as_number(endpoint.get("failure_rate"))):
            failures += _endpoint_failure(case, endpoint, failed, [e for e in errors if str(e.get("endpoint")) == name],
                                          tolerated=entry.get("verdict") == "passed")
        else:
            p95 = as_number(endpoint.get("p95_ms"))
            ET.SubElement(case, "system-out").text = "%s requests, none failed, p95 %s" % (
                "-" if endpoint.get("count") is None else endpoint.get("count"), "-" if p95 is None else "%.2f ms" % p95)
    return tests, failures, skipped


def _host_suite(root, doc, host, entry, title=None):
    scenario = doc.get("scenario") or "k6"
    suite = ET.SubElement(root, "testsuite", name="%s on %s" % (scenario, title or host), hostname=host,
                          timestamp=doc.get("started_at") or "", time=_seconds(entry.get("duration_s")))
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", doc.get("run_id")), ("verdict", entry.get("verdict")), ("k6_rc", entry.get("rc")),
                       ("k6_version", entry.get("k6_version")), ("grafana_url", doc.get("grafana_url"))):
        if value not in (None, ""):
            ET.SubElement(props, "property", name=key, value=str(value))
    classname = "loadops.k6.%s.%s" % (scenario, host)
    tests, failures = _threshold_cases(suite, classname, doc, host, entry)
    errors = 0
    if entry.get("verdict") not in _RUN_OK or not entry.get("thresholds"):
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name="k6 run completed",
                             time=_seconds(entry.get("duration_s")))
        if entry.get("verdict") not in _RUN_OK:
            errors += 1
            error = ET.SubElement(case, "error", type=str(entry.get("verdict")),
                                  message="%s (k6 rc %s)" % (entry.get("verdict"), entry.get("rc")))
            error.text = str(entry.get("msg") or "")
    counts = _endpoint_cases(suite, classname + ".endpoints", host, entry)
    tests, failures = tests + counts[0], failures + counts[1]
    if entry.get("local_thresholds"):
        ET.SubElement(suite, "system-out").text = "this machine's own samples (the run is judged on all machines'): " + \
            "; ".join("%s %s %s, observed %s" % (t.get("metric"), t.get("expression"), "held" if t.get("passed") else "crossed",
                                                 format_observed(t.get("observed"))) for t in entry["local_thresholds"])
    generator = entry.get("generator") or {}
    if generator.get("saturated"):
        ET.SubElement(suite, "system-err").text = "load generator saturated: " + "; ".join(generator.get("reasons") or [])
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(counts[2]))
    return tests, failures, errors


def _regression_suite(root, doc, regression):
    scenario = doc.get("scenario") or "k6"
    suite = ET.SubElement(root, "testsuite", name="%s regressions against the baseline" % scenario,
                          timestamp=doc.get("started_at") or "", time="0")
    props = ET.SubElement(suite, "properties")
    for key in ("baseline_run_id", "margin", "source"):
        if regression.get(key) not in (None, ""):
            ET.SubElement(props, "property", name=key, value=str(regression[key]))
    tests = failures = 0
    for row in regression.get("rows") or []:
        if row.get("status") == "not measured":
            continue
        tests += 1
        case = ET.SubElement(suite, "testcase", classname="loadops.k6.%s.regressions" % scenario,
                             name="%s %s" % (row.get("series"), row.get("stat")), time="0")
        text = "baseline %s, now %s (%s)" % (row.get("baseline_text"), row.get("current_text"), row.get("change_text"))
        if row.get("status") == "REGRESSED":
            failures += 1
            failure = ET.SubElement(case, "failure", type="regression",
                                    message="%s %s regressed: %s" % (row.get("series"), row.get("stat"), text))
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if regression.get("note"):
        ET.SubElement(suite, "system-out").text = regression["note"]
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    return tests, failures, 0


def junit_xml(doc):
    if not isinstance(doc, dict) or "hosts" not in doc:
        raise AnsibleFilterError("junit_xml expects the document of loadops.k6.run_verdict (with 'hosts')")
    root = ET.Element("testsuites", name="loadops.k6 %s" % (doc.get("run_id") or ""))
    totals = [0, 0, 0]
    fleet = bool(doc.get("distribution"))
    if fleet:
        # The global verdict first: thresholds and endpoints over every machine's samples.
        hosts = doc["hosts"]
        entry = {"verdict": doc.get("verdict"), "thresholds": doc.get("thresholds") or [],
                 "endpoints": doc.get("endpoints") or [], "rc": None, "msg": doc.get("reason") or "",
                 "duration_s": max([as_number((h or {}).get("duration_s")) or 0 for h in hosts.values()] or [0])}
        for i, count in enumerate(_host_suite(root, doc, "fleet", entry, title="all %d load machines" % len(hosts))):
            totals[i] += count
    for host in sorted(doc["hosts"]):
        entry = doc["hosts"][host] or {}
        if fleet:
            # Each machine's own numbers are detail: they neither pass nor fail the run.
            entry = dict(entry, thresholds=[], endpoints=[], local_thresholds=entry.get("thresholds") or [])
        for i, count in enumerate(_host_suite(root, doc, host, entry)):
            totals[i] += count
    regression = doc.get("regression")
    if isinstance(regression, dict) and regression.get("rows"):
        for i, count in enumerate(_regression_suite(root, doc, regression)):
            totals[i] += count
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    ET.indent(root)
    text = _NOT_XML.sub("\ufffd", ET.tostring(root, encoding="unicode"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


class FilterModule(object):
    def filters(self):
        return {"junit_xml": junit_xml}
