"""Run plugins/modules/k6_run.py the way Ansible does on the target (args file -> JSON on stdout),
and look for anything a run could leave behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"
SCRIPTS = Path(__file__).resolve().parent / "k6_scripts"


def module_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K6_", "ANSIBLE_"))}
    env["PYTHONPATH"] = str(COLLECTIONS)
    env.update(extra or {})
    return env


def start_module(args, check=False, env=None):
    """Popen of the module with its args file; the caller owns the process. env: extra variables
    for the module process (e.g. DOCKER_HOST, PATH, TMPDIR)."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(payload, handle)
    handle.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.loadops.k6.plugins.modules.k6_run", handle.name],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_env(env), cwd=str(REPO))
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


def run_module(args, check=False, timeout=120, env=None):
    return finish(start_module(args, check, env), timeout)


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


# ----------------------------------------------------------------- docker and cgroup helpers
def own_cgroup_path():
    """This process's cgroup path as docker's --cgroup-parent wants it (v1 memory, else v2)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _hierarchy_id, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths.get("memory") or paths.get("") or "/"


def cgroup_mounts():
    """Mount points of every cgroup hierarchy on this machine."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _sep, right = line.partition(" - ")
        if right.split() and right.split()[0] in ("cgroup", "cgroup2"):
            point = left.split()[4]
            if point not in mounts:
                mounts.append(point)
    return mounts


def cgroups_named(prefix, base=None):
    """Directories named prefix* directly under base (default: our own cgroup path) in every
    hierarchy; docker creates a --cgroup-parent in all of them."""
    base = (base or own_cgroup_path()).strip("/")
    found = []
    for mount in cgroup_mounts():
        parent = Path(mount) / base
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
    return sorted(found)


def remove_cgroup_tree(relative):
    """rmdir <mount>/<relative> (deepest first) in every hierarchy: for cgroup parents a test made."""
    for mount in cgroup_mounts():
        top = Path(mount) / relative.strip("/")
        if top.is_dir():
            for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                try:
                    path.rmdir()
                except OSError:
                    pass


SYSTEMD_IMAGE = "loadops/debian12-systemd:latest"


def start_systemd_container(name, parent, label, mounts, boot_timeout=90):
    """docker run the systemd image (the Molecule platform's flags: host network, host cgroup
    namespace, cgroups read-write) as NAME under cgroup parent PARENT, with MOUNTS (docker -v
    strings), and wait until its systemd is up. The caller removes it (docker rm -f, then
    remove_cgroup_tree(PARENT)), also when this raises."""
    argv = ["docker", "run", "-d", "--name", name, "--label", label,
            "--network", "host", "--cgroupns", "host", "--cap-add", "SYS_ADMIN",
            "--security-opt", "seccomp=unconfined", "--tmpfs", "/run", "--tmpfs", "/run/lock",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroup-parent", parent,
            "--stop-signal", "SIGRTMIN+3", "-e", "container=docker"]
    for mount in mounts:
        argv += ["-v", mount]
    subprocess.run(argv + [SYSTEMD_IMAGE, "/lib/systemd/systemd"], check=True, capture_output=True, text=True, timeout=120)
    state, deadline = "", time.monotonic() + boot_timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                               capture_output=True, text=True, timeout=30, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise AssertionError("systemd in %s did not come up: %r" % (name, state))


def docker_ok():
    """(True, "") when the docker CLI talks to a daemon, else (False, why)."""
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if proc.returncode != 0 or not proc.stdout.strip():
        return False, (proc.stderr or proc.stdout).strip()
    return True, ""


def image_present(image):
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=60, check=False).returncode == 0


def loadops_containers():
    """Names of containers (any state) that carry the loadops.k6.testid label."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", "label=loadops.k6.testid", "--format", "{{.Names}}"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return sorted(out.split())


def processes_with(marker):
    """pids of processes (any) whose command line carries marker."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids
