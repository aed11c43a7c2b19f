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

import xml.etree.ElementTree as ET

from ansible.errors import AnsibleFilterError
from ansible_collections.loadops.k6.plugins.module_utils.k6_summary import format_observed

_RUN_OK = ("passed", "thresholds_failed")


def _seconds(value):
    try:
        return "%.3f" % float(value or 0)
    except (TypeError, ValueError):
        return "0.000"


def _host_suite(root, doc, host, entry):
    scenario = doc.get("scenario") or "k6"
    suite = ET.SubElement(root, "testsuite", name="%s on %s" % (scenario, host), hostname=host,
                          timestamp=doc.get("started_at") or "", time=_seconds(entry.get("duration_s")))
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", doc.get("run_id")), ("verdict", entry.get("verdict")), ("k6_rc", entry.get("rc")),
                       ("k6_version", entry.get("k6_version")), ("grafana_url", doc.get("grafana_url"))):
        if value not in (None, ""):
            ET.SubElement(props, "property", name=key, value=str(value))
    classname = "loadops.k6.%s.%s" % (scenario, host)
    tests = failures = errors = 0
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
    if entry.get("verdict") not in _RUN_OK or not entry.get("thresholds"):
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name="k6 run completed",
                             time=_seconds(entry.get("duration_s")))
        if entry.get("verdict") not in _RUN_OK:
            errors += 1
            error = ET.SubElement(case, "error", type=str(entry.get("verdict")),
                                  message="%s (k6 rc %s)" % (entry.get("verdict"), entry.get("rc")))
            error.text = str(entry.get("msg") or "")
    generator = entry.get("generator") or {}
    if generator.get("saturated"):
        ET.SubElement(suite, "system-err").text = "load generator saturated: " + "; ".join(generator.get("reasons") or [])
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
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
    for host in sorted(doc["hosts"]):
        for i, count in enumerate(_host_suite(root, doc, host, doc["hosts"][host] or {})):
            totals[i] += count
    regression = doc.get("regression")
    if isinstance(regression, dict) and regression.get("rows"):
        for i, count in enumerate(_regression_suite(root, doc, regression)):
            totals[i] += count
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class FilterModule(object):
    def filters(self):
        return {"junit_xml": junit_xml}
