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
  create_limiter(run_argv, artifacts)  a created Limiter (k6_limits.Limiter) for this run
  shown_command(limiter, run_argv) the command line for humans (the engine masks secrets)
  release()                        after the limiter's cleanup (e.g. give files back to our user)

To add a runner: subclass Runner, list the limiters it accepts in LIMITERS, and add it to RUNNERS
in k6_plan and to choose_runner below. The docker runner is k6_docker.DockerRunner.
"""
from __future__ import annotations

import abc
import os
import re
import shutil

from . import k6_command as cmdlib
from . import k6_limits as limits
from .k6_plan import RunError
from .k6_process import run_command

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
        return list(outputs), {}

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

    def release(self):
        pass

    def k6_env(self, base, html_report=None, extra=None):
        """k6's environment: base, our fixed settings, the user's env, then extra."""
        env = cmdlib.build_env(base, self.plan.env, html_report)
        if html_report and "K6_WEB_DASHBOARD_PERIOD" not in self.plan.env:
            # The export is only written when at least one period has elapsed (measured, k6 1.1.0).
            env["K6_WEB_DASHBOARD_PERIOD"] = "1s"
        env.update(extra or {})
        return env

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
        k6 = self.plan.k6_path or self.which("k6")
        if not k6:
            raise RunError("k6 is not installed on the load machine (no k6 on PATH); install it with the "
                           "loadops.k6.k6_runner role or set k6_path"
                           + (", or install docker for runner=docker" if self.auto else ""))
        if not (os.path.isfile(k6) and os.access(k6, os.X_OK)):
            raise RunError("k6_path %s is not an executable file" % k6)
        self.k6 = k6
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
        return self.k6_env(os.environ, html_report)

    @property
    def cwd(self):
        return os.path.dirname(self.plan.script)

    def create_limiter(self, run_argv, artifacts):
        """auto without limits falls back to no limiter (with a warning) where none can be made."""
        plan = self.plan
        try:
            limiter = limits.select_limiter(plan.limiter, "loadops-k6-" + plan.testid, plan.memory_limit,
                                            plan.cpu_limit, root=self.cgroup_root,
                                            keeper_seconds=self.keeper_seconds(),
                                            systemd_probe=(lambda: self.systemd) if self.systemd else None,
                                            run_cmd=self.run_cmd)
            limiter.create()
            return limiter
        except limits.LimiterError as exc:
            if plan.limiter == "auto" and not plan.memory_limit and not plan.cpu_limit \
                    and not isinstance(exc, limits.LimiterConflict):
                self.warn("no limiter (%s); memory peak and OOM kills are not measured" % exc)
                return limits.Unlimited()
            raise RunError(str(exc))


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
