"""What a person reads under Ansible's default callback as an installed-collection user has it: the
result format `json` (Ansible's default; E(ANSIBLE_CALLBACK_RESULT_FORMAT) wins over the checkout's
ansible.cfg, which says yaml), default display settings (ok and skipped tasks shown). Real runs of
playbooks/smoke.yml against a demo target on a free loopback port; metrics go nowhere (no InfluxDB)."""
from __future__ import annotations

import json

from conftest import find_free_port
from test_playbooks import _playbook, _vars

AS_INSTALLED = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
PROGRESS = '"msg": "localhost smoke: '


def _json_strings(lines):
    """The JSON strings printed one a line in a list (`    "text",`), decoded."""
    return [json.loads(line.strip().rstrip(",")) for line in lines if line.strip().startswith('"')]


def test_the_verdict_table_and_the_progress_lines_print_line_by_line_in_the_default_json_format(tmp_path, demo_target):
    # Smoke at K6_TIME_SCALE=0.5: 15 s of load and a 5 s graceful stop; a tick every 5 s.
    extra = dict(_vars(tmp_path, demo_target), scenario_run_env={"K6_TIME_SCALE": "0.5"}, scenario_run_progress_interval=5)
    proc = _playbook("smoke.yml", extra, tmp_path, ansible_env=AS_INSTALLED)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout.splitlines()

    # The table: one printed line per row, none of them a JSON string with \n in it.
    start = next(i for i, line in enumerate(out) if line.startswith("TASK [loadops.k6.scenario_run : Show the verdict]"))
    end = next(i for i in range(start + 1, len(out)) if out[i] == "}")
    assert out[start + 1] == "ok: [localhost] => {" and out[start + 2].strip() == '"msg": ['
    rows = _json_strings(out[start + 3:end])
    assert not [line for line in out if "\\n" in line and ("THRESHOLD" in line or "VERDICT" in line)]
    assert rows[0].startswith("k6 run smoke-") and rows[2].split() == ["THRESHOLD", "OBSERVED", "RESULT"], rows
    for metric in ("http_req_duration{type:read} p(95)<200", "http_req_failed rate<0.01", "iteration_duration p(95)<1000"):
        row = next(r for r in rows if r.startswith(metric))
        assert row.rstrip().endswith("PASS"), row
    assert any(r.startswith("VERDICT: PASSED") for r in rows), rows
    # The regression note is a list of lines too.
    regression = next(i for i, line in enumerate(out) if line.startswith("TASK [loadops.k6.scenario_run : Show the regression check]"))
    assert out[regression + 2].strip() == '"msg": [' and "No baseline for smoke" in out[regression + 3]

    # Progress: every tick is one task that keeps the lease (no FAILED - RETRYING line per renewal) and
    # one line, so between two progress lines there are exactly these 7 lines, 2 of them task banners.
    ticks = [i for i, line in enumerate(out) if line.strip().startswith(PROGRESS)]
    assert len(ticks) >= 3, "\n".join(out)
    for a, b in zip(ticks, ticks[1:]):
        between = out[a + 1:b]
        assert [("TASK" if line.startswith("TASK [") else line) for line in between] == [
            "}", "", "TASK", "ok: [localhost]", "", "TASK", "ok: [localhost] => {"], "\n".join(out[a - 7:b + 1])
        assert between[2].startswith("TASK [loadops.k6.scenario_run : Keep the lease until the next tick and read k6's progress]")
        assert between[5].startswith("TASK [loadops.k6.scenario_run : Show progress]")
    assert not [line for line in out if "RETRYING" in line]
    elapsed = [json.loads("{%s}" % out[i].strip())["msg"].split()[2] for i in ticks]
    seconds = [int(e.split(":")[0]) * 60 + int(e.split(":")[1]) for e in elapsed]
    assert seconds == sorted(seconds) and all(3 <= b - a <= 8 for a, b in zip(seconds, seconds[1:])), elapsed


def test_the_reasons_not_to_start_print_one_a_line_in_the_default_json_format(tmp_path):
    dead = "http://127.0.0.1:%d" % find_free_port()
    proc = _playbook("smoke.yml", _vars(tmp_path, dead), tmp_path, ansible_env=AS_INSTALLED)
    assert proc.returncode == 2, proc.stdout[-4000:]
    out = proc.stdout.splitlines()
    # The first gate (safety rules) lets it through; the second (preflight checks) stops it.
    start = next(i for i, line in enumerate(out) if line.startswith("TASK [loadops.k6.scenario_run : Say why the run does not start]")
                 and not out[i + 1].startswith("skipping"))
    assert out[start + 1:start + 3] == ["ok: [localhost] => {", '    "msg": [']
    lines = _json_strings(out[start + 3:start + 6])
    assert lines[0] == "Not starting smoke:" and lines[1].startswith("localhost: preflight: the target %s/health/ did not answer" % dead)
    # The failure itself is one line, with the same reason.
    fatal = [line for line in out if line.startswith("fatal: [localhost]: FAILED!") and "Not starting smoke: localhost: preflight" in line]
    assert len(fatal) == 1, "\n".join(out[start:])
    assert not (tmp_path / "on-controller").exists()
