"""Does the module's cgroup limiter cost k6 throughput? Requests/s of k6 run by loadops.k6.k6_run
(limiter=cgroup, cpu_limit=Q) against raw k6 given the same CPU: the same k6 command line in a
plain cgroup this script makes with the same CFS quota. Same script, same target, alternating.

    .venv/bin/python bench/limiter_cost.py [--rounds 5] [--cpus 0.5] [--vus 10] [--duration 10s]

Load goes only to the demo target (roles/demo_target) started here on a free 127.0.0.1 port.
The quota is below one CPU so that k6, not the target, is the bottleneck (the throttled share is
printed to show it). Every run is bounded by --duration; rounds are capped at 20.
Prints each run, the medians, the ratio of the medians and the median of the per-round ratios
(each round's module run against the raw run next to it, which cancels slow drifts in the
machine's background load); target >= 0.97. Figures, not a test.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_options, SCRIPTS, DemoTarget, find_k6, k6_env, machine, median, run_module  # noqa: E402

from ansible_collections.loadops.k6.plugins.module_utils import k6_command as cmdlib  # noqa: E402
from ansible_collections.loadops.k6.plugins.module_utils import k6_limits as limits  # noqa: E402

SCRIPT = SCRIPTS / "rps.js"
CFS_PERIOD_US = 100000


class PlainCgroup(object):
    """A cpu+cpuacct cgroup v1 (or v2) with a CFS quota, under this process's own cgroup."""

    def __init__(self, name, cpus):
        own = limits.read_proc_cgroups(Path("/proc/self/cgroup").read_text())
        quota = int(round(cpus * CFS_PERIOD_US))
        self.dirs = []
        if limits.cgroup_version() == 2:
            path = os.path.join(limits.CGROUP_ROOT, own[""].lstrip("/"), name)
            os.mkdir(path)
            self.dirs.append(path)
            Path(path, "cpu.max").write_text("%d %d" % (quota, CFS_PERIOD_US))
            self.stat = lambda: _kv(Path(path, "cpu.stat"))
            self.usage_s = lambda: self.stat().get("usage_usec", 0) / 1e6
        else:
            # Same placement as the module's limiter: at a hierarchy's root, follow the memory path.
            def base(controller):
                path = own.get(controller, "/")
                return (own.get("memory", "/") if path.strip("/") == "" else path).lstrip("/")
            cpu = os.path.join(limits.CGROUP_ROOT, "cpu", base("cpu"), name)
            acct = os.path.join(limits.CGROUP_ROOT, "cpuacct", base("cpuacct"), name)
            for path in (cpu, acct):
                if path not in self.dirs and not os.path.isdir(path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.mkdir(path)
                    self.dirs.append(path)
            Path(cpu, "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            Path(cpu, "cpu.cfs_quota_us").write_text(str(quota))
            self.stat = lambda: _kv(Path(cpu, "cpu.stat"))
            self.usage_s = lambda: int(Path(acct, "cpuacct.usage").read_text()) / 1e9

    def join(self):
        pid = str(os.getpid())
        for path in self.dirs:
            Path(path, "cgroup.procs").write_text(pid)

    def remove(self):
        for path in reversed(self.dirs):
            for pid in Path(path, "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for _attempt in range(50):
                try:
                    os.rmdir(path)
                    break
                except OSError:
                    time.sleep(0.1)


def _kv(path):
    out = {}
    for line in path.read_text().splitlines():
        key, _sep, value = line.partition(" ")
        out[key] = int(value) if value.strip().isdigit() else value
    return out


def raw_run(k6, env, work, index, cpus):
    """The module's k6 command line, run directly inside a plain cgroup with the same quota."""
    summary = work / ("raw-%d.json" % index)
    argv = cmdlib.build_run_argv(k6, str(SCRIPT), quiet=True, address="", tags={"testid": "raw-%d" % index},
                                 summary_export=str(summary),
                                 summary_trend_stats=["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"])
    group = PlainCgroup("loadops-bench-raw-%d-%d" % (os.getpid(), index), cpus)
    try:
        proc = subprocess.run(argv, env=dict(k6_env(), **env), cwd=str(SCRIPT.parent), preexec_fn=group.join,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
        stat, cpu_s = group.stat(), group.usage_s()
    finally:
        group.remove()
    if proc.returncode != 0:
        sys.exit("raw k6 failed (rc %d)" % proc.returncode)
    data = json.loads(summary.read_text())
    periods = stat.get("nr_periods") or 0
    return data["metrics"]["http_reqs"]["rate"], (stat.get("nr_throttled", 0) / periods if periods else 0.0), cpu_s


def module_run(k6, env, work, index, cpus):
    _wall, result = run_module({"script": str(SCRIPT), "k6_path": k6, "results_dir": str(work), "html_report": False,
                                "limiter": "cgroup", "cpu_limit": str(cpus), "env": env,
                                "tags": {"testid": "module-%d" % index}})
    if result.get("verdict") != "passed":
        sys.exit("module run did not pass: %s" % result.get("msg"))
    gen = result["generator"]
    return result["metrics"]["request_rate"], gen["throttled_share"], gen["cpu_seconds"]


def main():
    opts = load_options(__doc__.split("\n", maxsplit=1)[0], 5, 20)
    k6 = find_k6(opts.k6)
    work = Path(tempfile.mkdtemp(prefix="loadops-bench-limiter-"))
    target = DemoTarget()
    rates = {"raw": [], "module": []}
    print("machine:", machine())
    print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("target %s, script %s, %d VUs x %s, cpu quota %.2f for both, %d rounds (alternating order)"
          % (target.url, SCRIPT.name, opts.vus, opts.duration, opts.cpus, opts.rounds))
    env = {"BASE": target.url, "VUS": str(opts.vus), "DURATION": opts.duration}
    try:
        for index in range(opts.rounds):
            order = (("raw", raw_run), ("module", module_run))
            for name, runner in (order if index % 2 == 0 else order[::-1]):
                before = target.cpu_seconds()
                rate, throttled, cpu_s = runner(k6, env, work, index, opts.cpus)
                rates[name].append(rate)
                print("round %d %-6s %8.1f req/s  throttled %3.0f%%  k6 cpu %.2f s  target cpu %.2f s"
                      % (index + 1, name, rate, throttled * 100, cpu_s, target.cpu_seconds() - before), flush=True)
    finally:
        target.stop()
        shutil.rmtree(work, ignore_errors=True)
    raw, mod = median(rates["raw"]), median(rates["module"])
    paired = [m / r for m, r in zip(rates["module"], rates["raw"])]
    print()
    print("load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("median req/s: raw %.1f  module %.1f" % (raw, mod))
    print("per-round ratios module/raw: %s" % " ".join("%.3f" % r for r in paired))
    print("ratio of medians module/raw:      %.3f" % (mod / raw))
    print("median of per-round ratios:       %.3f   target >= 0.97" % median(paired))


if __name__ == "__main__":
    main()
