"""Gates that need no port, cgroup or container of the host tests (ansible-test sanity,
ansible-lint, and the Molecule scenarios whose load machine is a container of its own: default
and nosystemd) run one after another in the background from the moment pytest has collected
them, on the core the serial integration tests leave idle (Ansible and k6 runs there mostly wait).
Their tests in test_quality_gates.py only collect each result.

One gate at a time, in ORDER: the two Molecule scenarios bind the same loopback ports
(.config/molecule/config.yml), and one extra CPU stream is what a 2-core machine spares. The
Molecule scenario "docker" (this machine's own dockerd, images and containers, like the host
tests) stays in the foreground.

Each gate is a process group started here; one still running at the end of the session is ended
by its own pid."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
MOLECULE_IMAGE = "loadops/debian12-systemd:latest"

GATES: Dict[str, List[str]] = {
    "sanity": ["bash", "scripts/sanity.sh"],
    "ansible_lint": [str(VENV_BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
    "molecule-default": [str(VENV_BIN / "molecule"), "test", "--scenario-name", "default"],
    "molecule-nosystemd": [str(VENV_BIN / "molecule"), "test", "--scenario-name", "nosystemd"],
}
ORDER = ["sanity", "ansible_lint", "molecule-default", "molecule-nosystemd"]
TIMEOUT_S = {"sanity": 2400, "ansible_lint": 900, "molecule-default": 1800, "molecule-nosystemd": 1800}


def env() -> Dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    out["PATH"] = "%s:%s" % (VENV_BIN, out.get("PATH", ""))
    out["ANSIBLE_NOCOLOR"] = "1"
    out["NO_COLOR"] = "1"
    return out


def docker_ready() -> bool:
    """dockerd answers and the systemd image the Molecule scenarios use is there."""
    try:
        ok = subprocess.run(["docker", "image", "inspect", MOLECULE_IMAGE], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ok.returncode == 0


def gate_of(item) -> Optional[str]:
    """The gate a collected test item waits for, or None."""
    if Path(str(item.fspath)).name != "test_quality_gates.py":
        return None
    name = getattr(item, "originalname", item.name)
    if name == "test_ansible_lint_production_profile_passes":
        return "ansible_lint"
    if name == "test_ansible_test_sanity_passes":
        return "sanity"
    callspec = getattr(item, "callspec", None)
    if name == "test_molecule_scenario_converges_idempotently_and_verifies" and callspec is not None:
        gate = "molecule-%s" % callspec.params.get("scenario")
        return gate if gate in GATES else None
    return None


class _Gate(object):
    def __init__(self, name: str) -> None:
        self.name = name
        self.output = tempfile.TemporaryFile(mode="w+")
        self.proc: Optional[subprocess.Popen] = None
        self.done = threading.Event()
        self.returncode: Optional[int] = None
        self.started: Optional[float] = None
        self.ended: Optional[float] = None

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(GATES[self.name], cwd=str(REPO), env=env(), stdout=self.output,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                         start_new_session=True)
            try:
                self.returncode = self.proc.wait(TIMEOUT_S[self.name])
            except subprocess.TimeoutExpired:
                _end(self.proc)
                self.output.write("\n[gates] ended after %d s\n" % TIMEOUT_S[self.name])
                self.returncode = -9
        except OSError as exc:
            self.output.write("[gates] could not start %s: %s\n" % (GATES[self.name][0], exc))
            self.returncode = -1
        finally:
            self.ended = time.monotonic()
            self.done.set()


_gates: Dict[str, _Gate] = {}
_stopping = threading.Event()
_t0 = time.monotonic()
_timings: List[str] = []  # kept past end_all for the terminal summary


def start_queue(names) -> None:
    """Run the gates NAMES (in ORDER) one after another in a background thread."""
    wanted = [name for name in ORDER if name in set(names) and name not in _gates]
    for name in wanted:
        _gates[name] = _Gate(name)

    def work():
        for name in wanted:
            if _stopping.is_set():
                _gates[name].returncode = -1
                _gates[name].done.set()
                continue
            _gates[name].run()
    if wanted:
        threading.Thread(target=work, name="gates", daemon=True).start()


def start_selected(items) -> None:
    names = {gate_of(item) for item in items} - {None}
    if any(name.startswith("molecule-") for name in names) and not docker_ready():
        names = {name for name in names if not name.startswith("molecule-")}  # their tests skip or fail
    start_queue(names)


def result(name: str):
    """(exit status, output) of gate NAME, run now in the foreground if it was not queued."""
    gate = _gates.get(name)
    if gate is None:
        gate = _gates[name] = _Gate(name)
        gate.run()
    gate.done.wait()
    gate.output.seek(0)
    return gate.returncode, gate.output.read()


def _end(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the gate and its children
    except ProcessLookupError:
        pass
    proc.wait()


def timings() -> List[str]:
    """When each gate ran, in seconds from the session's start: what the serial tests overlap with."""
    return list(_timings)


def end_all() -> None:
    """Session end: a gate still running (its test deselected, failed or interrupted) is ended."""
    _stopping.set()
    for name in ORDER:
        gate = _gates.get(name)
        if gate is not None and gate.started is not None:
            ended = "%d" % (gate.ended - _t0) if gate.ended else "?"
            _timings.append("%s: %d s to %s s (exit %s)" % (name, gate.started - _t0, ended, gate.returncode))
    for gate in _gates.values():
        if gate.proc is not None and gate.proc.poll() is None:
            _end(gate.proc)
        deadline = time.monotonic() + 30
        while not gate.done.is_set() and gate.proc is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        gate.output.close()
    _gates.clear()
