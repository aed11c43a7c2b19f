"""The grafana role's dashboard variables next to the grafana.grafana collection's.

grafana.grafana's role calls a list of dicts (dashboard_id, revision_id, datasource)
`grafana_dashboards`; ours is `grafana_dashboard_files`, a list of paths. The former name still
works when it holds paths. Either variable given dicts stops the role, with a message naming the
variable and the shape expected, before anything is written: the argument spec alone would have
turned each dict into a string.

Real runs: ansible-playbook runs loadops.k6.grafana (install method none: provisioning files only)
against this machine over the local connection, into tmp_path. No container, no InfluxDB, no port.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from services import REPO, need, recap, run_playbook

GRAFANA_GRAFANA_SHAPE = [{"dashboard_id": "4271", "revision_id": "3", "datasource": "Prometheus"}]
OUR_DASHBOARD = REPO / "roles" / "grafana" / "files" / "dashboards" / "loadops-k6.json"


@pytest.fixture(autouse=True)
def as_root():
    need(os.geteuid() == 0, "the grafana role writes root-owned files; run as root")


def _play(tmp_path: Path, *args: str, **role_vars) -> subprocess.CompletedProcess:
    playbook = tmp_path / "grafana.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles:\n    - role: loadops.k6.grafana\n")
    extra = dict({
        "grafana_provisioning_dir": str(tmp_path / "provisioning"),
        "grafana_dashboard_provider_dir": str(tmp_path / "dashboards"),
        "grafana_influxdb_url": "http://127.0.0.1:1/unused",
        "grafana_influxdb_user": "",  # no password lookup: nothing written to a credential store
    }, **role_vars)
    return run_playbook(tmp_path, playbook, extra, *args, group="all", timeout=180)


def _out(proc: subprocess.CompletedProcess) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.parametrize("mode", [(), ("--check",)], ids=["run", "check"])
def test_grafana_grafana_shaped_dashboards_are_refused_before_anything_is_written(tmp_path, mode):
    proc = _play(tmp_path, *mode, grafana_dashboards=GRAFANA_GRAFANA_SHAPE)
    out = _out(proc)
    assert proc.returncode == 2 and recap(proc)["failed"] == 1, out[-3000:]
    assert "grafana_dashboards is read by this role only as a list of paths" in out, out[-3000:]
    assert '"dashboard_id": "4271"' in out, out[-3000:]  # the offending value, as given
    assert "set grafana_dashboard_files to your JSON files" in out
    assert "Traceback" not in out
    assert not (tmp_path / "provisioning").exists() and not (tmp_path / "dashboards").exists()


@pytest.mark.parametrize("value", [GRAFANA_GRAFANA_SHAPE, ["dashboards/loadops-k6.json", ""], "dashboards/loadops-k6.json"],
                         ids=["dicts", "empty-path", "a-string"])
def test_dashboard_files_that_are_not_a_list_of_paths_are_refused(tmp_path, value):
    proc = _play(tmp_path, "--check", grafana_dashboard_files=value)
    out = _out(proc)
    assert proc.returncode == 2, out[-3000:]
    assert "grafana_dashboard_files must be a list of paths to dashboard JSON files on the controller" in out, out[-3000:]
    assert "not paths: " in out
    assert "Traceback" not in out
    assert not (tmp_path / "provisioning").exists()


def test_former_name_with_paths_still_provisions_those_dashboards(tmp_path):
    mine = tmp_path / "src" / "team-board.json"
    mine.parent.mkdir()
    board = json.loads(OUR_DASHBOARD.read_text())
    board["uid"], board["title"] = "team-board", "Team board"
    mine.write_text(json.dumps(board))
    proc = _play(tmp_path, grafana_dashboards=[str(mine)])
    assert proc.returncode == 0, _out(proc)[-3000:]
    written = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert written == ["team-board.json"]  # it replaced grafana_dashboard_files' default
    assert json.loads((tmp_path / "dashboards" / "team-board.json").read_text())["uid"] == "team-board"
    provider = (tmp_path / "provisioning" / "dashboards" / "loadops-k6.yml").read_text()
    assert json.dumps(str(tmp_path / "dashboards")) in provider


def test_dashboard_files_default_provisions_our_dashboard(tmp_path):
    proc = _play(tmp_path)
    assert proc.returncode == 0, _out(proc)[-3000:]
    assert sorted(p.name for p in (tmp_path / "dashboards").iterdir()) == ["loadops-k6.json"]
