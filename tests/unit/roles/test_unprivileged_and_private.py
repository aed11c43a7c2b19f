"""Issue 11 on the roles' side: k6 runs as an unprivileged user, no secret sits in a readable place."""
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def _yaml(path):
    return yaml.safe_load((ROLES / path).read_text())


def _tasks(path):
    return {task["name"]: task for task in _yaml(path)}


def test_k6_runner_creates_an_unprivileged_user_for_every_install_method_and_purge_removes_it():
    assert _yaml("k6_runner/defaults/main.yml")["k6_runner_user"] == "loadops-k6"
    main = _tasks("k6_runner/tasks/main.yml")
    user_step = [t for t in main.values() if t.get("ansible.builtin.import_tasks") == "user.yml"]
    assert user_step and user_step[0]["when"] == "k6_runner_state == 'present'"  # not tied to a method
    user = [t["ansible.builtin.user"] for t in _yaml("k6_runner/tasks/user.yml") if "ansible.builtin.user" in t][0]
    assert user["system"] is True and user["shell"] == "/usr/sbin/nologin" and user["create_home"] is False
    absent = [t for t in _yaml("k6_runner/tasks/absent.yml") if "ansible.builtin.user" in t]
    assert absent and absent[0]["ansible.builtin.user"]["state"] == "absent"
    assert absent[0]["when"] == "k6_runner_purge | bool"


def test_scenario_run_passes_its_user_to_k6_run():
    assert _yaml("scenario_run/vars/main.yml")["_scenario_run_k6_args"]["run_as_user"] == "{{ scenario_run_user }}"
    assert "loadops-k6" in _yaml("scenario_run/defaults/main.yml")["scenario_run_user"]


def test_controller_results_are_private_and_result_json_drops_the_arguments():
    collect = (ROLES / "scenario_run/tasks/collect.yml").read_text()
    report = (ROLES / "scenario_run/tasks/report.yml").read_text()
    assert '"0755"' not in collect and '"0644"' not in collect
    run_files = report.split("- name: Save this run as the baseline")[0]  # baselines are meant to be shared
    assert '"0755"' not in run_files and '"0644"' not in run_files and run_files.count('mode: "0600"') == 2
    assert "__scenario_run_result | loadops.k6.result_record | to_nice_json" in collect
    assert "Make the fetched files private" in collect


def test_influxql_names_and_passwords_are_never_pasted_between_quotes():
    for name in ("database.yml", "user.yml"):
        text = "\n".join(line for line in (ROLES / "influxdb/tasks" / name).read_text().splitlines()
                         if "url_username:" not in line)
        for pasted in ("PASSWORD '{{", "= '{{", '"{{ _influxdb_user.name }}"', '"{{ influxdb_database }}"',
                       '"{{ influxdb_admin_user }}"', "FOR \\\"'"):
            assert pasted not in text, (name, pasted)
        assert "| loadops.k6.influxql_string" in text and "| loadops.k6.influxql_ident" in text


def test_grafana_apt_key_check_wants_exactly_one_key():
    text = (ROLES / "grafana/tasks/apt.yml").read_text() + (ROLES / "grafana/vars/main.yml").read_text()
    assert "loadops.k6.signing_key_problem" in text
    assert "map(attribute=9)" not in text  # the old "expected fingerprint is among them" check


def test_demo_target_login_is_only_in_its_root_only_environment_file():
    for template in ("loadops-demo-target.service.j2", "loadops-demo-target.init.j2"):
        text = (ROLES / "demo_target/templates" / template).read_text()
        assert "demo_target_password" not in text and "demo_target_email" not in text, template
        assert "_demo_target_env_file" in text, template
    env_task = _tasks("demo_target/tasks/install.yml")["Write the service's login to a root-only environment file"]
    copy = env_task["ansible.builtin.copy"]
    assert (copy["mode"], copy["owner"], env_task["no_log"]) == ("0600", "root", True)
    assert "demo_target_password | quote" in copy["content"]
