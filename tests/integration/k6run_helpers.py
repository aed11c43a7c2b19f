"""Run plugins/modules/k6_run.py the way Ansible does on the target (args file -> JSON on stdout),
and look for anything a run could leave behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"
SCRIPTS = Path(__file__).resolve().parent / "k6_scripts"


def module_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "ANSIBLE_"))}
    env["PYTHONPATH"] = str(COLLECTIONS)
    return env


def start_module(args, check=False):
    """Popen of the module with its args file; the caller owns the process."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(payload, handle)
    handle.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.loadops.k6.plugins.modules.k6_run", handle.name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_env(), cwd=str(REPO))
    proc.args_file = handle.name
    return proc


def finish(proc, timeout=120):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        os.unlink(proc.args_file)
    try:
        result = json.loads(out)
    except ValueError:
        raise AssertionError("module printed no JSON (rc %s): %s %s" % (proc.returncode, out[-2000:], err[-2000:]))
    # ansible-core 2.19 returns structured warnings: keep their text.
    result["warnings"] = [w.get("event", {}).get("msg", str(w)) if isinstance(w, dict) else w
                          for w in result.get("warnings", [])]
    result["_stderr"] = err
    result["_stdout"] = out
    return result


def run_module(args, check=False, timeout=120):
    return finish(start_module(args, check), timeout)


def own_memory_cgroup():
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _hierarchy_id, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return None


def leftover_cgroups():
    """Run cgroups (loadops-k6-*) under this test's own cgroups."""
    found = []
    for controller in ("memory", "cpu", "cpuacct"):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _hierarchy_id, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                base = Path("/sys/fs/cgroup") / controller / path.lstrip("/")
                if base.is_dir():
                    found += [str(p) for p in base.iterdir() if p.name.startswith("loadops-k6-")]
    return found


def k6_processes(marker):
    """pids of k6 processes whose command line carries marker (e.g. the testid)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"k6") and any(marker.encode() in part for part in cmdline):
            pids.append(int(entry.name))
    return pids
