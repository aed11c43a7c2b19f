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
by its own pid.

The background tests, last in that queue. The integration tests of BACKGROUND_FILES need no
container, no shared InfluxDB (a private influxd on free ports at most) and no fixed port (playbooks
over the local connection, k6 against demo targets on free ports, results under their own tmp
directories), and so do the tests of other files marked `background`. When the whole suite runs (their
wrapper test in test_quality_gates.py is selected) they leave this session and run, once the gates
above are done, in a second pytest of their own beside the serial tests: the serial tests use
about one core (one playbook at a time), so the other one would idle once the gates end. (Started
at once, beside the gates as well, they made the suite slower: three CPU streams on two cores.) That
pytest runs in a child cgroup of this session's (`loadops-tests-background`, memory hierarchy on
cgroup v1, the unified one on v2): the run cgroups its k6 get, the sweep of killed runs' leftovers and
the leftover checks of each session stay apart. Selected alone (e.g. `pytest
tests/integration/test_fleet.py`), or where the child cgroup cannot be made, they run here as usual."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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

BACKGROUND_FILES = ("test_fleet.py", "test_k6_control_playbook.py", "test_playbooks.py", "test_samples.py",
                    "test_scenarios.py", "test_stop.py", "test_k6_run_playbook.py", "test_installed_collection.py",
                    "test_tls_targets.py", "test_team_credentials.py", "test_grafana_variables.py",
                    "test_packaging.py", "test_readable_output.py")
# Single tests of other files that need no more than those (marked @pytest.mark.background).
BACKGROUND_MARK = "background"
BACKGROUND_WRAPPER = "test_background_integration_tests_pass"
BACKGROUND_TIMEOUT_S = 3600
BACKGROUND_CGROUP = "loadops-tests-background"


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
        if _background is not None:
            _background.start()
    if wanted or _background is not None:
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


class _Background(object):
    """The second pytest (see the module's text): its node ids, output, cgroup and temp directory.
    Made when pytest has collected, started at the end of the gates' queue."""

    def __init__(self, nodeids: List[str], cgroup: Path) -> None:
        self.nodeids = nodeids
        self.cgroup = cgroup
        self.basetemp = Path(tempfile.mkdtemp(prefix="loadops-tests-background-"))
        self.output = tempfile.TemporaryFile(mode="w+")
        self.done = threading.Event()
        self.returncode: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.started: Optional[float] = None
        self.ended: Optional[float] = None

    def start(self) -> None:
        """Runs the second pytest to its end (in the queue's thread); never raises."""
        self.started = time.monotonic()
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "--durations=15",
                "--basetemp", str(self.basetemp / "t"), *self.nodeids]
        procs_file = str(self.cgroup / "cgroup.procs")

        def join_cgroup():
            with open(procs_file, "w") as handle:
                handle.write(str(os.getpid()))

        test_env = dict(os.environ)
        test_env["PATH"] = "%s:%s" % (VENV_BIN, test_env.get("PATH", ""))
        try:
            if _stopping.is_set():
                raise OSError("the session was ending")
            self.proc = subprocess.Popen(argv, cwd=str(REPO), env=test_env, stdout=self.output,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                         start_new_session=True,
                                         preexec_fn=join_cgroup)  # pylint: disable=subprocess-popen-preexec-fn
            try:
                self.returncode = self.proc.wait(BACKGROUND_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _end(self.proc)
                self.output.write("\n[gates] background tests ended after %d s\n" % BACKGROUND_TIMEOUT_S)
                self.returncode = -9
        except OSError as exc:
            self.output.write("[gates] could not start the background tests: %s\n" % exc)
            self.returncode = -1
        finally:
            self.ended = time.monotonic()
            self.done.set()

    def text(self) -> str:
        self.output.flush()
        self.output.seek(0)
        return self.output.read()


_background: Optional[_Background] = None
_summary = ""  # the background pytest's summary, kept for the terminal summary after end_all


def _child_cgroup() -> Optional[Path]:
    """This session's memory cgroup (v1) or unified cgroup (v2) + BACKGROUND_CGROUP, made now; None
    when it cannot be (not root, no cgroup file system)."""
    paths = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _hierarchy, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    except (OSError, ValueError):
        return None
    if "memory" in paths and Path("/sys/fs/cgroup/memory").is_dir():
        base = Path("/sys/fs/cgroup/memory") / paths["memory"].lstrip("/")
    elif "" in paths and Path("/sys/fs/cgroup/cgroup.controllers").exists():
        base = Path("/sys/fs/cgroup") / paths[""].lstrip("/")
    else:
        return None
    child = base / BACKGROUND_CGROUP
    try:
        child.mkdir(exist_ok=True)
    except OSError:
        return None
    return child if (child / "cgroup.procs").exists() else None


def move_to_background(items, deselect) -> List:
    """ITEMS minus the tests that will run in the background pytest; DESELECT is called with those.
    Unchanged when the wrapper test is not selected, or no child cgroup can be made."""
    global _background  # pylint: disable=global-statement
    if _background is not None or not any(getattr(i, "originalname", i.name) == BACKGROUND_WRAPPER for i in items):
        return items
    moved = [item for item in items
             if Path(str(item.fspath)).name in BACKGROUND_FILES or item.get_closest_marker(BACKGROUND_MARK)]
    cgroup = _child_cgroup() if moved else None
    if cgroup is None:
        return items
    _background = _Background([item.nodeid for item in moved], cgroup)
    deselect(moved)
    # Its wrapper goes last: the serial tests go on meanwhile.
    kept = [item for item in items if item not in moved]
    return ([item for item in kept if getattr(item, "originalname", item.name) != BACKGROUND_WRAPPER]
            + [item for item in kept if getattr(item, "originalname", item.name) == BACKGROUND_WRAPPER])


def background_result():
    """(exit status, output, node ids) of the background pytest, or None when nothing was moved."""
    if _background is None:
        return None
    _background.done.wait()
    return _background.returncode, _background.text(), _background.nodeids


def background_summary() -> str:
    """The background pytest's slowest tests and short summary (for the terminal summary)."""
    return _summary


def _keep_summary(text: str) -> None:
    global _summary  # pylint: disable=global-statement
    start = text.find(" slowest ")
    start = text.rfind("\n", 0, start) + 1 if start >= 0 else max(0, len(text) - 3000)
    _summary = text[start:]


def _remove_cgroup(cgroup: Path) -> None:
    for _attempt in range(50):
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


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
    """Session end: a gate or the background pytest still running (its test deselected, failed or
    interrupted) is ended."""
    global _background  # pylint: disable=global-statement
    _stopping.set()
    for name in ORDER:
        gate = _gates.get(name)
        if gate is not None and gate.started is not None:
            ended = "%d" % (gate.ended - _t0) if gate.ended else "?"
            _timings.append("%s: %d s to %s s (exit %s)" % (name, gate.started - _t0, ended, gate.returncode))
    if _background is not None:
        if _background.started is not None:
            ended = "%d" % (_background.ended - _t0) if _background.ended else "?"
            _timings.append("background tests: %d s to %s s (exit %s)" % (
                _background.started - _t0, ended, _background.returncode))
        if _background.proc is not None and _background.proc.poll() is None:
            _end(_background.proc)
        _background.done.wait(30)
        _keep_summary(_background.text())
        _background.output.close()
        _remove_cgroup(_background.cgroup)
        if _background.returncode == 0:
            shutil.rmtree(str(_background.basetemp), ignore_errors=True)
        _background = None
    for gate in _gates.values():
        if gate.proc is not None and gate.proc.poll() is None:
            _end(gate.proc)
        deadline = time.monotonic() + 30
        while not gate.done.is_set() and gate.proc is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        gate.output.close()
    _gates.clear()
