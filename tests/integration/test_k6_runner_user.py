"""The k6_runner role creates the unprivileged user k6 runs as; absent keeps it, purge removes it.

Runs the role on this machine with the local_file method (k6 from the project's venv) and every
path under a temporary directory, for a user name of its own (loadops-k6-itest), so that a
loadops-k6 that exists here is left alone.
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from services import REPO, VENV_BIN, need, run_playbook

USER = "loadops-k6-itest"
PLAYBOOK = "- hosts: load_generators\n  gather_facts: true\n  roles:\n    - role: loadops.k6.k6_runner\n"


def _exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def sandbox(tmp_path):
    need(os.geteuid() == 0, "creating a system user needs root")
    k6 = os.path.realpath(VENV_BIN / "k6")
    need(os.path.isfile(k6), "k6 in the project's venv (scripts/setup.sh)")
    assert not _exists(USER), "%s is left over from an earlier run; userdel it" % USER
    root = Path(tempfile.mkdtemp(prefix="loadops-k6-user-", dir="/var/tmp"))
    playbook = tmp_path / "k6_runner.yml"
    playbook.write_text(PLAYBOOK)
    settings = {
        "k6_runner_install_method": "local_file", "k6_runner_local_file": k6, "k6_runner_user": USER,
        "k6_runner_install_dir": str(root / "install"), "k6_runner_bin_path": str(root / "bin" / "k6"),
        "k6_runner_scripts_src": str(REPO / "k6" / "scripts") + "/", "k6_runner_scripts_dir": str(root / "scripts"),
        "k6_runner_results_dir": str(root / "results"), "k6_runner_profile_file": "",
    }
    (root / "bin").mkdir()

    def run(**extra):
        return run_playbook(tmp_path, playbook, {**settings, **extra}, timeout=600)

    yield run, root
    if _exists(USER):
        run(k6_runner_state="absent", k6_runner_purge=True)
    shutil.rmtree(root, ignore_errors=True)


def test_the_role_creates_the_user_absent_keeps_it_and_purge_removes_it(sandbox):
    run, root = sandbox
    proc = run()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    entry = pwd.getpwnam(USER)
    assert entry.pw_uid > 0 and entry.pw_shell == "/usr/sbin/nologin"
    assert grp.getgrgid(entry.pw_gid).gr_name == USER
    assert not os.path.exists(entry.pw_dir)  # no home directory
    results = (root / "results").stat()
    assert (results.st_uid, results.st_mode & 0o7777) == (0, 0o755)

    again = run()
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP")[-1], again.stdout[-3000:]

    absent = run(k6_runner_state="absent")
    assert absent.returncode == 0, absent.stdout[-3000:]
    assert _exists(USER) and (root / "results").is_dir() and not (root / "install").exists()

    purge = run(k6_runner_state="absent", k6_runner_purge=True)
    assert purge.returncode == 0, purge.stdout[-3000:]
    assert not _exists(USER) and not (root / "results").exists()
    with pytest.raises(KeyError):
        grp.getgrnam(USER)


@pytest.mark.parametrize("name", ["root", "Bad User", ""])
def test_a_user_name_that_is_root_or_malformed_is_refused_before_anything_changes(sandbox, name):
    run, root = sandbox
    proc = run(k6_runner_user=name)
    assert proc.returncode != 0
    assert "k6_runner_user %s must be a system user name other than root" % ('"%s"' % name) in proc.stdout
    assert not (root / "install").exists()
