"""What does samples=reduce cost? k6's requests/s, k6's memory and the module process's memory and CPU
with loadops.k6.k6_run samples=reduce against samples=off, plus the bytes a request leaves behind.

    .venv/bin/python bench/reduction.py [--rounds 3] [--cpus 0.5] [--vus 10] [--duration 10s]

Run as root (limiter=cgroup needs it). Load goes only to the demo target (roles/demo_target)
started here on a free 127.0.0.1 port; bench/scripts/rps.js, the same limiter=cgroup and
cpu_limit for both modes, html_report=false. Each round runs both modes, in alternating order;
rounds are capped at 10 and every run is bounded by --duration (at most 60s). One extra run with
samples=keep gives the size of the raw stream (samples.json.gz).

The module runs as a child (subprocess.Popen) reaped with os.wait4. That rusage is the module's
*and* that of the children it reaped (k6, `k6 version`, `k6 inspect`: Linux reports RUSAGE_BOTH),
so its ru_maxrss is mostly k6's. The reducer lives in the module process itself, so the module is
started through a small runpy wrapper (what AnsiballZ does too) that also writes the process's
own getrusage(RUSAGE_SELF) when the module exits; both are printed.

Prints each run, the medians, the ratio of the medians and the median of the per-round ratios
of k6's request rate (reduce/off; goal >= 0.95), memory, module CPU per 1000 requests, and
reduction.json / samples.json.gz bytes per request. Figures, not a test: it exits 0 on a slow machine.
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
from _common import load_options, PYTHON, REPO, SCRIPTS, DemoTarget, find_k6, machine, median, module_env  # noqa: E402

from ansible_collections.loadops.k6.plugins.module_utils import k6_command as cmdlib  # noqa: E402

SCRIPT = SCRIPTS / "rps.js"
MODULE = "ansible_collections.loadops.k6.plugins.modules.k6_run"
MIB = 1024.0 * 1024.0

# argv: -c RUSAGE_OUT ARGS_JSON. The module's own rusage (RUSAGE_SELF: no children) when it exits.
WRAPPER = """
import json, resource, runpy, sys
out = sys.argv.pop(1)
try:
    runpy.run_module(%r, run_name="__main__", alter_sys=True)
finally:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as handle:
        json.dump({"maxrss_kib": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime}, handle)
""" % MODULE


def run_module_rusage(args, work, timeout):
    """The module as a child reaped with os.wait4: (result, wait4 rusage, the module's own rusage dict)."""
    fd, args_path = tempfile.mkstemp(suffix=".json", dir=str(work))
    with os.fdopen(fd, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    own_path, out_path, err_path = args_path + ".rusage", args_path + ".out", args_path + ".err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([PYTHON, "-c", WRAPPER, own_path, args_path], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, env=module_env(), cwd=str(REPO))
    deadline = time.monotonic() + timeout
    pid = status = rusage = 0
    try:
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                sys.exit("the module ran longer than %.0f s" % timeout)
            time.sleep(0.05)
    finally:
        if not pid:  # timed out or interrupted: the module stops and reaps k6 on SIGTERM; SIGKILL if it does not
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout, stderr = Path(out_path).read_text(), Path(err_path).read_text()
    try:
        result = json.loads(stdout)
    except ValueError:
        sys.exit("the module printed no JSON (rc %s): %s %s" % (proc.returncode, stdout[-2000:], stderr[-2000:]))
    try:
        own = json.loads(Path(own_path).read_text())
    except (OSError, ValueError):
        own = {"maxrss_kib": float("nan"), "cpu_s": float("nan")}
    return result, rusage, own


def one_run(mode, k6, env, work, tag, opts):
    timeout = cmdlib.parse_duration(opts.duration) + 180
    result, rusage, own = run_module_rusage({"script": str(SCRIPT), "k6_path": k6, "results_dir": str(work / "results"),
                                             "html_report": False, "limiter": "cgroup", "cpu_limit": str(opts.cpus),
                                             "samples": mode, "env": env, "tags": {"testid": tag}}, work, timeout)
    if result.get("verdict") != "passed":
        sys.exit("module run (samples=%s) did not pass: %s" % (mode, result.get("msg")))
    metrics, gen, artifacts = result["metrics"], result["generator"], result.get("artifacts") or {}
    requests = metrics["requests"]

    def size(key):
        path = artifacts.get(key)
        return os.path.getsize(path) if path and os.path.exists(path) else None

    run = {
        "mode": mode, "rate": metrics["request_rate"], "requests": requests,
        "k6_peak": gen.get("memory_peak_bytes"), "k6_cpu": gen.get("cpu_seconds"), "throttled": gen.get("throttled_share"),
        "own_rss": own["maxrss_kib"] * 1024.0, "own_cpu": own["cpu_s"],
        "wait4_rss": rusage.ru_maxrss * 1024.0, "wait4_cpu": rusage.ru_utime + rusage.ru_stime,
        "reduction": size("reduction"), "samples": size("samples"),
    }
    run["own_cpu_per_k"] = run["own_cpu"] / requests * 1000 if requests else float("nan")
    run["wait4_cpu_per_k"] = run["wait4_cpu"] / requests * 1000 if requests else float("nan")
    shutil.rmtree(artifacts.get("dir") or str(work / "results" / tag), ignore_errors=True)
    return run


def mib(value):
    return "%7.1f" % (value / MIB) if value is not None else "      ?"


def show(index, run, target_cpu):
    extra = ""
    if run["reduction"] is not None and run["requests"]:
        extra += "  reduction %.2f B/req" % (run["reduction"] / run["requests"])
    if run["samples"] is not None and run["requests"]:
        extra += "  samples.json.gz %.1f B/req" % (run["samples"] / run["requests"])
    print("%s %-6s %8.1f req/s %7d req  throttled %3.0f%%  k6 cpu %.2f s  k6 peak %s MiB  module own maxrss %s MiB  "
          "cpu %.2f s (%.2f ms/1000 req)  wait4 maxrss %s MiB  cpu %.2f s  target cpu %.2f s%s"
          % (index, run["mode"], run["rate"], run["requests"], (run["throttled"] or 0) * 100, run["k6_cpu"] or 0,
             mib(run["k6_peak"]), mib(run["own_rss"]), run["own_cpu"], run["own_cpu_per_k"] * 1000, mib(run["wait4_rss"]),
             run["wait4_cpu"], target_cpu, extra), flush=True)


def main():
    opts = load_options(__doc__.split("\n", maxsplit=1)[0], 3, 10, "rounds of reduce+off, 1..10 (default 3)")
    if os.geteuid() != 0:
        sys.exit("run as root: limiter=cgroup makes cgroups")
    k6 = find_k6(opts.k6)
    runs = {"reduce": [], "off": []}
    keep = None
    print("machine:", machine())
    print("load average before: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    target = DemoTarget()
    work = Path(tempfile.mkdtemp(prefix="loadops-bench-reduction-"))
    print("target %s, script %s, %d VUs x %s, limiter cgroup, cpu_limit %.2f for both, %d rounds (alternating order)"
          % (target.url, SCRIPT.name, opts.vus, opts.duration, opts.cpus, opts.rounds))
    env = {"BASE": target.url, "VUS": str(opts.vus), "DURATION": opts.duration}
    try:
        for index in range(opts.rounds):
            order = ("reduce", "off") if index % 2 == 0 else ("off", "reduce")
            for mode in order:
                before = target.cpu_seconds()
                run = one_run(mode, k6, env, work, "reduction-%s-%d" % (mode, index), opts)
                runs[mode].append(run)
                show("round %d" % (index + 1), run, target.cpu_seconds() - before)
        before = target.cpu_seconds()
        keep = one_run("keep", k6, env, work, "reduction-keep", opts)
        show("extra  ", keep, target.cpu_seconds() - before)
    finally:
        target.stop()
        shutil.rmtree(work, ignore_errors=True)

    def med(mode, key):
        return median([run[key] for run in runs[mode] if run[key] is not None])

    red, off = med("reduce", "rate"), med("off", "rate")
    paired = [r["rate"] / o["rate"] for r, o in zip(runs["reduce"], runs["off"])]
    print()
    print("load average after: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    print("1. k6 request rate (median req/s): reduce %.1f  off %.1f" % (red, off))
    print("   per-round ratios reduce/off: %s" % " ".join("%.3f" % r for r in paired))
    print("   ratio of medians reduce/off:  %.3f" % (red / off))
    print("   median of per-round ratios:   %.3f   goal >= 0.95: %s" % (median(paired), "met" if median(paired) >= 0.95 else "NOT met"))
    print("2. memory and CPU (medians)            reduce       off")
    for label, key, fmt in (("k6 peak (cgroup) MiB", "k6_peak", mib), ("module own maxrss MiB", "own_rss", mib),
                            ("module wait4 maxrss MiB (incl. k6)", "wait4_rss", mib),
                            ("module own cpu s", "own_cpu", lambda v: "%7.2f" % v),
                            ("module own cpu ms/1000 req", "own_cpu_per_k", lambda v: "%7.2f" % (v * 1000)),
                            ("module wait4 cpu s (incl. k6)", "wait4_cpu", lambda v: "%7.2f" % v),
                            ("k6 cpu s (cgroup)", "k6_cpu", lambda v: "%7.2f" % v)):
        print("   %-34s %s   %s" % (label, fmt(med("reduce", key)), fmt(med("off", key))))
    own_delta = [r["own_cpu"] - o["own_cpu"] for r, o in zip(runs["reduce"], runs["off"])]
    per_k = [(r["own_cpu"] - o["own_cpu"]) / r["requests"] * 1000 for r, o in zip(runs["reduce"], runs["off"]) if r["requests"]]
    print("   reader's cost in the module (own cpu reduce - off, per round): %s s; median %.2f ms/1000 req"
          % (" ".join("%.2f" % d for d in own_delta), median(per_k) * 1000))
    bpr = [r["reduction"] / r["requests"] for r in runs["reduce"] if r["reduction"] and r["requests"]]
    print("3. reduction.json bytes/request (reduce runs): %s; median %.2f" % (" ".join("%.2f" % b for b in bpr), median(bpr)))
    if keep is not None and keep["samples"] and keep["requests"]:
        print("   samples=keep: samples.json.gz %.1f bytes/request (%d bytes, %d requests), reduction.json %.2f bytes/request, "
              "%.1f req/s" % (keep["samples"] / keep["requests"], keep["samples"], keep["requests"],
                              (keep["reduction"] or 0) / keep["requests"], keep["rate"]))


if __name__ == "__main__":
    main()
