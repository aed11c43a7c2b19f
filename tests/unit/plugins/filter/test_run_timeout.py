# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/run_timeout.py and plugins/filter/lease_wait_over.py."""
import multiprocessing

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter import lease_wait_over as lease_wait
from ansible_collections.loadops.k6.plugins.filter.run_timeout import run_timeout


# --- run_timeout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("total,expected", [
    (40.0, 160),     # smoke: the 120 s floor of the margin applies
    (600.0, 720),    # 20 % = 120 s exactly
    (870.0, 1044),   # load/stress: 14 min 30 s + 20 %
    (100.5, 221),    # rounded up to a whole second
    (0, 120),        # nothing known: the margin alone
    (None, 120),
])
def test_zero_follows_the_scenario_with_a_margin(total, expected):
    assert run_timeout(total) == expected
    assert run_timeout(total, 0) == expected
    assert run_timeout(total, "") == expected and run_timeout(total, None) == expected


def test_an_explicit_timeout_wins():
    assert run_timeout(870.0, 3600) == 3600
    assert run_timeout(870.0, "4") == 4  # shorter than the scenario: the caller's choice
    assert run_timeout(40.0, 2.2) == 3


def test_the_margin_can_be_tuned():
    assert run_timeout(1000.0, margin=0.5, minimum_margin=60) == 1500
    assert run_timeout(10.0, margin=0, minimum_margin=0) == 10


@pytest.mark.parametrize("args", [("abc",), (40.0, "soon"), (40.0, -5), (float("inf"),), (40.0, 0, "x")])
def test_nonsense_is_refused_naming_the_values(args):
    with pytest.raises(AnsibleFilterError, match="run_timeout"):
        run_timeout(*args)


# --- lease_wait_over -------------------------------------------------------------------------------

def _over(result, until=None, now=100.0, alive=True):
    return lease_wait.wait_over(result, until, now, lambda: alive)


def test_the_wait_goes_on_while_the_job_runs_and_the_controller_is_there():
    assert _over({"finished": False, "renewed": True}) is False
    assert _over({"finished": False}, until=101.0) is False


def test_the_wait_ends_when_the_job_finished_or_the_module_failed():
    assert _over({"finished": True}) is True
    assert _over({"finished": 1}) is True
    assert _over({"failed": True, "msg": "permission denied"}) is True


def test_the_wait_ends_at_its_deadline():
    assert _over({"finished": False}, until=100.0) is True
    assert _over({"finished": False}, until="99.5") is True
    assert _over({"finished": False}, until="") is False


def test_the_wait_ends_when_ansible_playbook_is_gone():
    assert _over({"finished": False}, alive=False) is True


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        _over("finished")
    with pytest.raises(AnsibleFilterError):
        _over({}, until="tomorrow")


def test_the_controller_itself_is_alive():
    # Not a multiprocessing child: the process that evaluates it is the controller.
    assert lease_wait.controller_alive() is True
    assert lease_wait.lease_wait_over({"finished": False}) is False


def _report(queue):
    queue.put(lease_wait.controller_alive())


def test_a_worker_sees_its_parent_alive():
    ctx = multiprocessing.get_context("fork")  # as Ansible forks its workers
    queue = ctx.Queue()
    child = ctx.Process(target=_report, args=(queue,))
    child.start()
    assert queue.get(timeout=10) is True
    child.join(10)


def _orphan(pipe_w):
    # In a worker whose parent (an intermediate process standing in for ansible-playbook) is gone.
    import os
    import time
    ctx = multiprocessing.get_context("fork")

    def worker(w):
        time.sleep(1.0)  # by then the parent has exited
        os.write(w, b"1" if lease_wait.controller_alive() else b"0")

    ctx.Process(target=worker, args=(pipe_w,)).start()
    os._exit(0)  # the "controller" dies without waiting for its worker


def test_a_worker_whose_ansible_playbook_died_sees_it_gone():
    import os
    r, w = os.pipe()
    ctx = multiprocessing.get_context("fork")
    middle = ctx.Process(target=_orphan, args=(w,))
    middle.start()
    middle.join(10)
    os.close(w)
    assert os.read(r, 1) == b"0"
    os.close(r)
