# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How k6 is started: the Runner interface, the local-binary runner, and the choice between runners.

Private to the loadops.k6 collection: no stability promise outside it.

A Runner knows one way of executing k6 on the load machine. The engine (k6_engine) calls, in order:

  check()                          the machine can run k6 this way (read-only; RunError if not)
  version(), inspect(extra_env)    `k6 version` / `k6 inspect` the same way k6 will run
  split_outputs(outputs)           outputs for k6's argv, and env that carries their credentials
  argv0                            what stands for k6 at the head of the `k6 run` argv
  process_env(html_report), cwd    the started process's environment and directory
  preexec(limiter)                 what runs in the child before exec (limiter step, umask, user)
  create_limiter(run_argv, artifacts)  a created Limiter (k6_limits.Limiter) for this run
  shown_command(limiter, run_argv) the command line for humans (the engine masks secrets)
  release()                        after the limiter's cleanup (e.g. give files back to our user)

To add a runner: subclass Runner, list the limiters it accepts in LIMITERS, and add it to RUNNERS
in k6_plan and to choose_runner below. The docker runner is k6_docker.DockerRunner.
"""
from __future__ import annotations

import abc
import collections
import os
import pwd
import re
import shutil

from . import k6_command as cmdlib
from . import k6_limits as limits
from .k6_plan import RunError
from .k6_process import run_command

User = collections.namedtuple("User", "name uid gid home")

STOP_GRACE_S = 30
# A systemd scope's keeper outlives k6 by at most this much when the module itself is SIGKILLed.
KEEPER_MARGIN_S = 600


class Runner(abc.ABC):
    name = None
    LIMITERS = ()

    def __init__(self, plan, auto=False, warn=None, run_cmd=run_command):
        self.plan = plan
        self.auto = auto  # chosen by runner=auto: messages say why
        self.warn = warn or (lambda text: None)
        self.run_cmd = run_cmd
        self.duration_s = None  # the script's total duration, once inspected
        self.user = None  # the run_as_user, resolved by check()

    def resolve_user(self, getpwnam=pwd.getpwnam, geteuid=os.geteuid):
        """run_as_user -> User; switching to another user needs root."""
        name = self.plan.run_as_user
        if not name:
            return
        try:
            entry = getpwnam(name)
        except KeyError:
            raise RunError("run_as_user %s does not exist on the load machine; create it (the loadops.k6.k6_runner "
                           "role creates loadops-k6) or leave run_as_user empty to run k6 as the module's user" % name)
        if geteuid() not in (0, entry.pw_uid):
            raise RunError("run_as_user %s needs the module to run as root (become: true) or as %s itself"
                           % (name, name))
        self.user = User(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)

    def check_results_dir_reachable(self):
        """k6 as run_as_user must be able to enter every directory above its run directory."""
        if self.user is None or self.user.uid == 0:
            return
        where = os.path.dirname(os.path.abspath(self.plan.run_dir))
        while not os.path.isdir(where):  # results_dir is made later, by root, 0755
            where = os.path.dirname(where)
        blocked = None
        while True:
            if not readable_by(where, self.user.uid, self.user.gid, need_exec=True):
                blocked = where
            if where == "/":
                break
            where = os.path.dirname(where)
        if blocked:
            raise RunError("results_dir %s cannot be reached by run_as_user %s: %s has mode %04o; choose a results_dir "
                           "that others may enter (e.g. /var/lib/loadops/results), or leave run_as_user empty"
                           % (self.plan.results_dir, self.user.name, blocked, os.stat(blocked).st_mode & 0o7777))

    def check_limiter(self):
        if self.plan.limiter not in self.LIMITERS:
            raise RunError(self.limiter_refusal(self.plan.limiter))

    def limiter_refusal(self, kind):
        return "limiter=%s does not apply to runner=%s; use one of %s" % (kind, self.name, ", ".join(self.LIMITERS))

    @abc.abstractmethod
    def check(self):
        """Can k6 run this way here? RunError naming what is missing."""

    @abc.abstractmethod
    def version(self):
        """k6's version as 1.1.0, or None."""

    @abc.abstractmethod
    def inspect(self, extra_env=None):
        """(rc, stdout, stderr) of `k6 inspect --execution-requirements` on the plan's script."""

    def split_outputs(self, outputs):
        """Credentials in an InfluxDB output URL go to k6's environment, never to an argv (`ps`)."""
        return cmdlib.influxdb_credentials_to_env(outputs)

    @property
    @abc.abstractmethod
    def argv0(self):
        """k6 as the head of the run command."""

    @abc.abstractmethod
    def process_env(self, html_report=None):
        """Environment of the started process (None: inherit)."""

    @property
    def cwd(self):
        return None

    @abc.abstractmethod
    def create_limiter(self, run_argv, artifacts):
        """A created limiter for this run; RunError (with nothing left behind) if it cannot be made."""

    def shown_command(self, limiter, run_argv):
        return list(run_argv)

    def preexec(self, limiter):
        return limiter.preexec()

    def release(self):
        """After the run: what k6 wrote as another user goes back to the module's user."""
        uid, gid = os.getuid(), os.getgid()
        if os.geteuid() != 0 or not os.path.isdir(self.plan.run_dir):
            return
        for dirpath, _dirs, files in os.walk(self.plan.run_dir):
            for path in [dirpath] + [os.path.join(dirpath, name) for name in files]:
                try:
                    os.lchown(path, uid, gid)
                except OSError:
                    pass

    def k6_env(self, base, html_report=None, extra=None):
        """k6's environment: base, our fixed settings, the user's env, then extra, then secret_env."""
        env = cmdlib.build_env(base, self.plan.env, html_report)
        if html_report and "K6_WEB_DASHBOARD_PERIOD" not in self.plan.env:
            # The export is only written when at least one period has elapsed (measured, k6 1.1.0).
            env["K6_WEB_DASHBOARD_PERIOD"] = "1s"
        if self.plan.ca_file:
            env[cmdlib.CA_FILE_ENV] = self.plan.ca_file
        env.update(extra or {})
        env.update((str(k), "" if v is None else str(v)) for k, v in self.plan.secret_env.items())
        return env

    def check_ca_file(self, uid, gid, who):
        """ca_file is a PEM file with a certificate that k6, running as uid:gid (who), can read."""
        path = self.plan.ca_file
        if not path:
            return
        if not os.path.isfile(path):
            raise RunError("ca_file %s does not exist on the load machine or is not a file; give the path of a PEM "
                           "bundle of the CA certificates that sign the target's certificate" % path)
        unreadable = unreadable_path(path, uid, gid, "/") if uid != os.geteuid() else (
            None if os.access(path, os.R_OK) else path)
        if unreadable:
            raise RunError("ca_file %s is not readable by %s, the user k6 runs as (%s has mode %04o); make it "
                           "readable for that user (chmod o+r on the file, o+x on its directories)"
                           % (path, who, unreadable, os.stat(unreadable).st_mode & 0o7777))
        try:
            with open(path, "rb") as handle:
                head = handle.read(4 * 1024 * 1024)
        except OSError as exc:
            raise RunError("ca_file %s cannot be read: %s" % (path, exc.strerror))
        if b"-----BEGIN CERTIFICATE-----" not in head:
            raise RunError("ca_file %s holds no PEM certificate (no -----BEGIN CERTIFICATE----- line); give a PEM "
                           "bundle of CA certificates (convert a DER file with openssl x509 -inform der)" % path)

    def keeper_seconds(self):
        """How long a limiter's helper may outlive a SIGKILLed module."""
        total = self.duration_s or 0
        budget = self.plan.timeout or max(2 * total, total + 600)
        return int(budget + STOP_GRACE_S + KEEPER_MARGIN_S)


class BinaryRunner(Runner):
    """The load machine's k6 binary as our child, limited by a cgroup, a systemd scope or nothing."""

    name = "binary"
    LIMITERS = ("auto", "cgroup", "systemd", "none")

    def __init__(self, plan, auto=False, warn=None, run_cmd=run_command, which=shutil.which,
                 systemd_probe=limits.probe_systemd, cgroup_root=limits.CGROUP_ROOT):
        super(BinaryRunner, self).__init__(plan, auto, warn, run_cmd)
        self.which = which
        self.systemd_probe = systemd_probe
        self.cgroup_root = cgroup_root
        self.k6 = None
        self.systemd = None

    def limiter_refusal(self, kind):
        if kind == "docker":
            return ("limiter=docker needs runner=docker (k6 in a container); with runner=binary use "
                    "limiter=auto, cgroup or systemd")
        return super(BinaryRunner, self).limiter_refusal(kind)

    def check(self):
        self.check_limiter()
        self.resolve_user()
        k6 = self.plan.k6_path or self.which("k6")
        if not k6:
            raise RunError("k6 is not installed on the load machine (no k6 on PATH); install it with the "
                           "loadops.k6.k6_runner role or set k6_path"
                           + (", or install docker for runner=docker" if self.auto else ""))
        if not (os.path.isfile(k6) and os.access(k6, os.X_OK)):
            raise RunError("k6_path %s is not an executable file" % k6)
        self.k6 = k6
        if self.user is not None:
            unreadable = unreadable_path(self.plan.script, self.user.uid, self.user.gid, "/")
            if unreadable:
                raise RunError("script %s is not readable by %s (uid %d), the run_as_user k6 runs as (%s has mode %04o); "
                               "make the scripts readable for it (chmod o+rX)" % (
                                   self.plan.script_given, self.user.name, self.user.uid, unreadable,
                                   os.stat(unreadable).st_mode & 0o7777))
            self.check_results_dir_reachable()
        if self.user is not None:
            self.check_ca_file(self.user.uid, self.user.gid, "%s (uid %d)" % (self.user.name, self.user.uid))
        else:
            self.check_ca_file(os.geteuid(), os.getegid(), "uid %d" % os.geteuid())
        if self.plan.limiter in ("auto", "systemd"):
            # Asked once, here, so that check mode also refuses limiter=systemd where it cannot work.
            self.systemd = self.systemd_probe(self.run_cmd)
            if self.plan.limiter == "systemd" and not self.systemd[0]:
                raise RunError("limiter=systemd needs systemd as PID 1 and a working systemd-run: %s; "
                               "use limiter=cgroup (or auto) on this machine" % self.systemd[1])

    def version(self):
        _rc, out, _err = self.run_cmd([self.k6, "version"], 30)
        return parse_version(out)

    def inspect(self, extra_env=None):
        argv = cmdlib.build_inspect_argv(self.k6, self.plan.script)
        return self.run_cmd(argv, 120, env=self.k6_env(os.environ, extra=extra_env), cwd=self.cwd)

    @property
    def argv0(self):
        return self.k6

    def process_env(self, html_report=None):
        env = self.k6_env(os.environ, html_report)
        if self.user is not None:
            env.update(HOME=self.user.home if os.path.isdir(self.user.home) else self.plan.run_dir,
                       USER=self.user.name, LOGNAME=self.user.name)
        return env

    @property
    def cwd(self):
        """inspect runs beside the script; the run in its own directory, so relative file outputs land there."""
        return self.plan.run_dir if os.path.isdir(self.plan.run_dir) else os.path.dirname(self.plan.script)

    def preexec(self, limiter):
        """In the child before exec: the limiter's step (as root), private files, then our user."""
        join = limiter.preexec()
        user = None if limiter.switches_user else self.user

        def _preexec():
            if join is not None:
                join()
            os.umask(0o077)
            if user is not None and os.geteuid() != user.uid:
                os.setgroups([])
                os.setgid(user.gid)
                os.setuid(user.uid)
        return _preexec

    def create_limiter(self, run_argv, artifacts):
        """auto without limits falls back to no limiter (with a warning) where none can be made."""
        plan = self.plan
        if self.user is not None and os.geteuid() == 0:
            os.chown(plan.run_dir, self.user.uid, self.user.gid)  # k6 writes its summary and report here
        try:
            limiter = limits.select_limiter(plan.limiter, "loadops-k6-" + plan.testid, plan.memory_limit,
                                            plan.cpu_limit, root=self.cgroup_root,
                                            keeper_seconds=self.keeper_seconds(),
                                            systemd_probe=(lambda: self.systemd) if self.systemd else None,
                                            run_cmd=self.run_cmd)
            limiter.run_as = self.user
            limiter.create()
            return limiter
        except limits.LimiterError as exc:
            if plan.limiter == "auto" and not plan.memory_limit and not plan.cpu_limit \
                    and not isinstance(exc, limits.LimiterConflict):
                self.warn("no limiter (%s); memory peak and OOM kills are not measured" % exc)
                return limits.Unlimited()
            raise RunError(str(exc))


def readable_by(path, uid, gid, need_exec=False):
    """Would uid:gid get read (and, for directories, search) access by the mode bits?"""
    st = os.stat(path)
    if uid == 0:
        return True
    if st.st_uid == uid:
        shift = 6
    elif st.st_gid == gid:
        shift = 3
    else:
        shift = 0
    bits = (st.st_mode >> shift) & 0o7
    want = 0o4 | (0o1 if need_exec else 0)
    return bits & want == want


def unreadable_path(script, uid, gid, top):
    """The first of the script and its directories up to top that uid:gid cannot read, or None."""
    script = os.path.realpath(script)
    if not readable_by(script, uid, gid):
        return script
    where = os.path.dirname(script)
    while where.startswith(top):
        if not readable_by(where, uid, gid, need_exec=True):
            return where
        if where == top or where == "/":
            break
        where = os.path.dirname(where)
    return None


def parse_version(text):
    match = re.search(r"v(\d+\.\d+\.\d+\S*)", text or "")
    return match.group(1) if match else (text or "").strip() or None


def choose_runner(plan, warn=None, which=shutil.which, docker_runner=None):
    """The Runner for the plan: auto is binary when k6 is installed (or k6_path is set) or docker
    is not, else docker."""
    if docker_runner is None:
        from .k6_docker import DockerRunner as docker_runner  # noqa: N813 (a class, named as one)
    kind, auto = plan.runner, plan.runner == "auto"
    if auto:
        kind = "binary" if plan.k6_path or which("k6") or not which("docker") else "docker"
    if kind == "docker":
        return docker_runner(plan, auto=auto, warn=warn)
    return BinaryRunner(plan, auto=auto, warn=warn, which=which)
