# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k6 in a container (runner=docker): docker command lines, env files, the container's life and
the evidence of its limits.

Private to the loadops.k6 collection: no stability promise outside it.

DockerRunner implements k6_runners.Runner and ContainerLimiter implements k6_limits.Limiter; every
docker rule lives here. How a run goes (k6_engine drives it):
  1. checks: docker CLI on PATH, daemon answering (`docker info`), image present locally
     (`docker image inspect`; nothing is ever pulled), its entrypoint is k6, its user can read
     the script;
  2. `k6 version` and `k6 inspect` in throw-away containers (`docker run --rm`);
  3. `docker create` of the run container: host network, `--memory`/`--memory-swap` equal (no
     swap), `--cpus`, the script directory mounted read-only and the run's results directory
     read-write, both at their own paths (so k6's paths are the same inside and out), the
     environment from a 0600 env file that is deleted as soon as `docker create` returns (never
     in argv, so never in `ps`);
  4. `docker start --attach`: k6's output streams to the log like a local k6;
  5. evidence, then `docker rm -f`, always.

Evidence. The container's own cgroup is deleted by the runtime the moment k6 exits, long before
`docker rm` (measured: docker 20.10, runc, cgroupfs driver). So each run container gets its own
cgroup parent, `<this process's cgroup>/loadops-k6-<testid>`: that parent outlives the container
and its hierarchical counters give the memory peak and CPU time; docker inspect gives
State.OOMKilled and the exit code; CPU throttling is only counted where the quota is set (the
container's own cgroup), so a sampler reads the container's cpu.stat while it runs. The parent is
removed from every hierarchy after `docker rm`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from . import k6_command as cmdlib
from . import k6_limits as limits
from .k6_plan import DEFAULT_IMAGE, RunError
from .k6_process import first_line, run_command
from .k6_runners import Runner, parse_version, unreadable_path
BUILD_HINT = "scripts/build-images.sh"
STATE_LABEL = "loadops.k6.testid"

_IMAGE_REF = re.compile(
    r"^[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


class DockerError(Exception):
    """docker cannot run k6 here; the message says why and what to do."""


# ------------------------------------------------------------------------------ pure helpers
def is_image_reference(image):
    """[registry[:port]/]path[:tag][@sha256:digest], lower-case path, no spaces, no empty tag."""
    return isinstance(image, str) and bool(_IMAGE_REF.match(image))


def validate_image(image):
    if not is_image_reference(image):
        raise DockerError("image %r is not a valid image reference; use e.g. %s or registry:5000/team/k6:1.1.0"
                          % (image, DEFAULT_IMAGE))
    return image


def parse_image_user(user):
    """Config.User -> (uid, gid); (0, 0) for root/empty; None when it is a name we cannot map."""
    user = (user or "").strip()
    if user in ("", "root", "0", "0:0", "root:root"):
        return (0, 0)
    uid, _sep, gid = user.partition(":")
    if uid.isdigit() and (gid == "" or gid.isdigit()):
        return (int(uid), int(gid or uid))
    return None


def format_cpus(cpus):
    return ("%.3f" % float(cpus)).rstrip("0").rstrip(".")


# option -> renderer(value) -> argv fragment, in command-line order. Declared once.
CONTAINER_OPTIONS = (
    ("rm", cmdlib.switch("--rm")),
    ("name", cmdlib.flag("--name")),
    ("labels", lambda labels: [p for k in sorted(labels) for p in ("--label", "%s=%s" % (k, labels[k]))]),
    ("network", cmdlib.flag("--network")),
    ("pull", cmdlib.flag("--pull")),
    ("user", cmdlib.flag("--user")),
    ("memory", lambda value: ["--memory", "%d" % value]),
    ("memory_swap", lambda value: ["--memory-swap", "%d" % value]),
    ("cpus", lambda value: ["--cpus", format_cpus(value)]),
    ("cgroup_parent", cmdlib.flag("--cgroup-parent")),
    ("mounts", lambda mounts: [p for src, mode in mounts for p in ("-v", "%s:%s:%s" % (src, src, mode))]),
    ("workdir", cmdlib.flag("--workdir")),
    ("env_file", cmdlib.flag("--env-file")),
)


def build_container_argv(docker, command, image, k6_args, **options):
    """argv of `docker create|run [options] IMAGE k6-args...`; options named in CONTAINER_OPTIONS,
    None/empty values left out. Mounts are (host path, ro|rw), mounted at the same path inside."""
    if command not in ("create", "run"):
        raise ValueError("command must be create or run, not %r" % command)
    return cmdlib.render([docker, command], CONTAINER_OPTIONS, options) + [validate_image(image)] + list(k6_args)


def check_mount_path(path, what):
    """docker's -v syntax splits on ':'; refuse what it would misread."""
    if ":" in path or "," in path or "\n" in path:
        raise DockerError("%s %s cannot be mounted into the container: the path contains ':' or ','" % (what, path))
    return path


def env_file_text(env):
    """KEY=VALUE lines for `docker --env-file`; values with line breaks or NUL cannot be carried."""
    lines = []
    for key in sorted(env):
        value = "" if env[key] is None else str(env[key])
        if any(ch in value for ch in ("\n", "\r", "\0")):
            raise DockerError("env %s holds a line break or NUL, which runner=docker cannot pass to the container "
                              "(docker env files are one line per variable); put multi-line data in a file next "
                              "to the script" % key)
        lines.append("%s=%s\n" % (key, value))
    return "".join(lines)


def write_env_file(env, tmpdir=None):
    """A private directory (0700) holding env.list (0600). Returns (dir, path): delete the dir."""
    text = env_file_text(env)
    directory = tempfile.mkdtemp(prefix="loadops-k6-env-", dir=tmpdir)
    path = os.path.join(directory, "env.list")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return directory, path


# ------------------------------------------------------------------------------ the docker CLI
class Docker(object):
    """The docker CLI on this machine: found, daemon answering, facts about the daemon."""

    def __init__(self, which=shutil.which, run_cmd=run_command):
        self.run_cmd = run_cmd
        self.cli = which("docker")
        if not self.cli:
            raise DockerError("docker is not installed on the load machine (no docker on PATH); install it "
                              "(Debian: apt-get install docker.io) or use runner=binary")
        rc, out, err = run_cmd([self.cli, "info", "--format", "{{.ServerVersion}}|{{.CgroupDriver}}|{{.CgroupVersion}}"], 30)
        parts = out.strip().split("|")
        if rc != 0 or len(parts) != 3 or not parts[0] or parts[0] == "<no value>":
            where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            raise DockerError("the docker daemon at %s is not reachable: %s; start it (here: scripts/host-prereqs.sh) "
                              "or use runner=binary" % (where, first_line(err or out)))
        self.server_version, self.cgroup_driver, version = parts
        self.cgroup_version = int(version) if version.isdigit() else None

    def __call__(self, *args, **kwargs):
        return self.run_cmd([self.cli] + list(args), kwargs.get("timeout", 60))

    def image(self, image):
        """Config of a local image; DockerError naming the image and how to build it when absent."""
        rc, out, err = self("image", "inspect", "--format", "{{json .Config}}", image, timeout=60)
        if rc != 0:
            raise DockerError("image %s is not present on the load machine (%s) and nothing is pulled; build it "
                              "with %s (K6_VERSION=<version> for another k6) or `docker load` it there"
                              % (image, first_line(err), BUILD_HINT))
        config = json.loads(out or "null") or {}
        entry = config.get("Entrypoint") or []
        if not entry or os.path.basename(entry[0]) != "k6":
            raise DockerError("image %s does not start k6 (its ENTRYPOINT is %s); use a k6 image such as %s"
                              % (image, json.dumps(entry), DEFAULT_IMAGE))
        return config

    def exists(self, name):
        rc, _out, _err = self("container", "inspect", "--format", "{{.Id}}", name, timeout=30)
        return rc == 0

    def remove(self, name):
        """docker rm -f name until it is gone. True when no container of that name is left."""
        for _attempt in range(3):
            self("rm", "-f", "-v", name, timeout=60)
            if not self.exists(name):
                return True
            time.sleep(0.5)
        return False


def run_throwaway(docker, image, k6_args, name, env, cgroup_parent=None, mounts=(), workdir=None, timeout=120,
                  tmpdir=None, testid=None):
    """A throw-away container (`docker run --rm`) for `k6 version` / `k6 inspect`: (rc, stdout, stderr).
    The container is removed by name on every path."""
    env_dir, env_path = write_env_file(env, tmpdir)
    argv = build_container_argv(docker.cli, "run", image, k6_args, rm=True, name=name, network="host", pull="never",
                                cgroup_parent=cgroup_parent, mounts=list(mounts), workdir=workdir, env_file=env_path,
                                labels={STATE_LABEL: testid or name})
    try:
        return docker.run_cmd(argv, timeout)
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)
        if docker.exists(name):
            docker.remove(name)


class _CpuSampler(threading.Thread):
    """Reads the container's cpu.stat while it runs (throttling is counted only there)."""

    def __init__(self, paths, interval=0.25):
        super(_CpuSampler, self).__init__(daemon=True)
        self.paths, self.interval = paths, interval
        self.last = {}
        self.halt = threading.Event()

    def sample(self):
        for path in self.paths():
            stat = limits.read_keyed(path)
            if stat.get("nr_periods") is not None:
                self.last = stat
                return

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        if self.is_alive():
            self.join(timeout=5)


class ContainerLimiter(limits.Limiter):
    """One k6 run in a container: the container's limits are the limiter. create makes the
    container, wrap starts it attached, stop/kill go through the daemon (a signal to the attached
    CLI would not reach k6), evidence adds the container's name and k6's own exit code."""

    measures_process = False

    def __init__(self, docker, image, run_name, k6_args, env, memory_limit=None, cpu_limit=None, limited=True,
                 scripts_dir=None, run_dir=None, workdir=None, user=None, root=limits.CGROUP_ROOT,
                 proc_cgroup_text=None, tmpdir=None, mounts_of_cgroups=None, testid=None, extra_mounts=()):
        super(ContainerLimiter, self).__init__(memory_limit if limited else None, cpu_limit if limited else None)
        self.docker = docker
        self.image = image
        self.run_name = run_name
        self.name = "docker" if limited else "none"
        self.env = env
        self.root = root
        self.tmpdir = tmpdir
        self.cgroup_mounts = mounts_of_cgroups
        self.container_id = None
        self.created = False
        self.stopper = None
        self.parent = None
        if docker.cgroup_driver == "cgroupfs":
            self.parent = limits.own_cgroup(proc_cgroup_text).rstrip("/") + "/" + run_name
        self.env_dir = None
        self.sampler = _CpuSampler(self._container_cpu_stat_paths)
        self.create_options = dict(
            name=run_name, labels={STATE_LABEL: testid or run_name}, network="host", pull="never", user=user,
            memory=self.memory_limit, memory_swap=self.memory_limit, cpus=self.cpu_limit,
            cgroup_parent=self.parent, mounts=[(scripts_dir, "ro"), (run_dir, "rw")] + list(extra_mounts),
            workdir=workdir)
        self.k6_args = list(k6_args)

    # argv for humans (cmd): the env file's path is a placeholder, its contents never shown
    def create_argv(self, env_file="<env-file>"):
        return build_container_argv(self.docker.cli, "create", self.image, self.k6_args,
                                    env_file=env_file, **self.create_options)

    def create(self):
        self.env_dir, env_path = write_env_file(self.env, self.tmpdir)
        try:
            self.created = True  # from here on cleanup() must run
            rc, out, err = self.docker.run_cmd(self.create_argv(env_path), 120)
        finally:
            shutil.rmtree(self.env_dir, ignore_errors=True)  # docker has read it (or failed)
        if rc != 0:
            raise DockerError("docker create failed for image %s (rc %d): %s" % (self.image, rc, first_line(err)))
        self.container_id = out.strip().splitlines()[-1] if out.strip() else None
        self.sampler.start()

    def wrap(self, _argv):
        return [self.docker.cli, "start", "--attach", self.run_name]

    # ------------------------------------------------------------------ stopping
    def stop(self, process, grace):
        """SIGTERM to k6 now, SIGKILL after grace seconds (docker stop), without blocking."""
        if self.stopper is None:
            self.stopper = subprocess.Popen([self.docker.cli, "stop", "-t", str(int(grace)), self.run_name],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, process):
        self.docker("kill", self.run_name, timeout=60)
        process.signal(signal.SIGKILL)

    # ------------------------------------------------------------------ evidence
    def _hierarchy(self, controller):
        if self.docker.cgroup_version == 2:
            return self.root
        for name in (controller, "cpu,cpuacct" if controller in ("cpu", "cpuacct") else controller):
            path = os.path.join(self.root, name)
            if os.path.isdir(path):
                return path
        return None

    def _container_cpu_stat_paths(self):
        hierarchy = self._hierarchy("cpu")
        if not (self.parent and self.container_id and hierarchy):
            return []
        return [os.path.join(hierarchy, self.parent.lstrip("/"), self.container_id, "cpu.stat")]

    def state(self):
        rc, out, _err = self.docker("container", "inspect", "--format", "{{json .State}}", self.run_name, timeout=60)
        try:
            return json.loads(out) if rc == 0 else {}
        except ValueError:
            return {}

    def evidence(self):
        self.sampler.stop()
        state = self.state()
        ev = self.blank_evidence()
        ev.update(cgroup_version=self.docker.cgroup_version, oom_killed=bool(state.get("OOMKilled")),
                  container=self.run_name, exit_code=state.get("ExitCode"))
        if self.parent:
            rel = self.parent.lstrip("/")
            if self.docker.cgroup_version == 2:
                part = limits.v2_evidence(os.path.join(self.root, rel))
                part["oom_killed"] = part["oom_killed"] or ev["oom_killed"]
                part.pop("throttled_share")
            else:
                memory, cpuacct = self._hierarchy("memory"), self._hierarchy("cpuacct")
                part = limits.v1_evidence(os.path.join(memory, rel) if memory else None, None,
                                          os.path.join(cpuacct, rel) if cpuacct else None)
                part["oom_killed"] = ev["oom_killed"]
                part.pop("throttled_share")
                part.pop("cgroup_version")
            ev.update(part)
        last = self.sampler.last
        if last.get("nr_periods"):
            ev["throttled_share"] = round(last.get("nr_throttled", 0) / float(last["nr_periods"]), 3)
        elif self.cpu_limit and last:
            ev["throttled_share"] = 0.0
        return ev

    # ------------------------------------------------------------------ cleanup
    def cleanup(self):
        """Remove the container (whatever state it is in), the env file and the cgroup parent."""
        self.sampler.stop()
        if self.stopper is not None:
            try:
                self.stopper.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.stopper.kill()
                self.stopper.wait()
        if self.env_dir:
            shutil.rmtree(self.env_dir, ignore_errors=True)
        if self.created and not self.docker.remove(self.run_name):
            self.problems.append("container %s could not be removed: remove it with docker rm -f %s"
                                 % (self.run_name, self.run_name))
        self.created = False
        if self.parent:
            for left in limits.remove_everywhere(self.parent, self.cgroup_mounts):
                self.problems.append("cgroup %s could not be removed" % left)
        return []


class DockerRunner(Runner):
    """k6 from a local image, in a container on the host network, limited by the container."""

    name = "docker"
    LIMITERS = ("auto", "docker", "none")

    def __init__(self, plan, auto=False, warn=None, run_cmd=run_command, docker_factory=Docker):
        super(DockerRunner, self).__init__(plan, auto, warn, run_cmd)
        self.docker_factory = docker_factory
        self.docker = None
        self.scripts_dir = None
        self.image_user = None
        self.docker_user = None

    def limiter_refusal(self, kind):
        if kind in ("cgroup", "systemd"):
            return ("limiter=%s applies to runner=binary; runner=docker limits k6 with the container's own limits "
                    "(limiter=docker or auto), or not at all (limiter=none)" % kind)
        return super(DockerRunner, self).limiter_refusal(kind)

    # ------------------------------------------------------------------ checks
    def check(self):
        self.check_limiter()
        self.resolve_user()
        try:
            self._check_inputs()
        except DockerError as exc:
            raise RunError(str(exc))
        self._check_machine()

    def _check_inputs(self):
        """Everything about runner=docker that needs no daemon."""
        plan = self.plan
        validate_image(plan.image)
        script = os.path.realpath(plan.script)
        scripts_dir = os.path.realpath(plan.scripts_dir or os.path.dirname(script))
        if not os.path.isdir(scripts_dir):
            raise DockerError("scripts_dir %s does not exist or is not a directory" % plan.scripts_dir)
        if not script.startswith(scripts_dir.rstrip("/") + "/"):
            raise DockerError("script %s is outside scripts_dir %s: the container sees only scripts_dir "
                              "(read-only), so move the script under it or widen scripts_dir" % (plan.script_given, scripts_dir))
        self.scripts_dir = check_mount_path(scripts_dir, "scripts_dir")
        check_mount_path(os.path.abspath(plan.results_dir), "results_dir")
        if plan.ca_file:
            check_mount_path(plan.ca_file, "ca_file")
        env_file_text(dict(plan.env, **plan.secret_env))

    def _prefix(self):
        return "no k6 binary on PATH, so runner=auto chose docker, but " if self.auto else ""

    def _check_machine(self):
        """docker present, daemon answering, image here and able to read the script."""
        try:
            self.docker = self.docker_factory(run_cmd=self.run_cmd)
            config = self.docker.image(self.plan.image)
        except DockerError as exc:
            raise RunError(self._prefix() + str(exc))
        self.image_user = parse_image_user(config.get("User"))
        if self.user is not None:  # run_as_user wins over the image's user
            self.docker_user = "%d:%d" % (self.user.uid, self.user.gid)
            self.image_user = (self.user.uid, self.user.gid)
        elif self.image_user is None or (self.image_user[0] != 0 and os.geteuid() != 0):
            # A named user we cannot map, or we cannot chown the results for it: run as ourselves.
            self.docker_user = "%d:%d" % (os.getuid(), os.getgid())
            self.image_user = (os.getuid(), os.getgid())
        unreadable = unreadable_path(self.plan.script, self.image_user[0], self.image_user[1], self.scripts_dir)
        if unreadable:
            raise RunError("script %s is not readable by uid %d, the user k6 runs as in image %s (%s has mode %04o); "
                           "make the scripts world-readable (chmod -R o+rX %s)"
                           % (self.plan.script_given, self.image_user[0], self.plan.image, unreadable,
                              os.stat(unreadable).st_mode & 0o7777, self.scripts_dir))
        self.check_ca_file(self.image_user[0], self.image_user[1], "uid %d in image %s" % (self.image_user[0], self.plan.image))

    # ------------------------------------------------------------------ version and inspect
    def _throwaway(self, k6_args, what, timeout, extra_env=None):
        """k6 in a `docker run --rm` container under a cgroup parent of its own (removed after)."""
        parent = None
        if self.docker.cgroup_driver == "cgroupfs":
            parent = limits.own_cgroup().rstrip("/") + "/loadops-k6-%s-prep" % self.plan.testid
        try:
            return run_throwaway(self.docker, self.plan.image, k6_args, "loadops-k6-%s-%s" % (self.plan.testid, what),
                                 self.k6_env({}, extra=extra_env), cgroup_parent=parent,
                                 mounts=[(self.scripts_dir, "ro")], workdir=self.scripts_dir, timeout=timeout,
                                 testid=self.plan.testid)
        finally:
            if parent:
                limits.remove_everywhere(parent)

    def version(self):
        _rc, out, _err = self._throwaway(["version"], "version", 60)
        return parse_version(out)

    def inspect(self, extra_env=None):
        argv = cmdlib.build_inspect_argv("k6", self.plan.script)
        rc, stdout, stderr = self._throwaway(argv[1:], "inspect", 120, extra_env)
        if rc != 0 and re.search(r"no such file|not found|cannot find", stderr or "", re.I):
            stderr = (stderr or "") + ("\n(runner=docker: the container sees only scripts_dir %s; set scripts_dir "
                                       "to the directory holding every file the script imports)" % self.scripts_dir)
        return rc, stdout, stderr

    # ------------------------------------------------------------------ the run
    @property
    def argv0(self):
        return "k6"  # the image's

    def process_env(self, html_report=None):
        return None  # the attached docker CLI inherits ours; k6's own env is in the container

    def create_limiter(self, run_argv, artifacts):
        run_dir = os.path.abspath(self.plan.run_dir)
        if self.image_user != (os.getuid(), os.getgid()):
            os.chown(run_dir, *self.image_user)  # k6 runs as the image's user (or run_as_user) and writes here
        html = artifacts.get("html_report")
        env = self.k6_env({}, html and os.path.abspath(html), artifacts.get("output_env"))
        limiter = ContainerLimiter(
            self.docker, self.plan.image, "loadops-k6-" + self.plan.testid, run_argv[1:], env,
            memory_limit=self.plan.memory_limit, cpu_limit=self.plan.cpu_limit, limited=self.plan.limiter != "none",
            scripts_dir=self.scripts_dir, run_dir=run_dir, workdir=run_dir, user=self.docker_user,
            testid=self.plan.testid,
            # The CA bundle k6 trusts (SSL_CERT_FILE), read-only at its own path.
            extra_mounts=[(self.plan.ca_file, "ro")] if self.plan.ca_file else [])
        try:
            limiter.create()
        except DockerError as exc:
            limiter.cleanup()
            raise RunError(str(exc))
        return limiter

    def shown_command(self, limiter, run_argv):
        return limiter.create_argv()
