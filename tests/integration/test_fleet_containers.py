"""A fleet run (issue 13) on three load machines that are systemd containers on the host network,
reached by Ansible's docker connection - a machine each with its own systemd, file system and
process table, unlike the inventory aliases of test_fleet.py. k6 runs in a systemd scope in each
(the role's default limiter there), the machines' results come back to this controller, and the
verdict is judged once on all their samples: the same numbers, bit for bit, as one plain k6 run.

The containers (loadops/debian12-systemd, the Molecule platform's flags) get, read-only, the k6
binary and the test scripts at their own path; their cgroup parent is under this test's own cgroup.
They and that parent are removed at the end, also when the test fails. Load goes to a demo target
on this machine's loopback (the containers share it).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from k6run_helpers import SYSTEMD_IMAGE as IMAGE
from k6run_helpers import docker_ok, image_present, own_cgroup_path, remove_cgroup_tree, start_systemd_container
from services import run_playbook
from test_fleet import SCRIPT, _equal_to_one_machine, _observed, _run_dir, _seen, _vars, reference  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.loadops.k6.plugins.module_utils import k6_samples

K6_IN_BOX = "/usr/local/bin/k6"
NAMES = ["lg1", "lg2", "lg3"]

_ok, _why = docker_ok()
pytestmark = [
    pytest.mark.skipif(not _ok, reason="no docker daemon answering: %s (scripts/host-prereqs.sh starts one)" % _why),
    pytest.mark.skipif(_ok and not image_present(IMAGE), reason="image %s absent: build it with scripts/build-images.sh" % IMAGE),
]


@pytest.fixture(scope="module")
def machines(k6_bin):
    """{inventory name: container name} of three running systemd containers."""
    tag = "%d-%s" % (os.getpid(), secrets.token_hex(3))
    boxes = {name: "loadops-fleet-%s-%s" % (tag, name) for name in NAMES}
    parents = {name: own_cgroup_path().rstrip("/") + "/" + box for name, box in boxes.items()}
    try:
        with ThreadPoolExecutor(len(boxes)) as pool:
            list(pool.map(lambda name: start_systemd_container(boxes[name], parents[name], "loadops.k6.test=fleet", [
                "%s:%s:ro" % (SCRIPT.parent, SCRIPT.parent), "%s:%s:ro" % (os.path.realpath(k6_bin), K6_IN_BOX)]), NAMES))
        yield boxes
    finally:
        for name, box in boxes.items():
            subprocess.run(["docker", "rm", "-f", box], capture_output=True, timeout=120, check=False)
            remove_cgroup_tree(parents[name])


def _inventory(boxes, host_env):
    text = "load_generators:\n  hosts:\n"
    for name, box in boxes.items():
        host_vars = {"ansible_connection": "community.docker.docker", "ansible_host": box,
                     "ansible_python_interpreter": "/usr/bin/python3",
                     # root in the container, which has no sudo
                     "ansible_become": False,
                     "scenario_run_env": host_env.get(name, {})}
        text += "    %s:\n" % name + "".join("      %s: %s\n" % (k, json.dumps(v)) for k, v in host_vars.items())
    return text


def test_three_systemd_containers_run_one_test_with_one_machines_numbers(tmp_path, demo_target_factory, reference,
                                                                         machines):
    target = demo_target_factory("--verbose")
    p95 = repr(reference["fleet_det"]["p(95)"])
    env = {name: {"FLEET_P95": p95} for name in NAMES}
    env["lg1"]["FLEET_FLAKY"] = "1"
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, target), inventory_text=_inventory(machines, env))
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    run = _run_dir(tmp_path)
    doc = json.loads((run / "verdict.json").read_text())

    assert doc["distribution"]["sequence"] == "0,1/3,2/3,1"
    assert doc["start"]["started"] and doc["start"]["skew_ms"] < 100, doc["start"]
    assert sorted(doc["start"]["clocks"]["hosts"]) == NAMES and doc["start"]["clocks"]["problems"] == []
    # Each machine limited its k6 with its own systemd (a scope), and its samples came back.
    assert {doc["hosts"][n]["generator"].get("limiter") for n in NAMES} == {"systemd"}, doc["hosts"]
    assert sorted(doc["merged"]) == NAMES and not doc["missing"]

    _equal_to_one_machine(doc, reference)
    assert doc["metrics"]["iterations"] == reference["iterations"]["count"]
    assert _observed(doc, "fleet_det", "p(95)<=" + p95)["passed"] is True
    assert _observed(doc, "fleet_det", "p(95)<" + p95)["passed"] is False

    merged = k6_samples.merge(k6_samples.load(str(run / name / "reduction.json")) for name in NAMES)
    for scenario in ("shared", "car", "rar"):
        values = sorted(v for s in merged.series.values() if s.metric == "fleet_idx" and dict(s.tags)["scenario"] == scenario
                        for v in s.values)
        assert values == [float(i) for i in range(len(values))] and values, scenario

    # The error rate is the test's, not lg1's; setup() and teardown() reached the target once each.
    assert _observed(doc, "http_req_failed", "rate<0.15")["passed"] is True
    assert len(_seen(target, "fleet=setup")) == 1 and len(_seen(target, "fleet=teardown")) == 1
    assert doc["verdict"] == "thresholds_failed" and doc["outcome"] == "passed", doc["reason"]
    # Nothing of the run is left in the containers: no k6, no scope.
    for box in machines.values():
        ps = subprocess.run(["docker", "exec", box, "ps", "-eo", "args"], capture_output=True, text=True, timeout=30,
                            check=False).stdout
        assert not [line for line in ps.splitlines() if line.startswith(K6_IN_BOX) or line.startswith("k6 ")], ps
        units = subprocess.run(["docker", "exec", box, "systemctl", "list-units", "--all", "--plain", "--no-legend",
                                "loadops-k6-*"], capture_output=True, text=True, timeout=30, check=False).stdout
        assert units.strip() == "", units
