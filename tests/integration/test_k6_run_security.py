"""loadops.k6.k6_run's security promises, against real k6 1.1.0: no secret on a command line or
in a result file, k6 as an unprivileged user, the controller's lease, file outputs confined to the
run's directory, and the sweep of what killed runs left behind."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from k6run_helpers import SCRIPTS, k6_processes, run_module, start_module, finish, own_cgroup_path, cgroup_mounts

SECRETS = {
    "K6_PASS": "pass-s3cr3t-4711",                 # caught by the name rule
    "K6_AUTH_HEADER": "Bearer auth-s3cr3t-4712",    # caught by the name rule
}
SECRET_ENV = {"K6_SESSION_COOKIE": "cookie-s3cr3t-4713", "PLAIN_NAMED": "plain-s3cr3t-4714"}
INFLUX_PASSWORD = "influx-s3cr3t-4715"
ALL_SECRETS = list(SECRETS.values()) + list(SECRET_ENV.values()) + [INFLUX_PASSWORD, "auth-s3cr3t-4712"]


@pytest.fixture
def shared_dir():
    """A results directory another user can reach (pytest's tmp_path is 0700 root)."""
    top = tempfile.mkdtemp(prefix="loadops-sec-")
    os.chmod(top, 0o755)
    yield Path(top)
    shutil.rmtree(top, ignore_errors=True)


def _all_cmdlines():
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return found


def _uid_of(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def test_no_secret_on_any_command_line_or_in_any_result_file_and_k6_runs_unprivileged(k6_bin, demo_target, shared_dir):
    scripts = shared_dir / "scripts"
    scripts.mkdir(mode=0o755)
    shutil.copy(SCRIPTS / "leaky.js", scripts / "leaky.js")
    os.chmod(scripts / "leaky.js", 0o644)
    args = {"k6_path": k6_bin, "script": str(scripts / "leaky.js"), "results_dir": str(shared_dir / "results"),
            "html_report": True, "run_as_user": "nobody", "tags": {"testid": "sec-leaky"},
            "env": dict(SECRETS, BASE=demo_target, DURATION="4s"), "secret_env": SECRET_ENV,
            "outputs": ["influxdb=http://writer:%s@127.0.0.1:9/k6" % INFLUX_PASSWORD, "json=samples.json"]}
    proc = start_module(args)
    seen_lines, uids, deadline = [], set(), time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        for pid in k6_processes("sec-leaky"):
            try:
                uids.add(_uid_of(pid))
            except OSError:
                pass
        seen_lines.extend(_all_cmdlines())
        time.sleep(0.3)
    result = finish(proc)
    assert result["verdict"] == "passed", result["msg"]
    assert uids and 0 not in uids, "k6 ran as uid %s" % uids
    assert uids == {65534}  # nobody
    for line in seen_lines:
        for secret in ALL_SECRETS:
            assert secret not in line, "a secret was on a command line: %s" % line[:200]
    run_dir = shared_dir / "results" / "sec-leaky"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"k6.log", "summary.json", "report.html", "samples.json"}
    log = (run_dir / "k6.log").read_text()
    assert "secrets: ********" in log  # k6 did print them; the log got the mask
    for path in files:
        data = path.read_bytes()
        for secret in ALL_SECRETS:
            assert secret.encode() not in data, "%s holds %s" % (path, secret)
    for secret in ALL_SECRETS:
        assert secret not in result["_stdout"] and secret not in result["_stderr"]
    assert oct(run_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((run_dir / "k6.log").stat().st_mode & 0o777) == "0o600"
    assert oct((run_dir / "summary.json").stat().st_mode & 0o777) == "0o600"
    assert (run_dir / "summary.json").stat().st_uid == os.getuid()  # given back after the run
    assert "influx-s3cr3t" not in result["cmd"] and "influxdb=http://127.0.0.1:9/k6" in result["cmd"]


def test_run_as_user_that_cannot_read_the_script_is_refused_before_k6_starts(k6_bin, tmp_path):
    # tmp_path is 0700 root: nobody cannot reach the script in it.
    script = tmp_path / "s.js"
    shutil.copy(SCRIPTS / "ok.js", script)
    result = run_module({"k6_path": k6_bin, "script": str(script), "results_dir": str(tmp_path / "r"),
                         "run_as_user": "nobody"})
    assert result["failed"] is True and "not readable by nobody" in result["msg"], result["msg"]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_unknown_run_as_user_is_refused_naming_it(k6_bin, tmp_path):
    result = run_module({"k6_path": k6_bin, "script": str(SCRIPTS / "ok.js"), "results_dir": str(tmp_path / "r"),
                         "run_as_user": "no-such-user-4711"})
    assert result["failed"] is True and "run_as_user no-such-user-4711 does not exist" in result["msg"]


def test_a_file_output_outside_the_run_directory_is_refused(k6_bin, tmp_path):
    result = run_module({"k6_path": k6_bin, "script": str(SCRIPTS / "ok.js"), "results_dir": str(tmp_path / "r"),
                         "outputs": ["json=/etc/cron.d/loadops-x"]})
    assert result["failed"] is True and "outside the run's results directory" in result["msg"]
    assert not Path("/etc/cron.d/loadops-x").exists()


def test_an_expired_lease_stops_k6_within_seconds_and_keeps_the_results(k6_bin, tmp_path):
    lease = tmp_path / "leases" / "lease-run"
    started = time.monotonic()
    result = run_module({"k6_path": k6_bin, "script": str(SCRIPTS / "sleeper.js"), "results_dir": str(tmp_path / "r"),
                         "tags": {"testid": "lease-run"}, "lease_file": str(lease), "lease_ttl": 2,
                         "html_report": False}, timeout=60)
    took = time.monotonic() - started
    assert result["verdict"] == "interrupted" and "lease" in result["msg"], result["msg"]
    assert took < 15, took  # the script would run 60 s
    assert not k6_processes("lease-run")
    assert Path(result["artifacts"]["summary"]).is_file()  # k6 stopped cleanly and wrote its summary
    assert not lease.exists()


def test_a_renewed_lease_lets_the_run_finish(k6_bin, tmp_path):
    lease = tmp_path / "leases" / "renewed"
    proc = start_module({"k6_path": k6_bin, "script": str(SCRIPTS / "ok.js"), "results_dir": str(tmp_path / "r"),
                         "env": {"BASE": "http://127.0.0.1:9"}, "tags": {"testid": "renewed"},
                         "lease_file": str(lease), "lease_ttl": 2, "html_report": False})
    while proc.poll() is None:
        if lease.exists():
            os.utime(lease)
        time.sleep(0.5)
    result = finish(proc)
    assert result["verdict"] != "interrupted", result["msg"]


def test_leftovers_of_a_killed_run_are_swept_by_the_next_run(k6_bin, tmp_path):
    """A run cgroup whose module is gone (here: made by hand, a process inside) is removed, its
    process killed, the next time the module runs; an active run's is left alone."""
    memory = [m for m in cgroup_mounts() if m.endswith("/memory")]
    if not memory:
        pytest.skip("needs the cgroup v1 memory controller")
    leftover = Path(memory[0]) / own_cgroup_path().strip("/") / "loadops-k6-killed-run-4711"
    leftover.mkdir()
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        (leftover / "cgroup.procs").write_text(str(sleeper.pid))
        result = run_module({"k6_path": k6_bin, "script": str(SCRIPTS / "ok.js"), "results_dir": str(tmp_path / "r"),
                             "env": {"BASE": "http://127.0.0.1:9"}, "html_report": False})
        assert any("loadops-k6-killed-run-4711" in w for w in result["warnings"]), result["warnings"]
        assert not leftover.exists()
        assert sleeper.wait(timeout=10) == -9
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        if leftover.exists():
            leftover.rmdir()


def test_a_results_dir_run_as_user_cannot_enter_is_refused_before_k6_starts(k6_bin, tmp_path, shared_dir):
    scripts = shared_dir / "scripts"
    scripts.mkdir(mode=0o755)
    shutil.copy(SCRIPTS / "ok.js", scripts / "ok.js")
    os.chmod(scripts / "ok.js", 0o644)
    result = run_module({"k6_path": k6_bin, "script": str(scripts / "ok.js"), "results_dir": str(tmp_path / "r"),
                         "run_as_user": "nobody", "env": {"BASE": "http://127.0.0.1:9"}})
    assert result["failed"] is True and "cannot be reached by run_as_user nobody" in result["msg"], result["msg"]
    assert not (tmp_path / "r").exists()
