"""The collection's CPU-only gates (ansible-lint, ansible-test sanity) started in the background
as soon as pytest has collected them, so they run on the core the serial integration tests leave
idle (Ansible and k6 runs there mostly wait); their tests in test_quality_gates.py only collect
the result. They touch no cgroup, container or port, so they cannot disturb the other tests.

Each gate is one process group started by this module; a gate still running at the end of the
session (a deselected or failed wait) is ended by its own pid."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"

GATES: Dict[str, List[str]] = {
    "ansible_lint": [str(VENV_BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
    "sanity": ["bash", "scripts/sanity.sh"],
}
# The test that collects each gate (pytest node name): a gate starts only when its test is selected.
TESTS = {"ansible_lint": "test_ansible_lint_production_profile_passes", "sanity": "test_ansible_test_sanity_passes"}

_running: Dict[str, Tuple[subprocess.Popen, object, float]] = {}


def env() -> Dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    out["PATH"] = "%s:%s" % (VENV_BIN, out.get("PATH", ""))
    out["ANSIBLE_NOCOLOR"] = "1"
    out["NO_COLOR"] = "1"
    return out


def start(name: str) -> None:
    """Start gate NAME now (once), its output in a temporary file."""
    if name in _running:
        return
    output = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(GATES[name], cwd=str(REPO), env=env(), stdout=output, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    _running[name] = (proc, output, time.monotonic())


def start_selected(test_names) -> None:
    for gate, test in TESTS.items():
        if test in test_names:
            start(gate)


def result(name: str, timeout: float) -> Tuple[int, str]:
    """(exit status, output) of gate NAME, started now if it was not yet; at most TIMEOUT seconds
    from its start, then it is ended and the status is -9."""
    start(name)
    proc, output, started = _running[name]
    try:
        proc.wait(max(timeout - (time.monotonic() - started), 1))
    except subprocess.TimeoutExpired:
        _end(proc)
    output.seek(0)
    return proc.returncode, output.read()


def _end(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the gate and its children
    except ProcessLookupError:
        pass
    proc.wait()


def end_all() -> None:
    for proc, output, _started in _running.values():
        if proc.poll() is None:
            _end(proc)
        output.close()
    _running.clear()
