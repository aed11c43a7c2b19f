"""How much wall time loadops.k6.k6_run adds to `k6 run` of the same 10 s script.

    .venv/bin/python bench/overhead.py [--rounds 5] [--k6 PATH] [--no-ansible]

Each round runs, in turn:
  raw      k6 run --quiet --address '' bench/scripts/steady_10s.js
  module   the module file as Ansible runs it on a target (python -m ...k6_run ARGS.json),
           html_report=false, default limiter (auto)
  module+html  the same with html_report=true (the module's default: k6's web-dashboard export)
  ansible  ansible localhost -c local -m loadops.k6.k6_run -a ... (html_report=false)
  ping     ansible localhost -c local -m ansible.builtin.ping   (Ansible's own start-up)
and prints every sample and the medians:
  module overhead                 = median(module) - median(raw)            target < 0.3 s
  ansible overhead beyond start-up = median(ansible) - median(raw) - median(ping)   target < 0.3 s
Figures, not a test: nothing here fails on a slow machine.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, REPO, SCRIPTS, find_k6, k6_env, machine, median, module_env, run_module  # noqa: E402

SCRIPT = SCRIPTS / "steady_10s.js"


def timed(argv, env, cwd=None):
    started = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd, timeout=300,
                          check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit("%s failed (rc %d): %s" % (" ".join(argv[:4]), proc.returncode, proc.stdout[-2000:]))
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--k6", help="k6 binary (default: K6_BIN, PATH, next to this python)")
    parser.add_argument("--no-ansible", action="store_true", help="skip the two `ansible localhost` variants")
    opts = parser.parse_args()
    if not 1 <= opts.rounds <= 20:
        sys.exit("--rounds must be 1..20")
    k6 = find_k6(opts.k6)
    ansible = str(Path(PYTHON).parent / "ansible")
    work = Path(tempfile.mkdtemp(prefix="loadops-bench-overhead-"))
    samples = {"raw": [], "module": [], "module+html": [], "ansible": [], "ping": []}
    internal = []
    print("machine:", machine())
    print("script: %s, %d rounds, k6 %s" % (SCRIPT.relative_to(REPO), opts.rounds, k6))
    try:
        for index in range(opts.rounds):
            samples["raw"].append(timed([k6, "run", "--quiet", "--address", "", str(SCRIPT)], k6_env()))
            for key, html in (("module", False), ("module+html", True)):
                wall, result = run_module({"script": str(SCRIPT), "k6_path": k6, "results_dir": str(work / key),
                                           "html_report": html, "tags": {"testid": "overhead-%s-%d" % (key.replace("+", "-"), index)}})
                if result.get("verdict") != "passed":
                    sys.exit("module run did not pass: %s" % result.get("msg"))
                samples[key].append(wall)
                if key == "module":
                    internal.append(result["duration_s"])
                    limiter = result["generator"]["limiter"]
            if not opts.no_ansible:
                env = module_env()
                env.pop("PYTHONPATH")
                base = [ansible, "localhost", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % PYTHON]
                samples["ansible"].append(timed(base + ["-m", "loadops.k6.k6_run", "-a",
                                                        "script=%s k6_path=%s results_dir=%s html_report=false tags={'testid':'overhead-ansible-%d'}"
                                                        % (SCRIPT, k6, work / "ansible", index)], env, cwd=str(REPO)))
                samples["ping"].append(timed(base + ["-m", "ansible.builtin.ping"], env, cwd=str(REPO)))
            print("round %d: %s" % (index + 1, "  ".join("%s %.3f" % (k, v[-1]) for k, v in samples.items() if v)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {key: median(values) for key, values in samples.items() if values}
    print()
    print("medians (s): " + "  ".join("%s %.3f" % item for item in med.items()))
    print("module limiter: %s; module's own duration_s median %.3f" % (limiter, median(internal)))
    print("module overhead (module - raw):                    %.3f s   target < 0.3" % (med["module"] - med["raw"]))
    print("module+html overhead (module+html - raw):          %.3f s" % (med["module+html"] - med["raw"]))
    if "ansible" in med:
        print("Ansible start-up (ping):                           %.3f s" % med["ping"])
        print("ansible k6_run - raw:                              %.3f s" % (med["ansible"] - med["raw"]))
        print("ansible overhead beyond start-up (ans - raw - ping): %.3f s   target < 0.3" % (med["ansible"] - med["raw"] - med["ping"]))


if __name__ == "__main__":
    main()
