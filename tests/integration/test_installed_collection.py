"""The collection as a user gets it: built into a tarball, installed with ansible-galaxy into an empty
collections path, and run by name (`ansible-playbook loadops.k6.smoke`, `loadops.k6.run`) from an
unrelated directory with a fresh inventory there and no checkout ansible.cfg.

- Results (verdict.json, junit.xml, each host's summary) land under that directory, never inside
  the installed collection. The installed collection is mounted read-only for every run (a bind
  mount in a mount namespace of the run's own, `unshare -m`), like a system-wide install: any write
  into it fails; its file list, sizes and mtimes are compared before and after as well. Where no
  mount namespace can be made (not root), the runs go without it and only __pycache__ (Python's
  own, skipped on a read-only install) may appear.
- Your own script (scenario_run_script_src) from that directory, the bundled http scenario, extra
  outputs (a json file fetched with the artifacts) and tags (on every sample of that file).
- A missing script, an unknown output type and a reserved tag are refused before any load.

This machine is the load machine (local connection, the venv's python), k6 runs as the module's
user, the target is a demo target on a free loopback port, no InfluxDB (scenario_run_influxdb_url
empty), no container, no fixed port. community.* come from the venv's `ansible` bundle.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest

from services import AS_MODULE_USER, REPO, VENV_BIN

SITE_PACKAGES = sorted(glob.glob(str(REPO / ".venv" / "lib" / "python3*" / "site-packages")))

MY_SCRIPT = """\
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { mine: { executor: 'constant-vus', vus: 1, duration: '3s' } },
  thresholds: { http_req_failed: ['rate<0.01'], http_req_duration: ['p(95)<1000'] },
};

export default function () {
  const res = http.get(`${__ENV.K6_BASE_URL}/health/`, { tags: { name: 'health' } });
  check(res, { 'status is 200': (r) => r.status === 200 });
}
"""

# Read-only bind mount of $0 in a private mount namespace, then the command.
READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


def _env(work, collections):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K6_", "PYTHONDONTWRITEBYTECODE"))}
    env.update(PATH="%s:%s" % (VENV_BIN, env.get("PATH", "")), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(work / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=":".join([str(collections)] + SITE_PACKAGES))
    return env


def _listing(root):
    """path -> (size, mtime_ns, mode) of everything under root."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball from the checkout and install it into an empty collections path."""
    base = tmp_path_factory.mktemp("installed")
    work = base / "work"
    work.mkdir()
    (work / "ansible.cfg").write_text("[defaults]\n")
    collections = base / "collections"
    env = _env(work, collections)
    build = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(base), str(REPO)],
                           cwd=str(base), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next(base.glob("loadops-k6-*.tar.gz"))
    install = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p",
                              str(collections), str(tarball)],
                             cwd=str(base), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    root = collections / "ansible_collections" / "loadops" / "k6"
    assert (root / "playbooks" / "run.yml").is_file() and (root / "k6" / "scripts" / "scenarios" / "http.js").is_file()
    assert not (root / "tests").exists() and not (root / ".venv").exists()
    probe = root.parent / "probe"
    readonly = os.geteuid() == 0 and shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "sh", "-c", READ_ONLY, str(root.parent), "sh", "-c", '! touch "$0/probe" 2>/dev/null',
         str(root.parent)], capture_output=True, timeout=60, check=False).returncode == 0
    assert not probe.exists()
    # The load machine's scripts directory, as the k6_runner role fills it (from the installed collection).
    machine = base / "load-machine"
    shutil.copytree(root / "k6" / "scripts", machine / "scripts")
    return {"work": work, "collections": collections, "root": root, "machine": machine, "readonly": readonly,
            "env": env}


def _inventory(installed, base_url, **more):
    machine = installed["machine"]
    host = dict({
        "ansible_connection": "local",
        "ansible_python_interpreter": str(VENV_BIN / "python"),
        "scenario_run_base_url": base_url,
        "scenario_run_allowed_targets": ["127.0.0.0/8"],
        "scenario_run_influxdb_url": "",
        "scenario_run_scripts_dir": str(machine / "scripts"),
        "scenario_run_results_dir": str(machine / "results"),
        "scenario_run_env": {"K6_TIME_SCALE": "0.1"},
        "scenario_run_progress_interval": 5,
    }, **AS_MODULE_USER, **more)
    text = "load_generators:\n  hosts:\n    localhost:\n" + "".join(
        "      %s: %s\n" % (key, json.dumps(value)) for key, value in host.items())
    (installed["work"] / "inventory.yml").write_text(text)


def _run(installed, playbook, *args, timeout=300):
    """ansible-playbook PLAYBOOK from the work directory; the installed collection read-only."""
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "inventory.yml", playbook, *args]
    if installed["readonly"]:
        cmd = ["unshare", "-m", "sh", "-c", READ_ONLY, str(installed["root"]), *cmd]
    before = _listing(installed["root"])
    proc = subprocess.run(cmd, cwd=str(installed["work"]), env=installed["env"], capture_output=True, text=True,
                          timeout=timeout, check=False)
    after = _listing(installed["root"])
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    if not installed["readonly"]:  # Python's bytecode cache, which a read-only install never gets
        changed = [path for path in changed if "__pycache__" not in path.split(os.sep)]
    assert changed == [], "written inside the installed collection: %s" % changed[:20]
    return proc


def _new_run_dir(installed, known):
    results = installed["work"] / "results"
    runs = sorted(set(p.name for p in results.iterdir()) - known) if results.exists() else []
    assert len(runs) == 1, runs
    return results / runs[0]


def _known(installed):
    results = installed["work"] / "results"
    return set(p.name for p in results.iterdir()) if results.exists() else set()


def _output(proc):
    return proc.stdout[-5000:] + proc.stderr[-3000:]


def _assert_passed_with_results(run_dir, proc):
    assert "VERDICT: PASSED" in proc.stdout, _output(proc)
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "passed" and verdict["run_id"] == run_dir.name, verdict
    assert (run_dir / "junit.xml").stat().st_size > 0
    for name in ("summary.json", "result.json", "verdict.txt", "k6.log"):
        assert (run_dir / "localhost" / name).stat().st_size > 0, name
    return verdict


def test_installed_smoke_playbook_from_an_unrelated_directory_passes_and_writes_results_there(installed, demo_target):
    _inventory(installed, demo_target)
    known = _known(installed)
    proc = _run(installed, "loadops.k6.smoke")
    assert proc.returncode == 0, _output(proc)
    run_dir = _new_run_dir(installed, known)
    assert run_dir.name.startswith("smoke-")
    _assert_passed_with_results(run_dir, proc)
    # Baselines would go to the same directory: the regression check names it.
    assert str(installed["work"] / "baselines") in proc.stdout


def test_installed_run_playbook_runs_my_script_with_extra_outputs_and_tags(installed, demo_target):
    my_script = installed["work"] / "my.js"
    my_script.write_text(MY_SCRIPT)
    _inventory(installed, demo_target)
    known = _known(installed)
    extra = {"scenario_run_script_src": str(my_script), "scenario_run_outputs": ["json=samples.json"],
             "scenario_run_tags": {"team": "payments"}}
    proc = _run(installed, "loadops.k6.run", "-e", json.dumps(extra))
    assert proc.returncode == 0, _output(proc)
    run_dir = _new_run_dir(installed, known)
    assert run_dir.name.startswith("my-"), run_dir.name
    verdict = _assert_passed_with_results(run_dir, proc)
    assert verdict["scenario"] == "my"
    # The script ran from its copy on the load machine.
    copy = installed["machine"] / "scripts" / "own" / "my" / "my.js"
    assert copy.read_text() == MY_SCRIPT and copy.stat().st_mode & 0o777 == 0o644
    # The json output was fetched with the artifacts; every sample carries the tag.
    points = [json.loads(line) for line in (run_dir / "localhost" / "samples.json").read_text().splitlines()]
    points = [p for p in points if p.get("type") == "Point"]
    assert points and all(p["data"]["tags"].get("team") == "payments" for p in points)
    assert {p["data"]["tags"]["testid"] for p in points} == {run_dir.name}
    assert any(p["metric"] == "http_reqs" and p["data"]["tags"].get("name") == "health" for p in points)


def test_installed_run_playbook_runs_the_http_scenario_against_one_path(installed, demo_target):
    _inventory(installed, demo_target,
               scenario_run_env={"K6_HTTP_PATH": "/health/", "K6_HTTP_DURATION": "3s", "K6_HTTP_SLEEP": "0.1",
                                 "K6_HTTP_P95_MS": "800"})
    known = _known(installed)
    proc = _run(installed, "loadops.k6.run", "-e", "scenario_run_name=http")
    assert proc.returncode == 0, _output(proc)
    run_dir = _new_run_dir(installed, known)
    assert run_dir.name.startswith("http-")
    verdict = _assert_passed_with_results(run_dir, proc)
    host = verdict["hosts"]["localhost"]
    assert {t["metric"] + " " + t["expression"] for t in host["thresholds"]} == {
        "http_req_duration p(95)<800", "http_req_failed rate<0.01"}
    assert [e["name"] for e in host["endpoints"]] == ["/health/"] and host["endpoints"][0]["count"] > 5


@pytest.mark.parametrize("extra,needles", [
    ({"scenario_run_script_src": "./nope.js"}, ["scenario_run_script_src ./nope.js does not exist", "{work}/nope.js"]),
    ({"scenario_run_name": "http", "scenario_run_outputs": ["kafka=broker:9092"]},
     ["kafka=broker:9092", "output type kafka was removed in k6 v0.34.0"]),
    ({"scenario_run_name": "http", "scenario_run_tags": {"testid": "mine"}},
     ["scenario_run_tags sets testid", "which the role sets on every sample itself"]),
    ({"scenario_run_name": "http", "scenario_run_outputs": ["json=../x.json"]},
     ["scenario_run_outputs json=../x.json", "a json or csv output takes a file name only"]),
])
def test_installed_run_playbook_refuses_bad_settings_before_any_load(installed, demo_target_factory, extra, needles):
    target = demo_target_factory("--verbose")
    _inventory(installed, target.url)
    known = _known(installed)
    proc = _run(installed, "loadops.k6.run", "-e", json.dumps(extra), timeout=180)
    assert proc.returncode != 0, _output(proc)
    flat = " ".join((proc.stdout + proc.stderr).split())
    for needle in needles:
        assert needle.format(work=installed["work"]) in flat, (needle, _output(proc))
    assert "Traceback" not in flat
    assert _known(installed) == known, "a refused run left results behind"
    # No load: the target saw no request but, at most, the preflight's health probe.
    requests = [line for line in target.stderr().splitlines() if "\"GET " in line or "\"POST " in line]
    assert all("/health/" in line for line in requests), requests
