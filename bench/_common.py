"""Shared pieces of the loadops.k6 benchmarks (bench/*.py): paths, the module invoked the way Ansible
runs it on a target, the demo target on a free loopback port, medians. Benchmarks print figures;
they are not tests."""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / ".collections"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
DEMO_TARGET = REPO / "roles" / "demo_target" / "files" / "loadops_demo_target.py"
PYTHON = sys.executable

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def find_k6(explicit=None):
    for candidate in (explicit, os.environ.get("K6_BIN"), shutil.which("k6"), str(Path(PYTHON).parent / "k6")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("no k6 binary: pass --k6 PATH or put k6 on PATH")


def k6_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "ANSIBLE_"))}
    env["K6_NO_USAGE_REPORT"] = "true"
    return env


def module_env():
    env = k6_env()
    env.pop("K6_NO_USAGE_REPORT")
    env["PYTHONPATH"] = str(COLLECTIONS)
    return env


def run_module(args, timeout=600):
    """The module file run like Ansible runs it on a target: args file in, JSON out. (wall s, result)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    try:
        started = time.monotonic()
        proc = subprocess.run([PYTHON, "-m", "ansible_collections.loadops.k6.plugins.modules.k6_run", handle.name],
                              capture_output=True, text=True, env=module_env(), cwd=str(REPO), timeout=timeout,
                              check=False)
        wall = time.monotonic() - started
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        sys.exit("the module printed no JSON (rc %s): %s %s" % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return wall, result


def median(values):
    return statistics.median(values) if values else float("nan")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoTarget(object):
    """roles/demo_target's server on a kernel-chosen loopback port; stopped by its pid."""

    def __init__(self):
        self.proc = subprocess.Popen([PYTHON, str(DEMO_TARGET), "--host", "127.0.0.1", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.stop()
            sys.exit("demo target did not start: %r" % line)
        self.url = line.split("listening on ", 1)[1].strip()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def cpu_seconds(self):
        try:
            fields = Path("/proc/%d/stat" % self.proc.pid).read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def machine():
    """One line describing the machine the figures come from."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    version = subprocess.run([find_k6(), "version"], capture_output=True, text=True, env=k6_env(), check=False).stdout.strip()
    cgroup = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    return "%s, %d CPUs (%s), %.1f GiB RAM, kernel %s, cgroup %s, Python %s, %s" % (
        platform.platform(terse=True), os.cpu_count(), cpu, mem_kb / 1024 / 1024, platform.release(), cgroup,
        platform.python_version(), version.splitlines()[0] if version else "k6 ?")


def load_options(description, rounds, max_rounds, rounds_help=None):
    """Options shared by the load benchmarks (rounds, cpus, vus, duration, k6), checked: every run bounded."""
    import argparse
    from ansible_collections.loadops.k6.plugins.module_utils import k6_command as cmdlib
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds, help=rounds_help or "rounds, 1..%d" % max_rounds)
    parser.add_argument("--cpus", type=float, default=0.5, help="CPU quota for k6 in both variants (default 0.5)")
    parser.add_argument("--vus", type=int, default=10)
    parser.add_argument("--duration", default="10s", help="k6 duration per run, at most 60s")
    parser.add_argument("--k6")
    opts = parser.parse_args()
    if not 1 <= opts.rounds <= max_rounds:
        sys.exit("--rounds must be 1..%d" % max_rounds)
    if cmdlib.parse_duration(opts.duration) > 60 or not 1 <= opts.vus <= 200 or not 0.05 <= opts.cpus <= os.cpu_count():
        sys.exit("--duration <= 60s, 1 <= --vus <= 200, 0.05 <= --cpus <= CPUs")
    return opts
