"""The async job status reader and the lease keeper (module_utils/k6_jobs.py)."""
from __future__ import annotations

import json
import os
import time

from ansible_collections.loadops.k6.plugins.module_utils import k6_jobs


def test_a_missing_status_file_is_a_finished_job_not_found(tmp_path):
    assert k6_jobs.read_job(str(tmp_path), "1.2") == (str(tmp_path / "1.2"), False, True, None)


def test_a_started_job_is_running_and_a_finished_one_gives_its_result(tmp_path):
    (tmp_path / "7").write_text(json.dumps({"started": 1, "finished": 0}))
    assert k6_jobs.read_job(str(tmp_path), "7")[1:] == (True, False, None)
    (tmp_path / "7").write_text('{"started": 1, "fini')  # being written
    assert k6_jobs.read_job(str(tmp_path), "7")[1:] == (True, False, None)
    (tmp_path / "7").write_text(json.dumps({"verdict": "passed", "changed": True}))
    assert k6_jobs.read_job(str(tmp_path), "7")[1:] == (True, True, {"verdict": "passed", "changed": True})


def test_the_keeper_renews_while_the_block_runs_and_stops_after(tmp_path):
    lease = tmp_path / "lease"
    lease.write_text("1\n")
    os.utime(lease, (1000.0, 1000.0))
    with k6_jobs.LeaseKeeper(str(lease), interval=0.05) as keeper:
        time.sleep(0.3)
        inside = os.stat(lease).st_mtime
    assert inside > time.time() - 1
    assert keeper.renewals >= 4  # on entry, every 0.05 s, on exit
    os.utime(lease, (1000.0, 1000.0))
    time.sleep(0.2)
    assert os.stat(lease).st_mtime == 1000.0  # nothing renews after the block


def test_the_keeper_never_brings_back_a_dropped_lease(tmp_path):
    lease = tmp_path / "lease"
    lease.write_text("1\n")
    with k6_jobs.LeaseKeeper(str(lease), interval=0.05) as keeper:
        lease.unlink()
        time.sleep(0.2)
    assert not lease.exists()
    assert keeper._thread is not None and not keeper._thread.is_alive()


def test_no_path_renews_nothing(tmp_path):
    with k6_jobs.LeaseKeeper(None) as keeper:
        pass
    assert keeper.renewals == 0 and keeper._thread is None
