"""Several load machines and one metrics host (docs/PROVISIONING.md, "Several load machines: the
metrics host"), through ansible-playbook with local connections only (every inventory host is this
machine; nothing is installed):

- playbooks/provision.yml puts InfluxDB and Grafana on the `metrics` group's hosts when it has any,
  else on the load machines as before (seen from which roles' argument validation runs on which host,
  `--tags always --check`);
- the influxdb role refuses a non-loopback influxdb_bind_address without authentication
  (`--tags influxdb_preflight --check`);
- scenario_run_influxdb_url's default names the metrics host's InfluxDB (the role's defaults file
  loaded as play vars, the same template evaluated per host).
"""

from __future__ import annotations

import re
from pathlib import Path

from services import REPO, run_playbook

LOCAL = "ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'"
ROLES = ("influxdb", "k6_runner", "grafana")


def _inventory(load_generators: dict, metrics: dict = None) -> str:
    def hosts(group: dict) -> str:
        return "".join("    %s: {%s}\n" % (name, ", ".join(filter(None, [LOCAL, extra]))) for name, extra in group.items())
    text = "load_generators:\n  hosts:\n" + hosts(load_generators)
    if metrics is not None:
        text += "metrics:\n  hosts:\n" + hosts(metrics)
    return text


def _roles_per_host(stdout: str) -> dict:
    """{host: set of roles whose argument validation ran (ok) on it}."""
    ran = {}
    for block in re.split(r"^TASK \[", stdout, flags=re.M)[1:]:
        match = re.match(r"loadops\.k6\.(\w+) : Validating arguments", block)
        if match:
            for host in re.findall(r"^ok: \[([^\]]+)\]", block, re.M):
                ran.setdefault(host, set()).add(match.group(1))
    return ran


def test_single_machine_inventory_gets_every_role_as_before(tmp_path):
    proc = run_playbook(tmp_path, "provision.yml", {}, "--tags", "always", "--check",
                        inventory_text=_inventory({"localhost": ""}))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "PLAY [Provision the load machines]" in proc.stdout
    assert _roles_per_host(proc.stdout) == {"localhost": set(ROLES)}


def test_metrics_group_gets_influxdb_and_grafana_and_the_load_machines_k6_only(tmp_path):
    # lg2 is both a load machine and a metrics host; mx only a metrics host
    inventory = _inventory({"lg1": "", "lg2": ""}, {"lg2": "", "mx": ""})
    proc = run_playbook(tmp_path, "provision.yml", {}, "--tags", "always", "--check", inventory_text=inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _roles_per_host(proc.stdout) == {"lg1": {"k6_runner"}, "lg2": set(ROLES), "mx": {"influxdb", "grafana"}}


def test_empty_metrics_group_means_the_load_machines_as_before(tmp_path):
    inventory = _inventory({"lg1": "", "lg2": ""}, {}).replace("metrics:\n  hosts:\n", "metrics: {}\n")
    proc = run_playbook(tmp_path, "provision.yml", {}, "--tags", "always", "--check", inventory_text=inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert _roles_per_host(proc.stdout) == {"lg1": set(ROLES), "lg2": set(ROLES)}


def _preflight(tmp_path: Path, bind: str, auth: bool):
    return run_playbook(tmp_path, "provision.yml", {"influxdb_bind_address": bind, "influxdb_auth_enabled": auth},
                        "--tags", "influxdb_preflight", "--check", inventory_text=_inventory({"localhost": ""}))


def test_influxdb_on_a_network_address_without_authentication_is_refused(tmp_path):
    for bind in ("10.20.30.40", "0.0.0.0"):
        proc = _preflight(tmp_path, bind, False)
        assert proc.returncode != 0, proc.stdout[-3000:]
        out = " ".join(proc.stdout.split())
        assert ('influxdb_bind_address "%s" is not a loopback address, so other machines can reach InfluxDB there; '
                "that needs influxdb_auth_enabled: true (it is false)" % bind) in out, proc.stdout[-3000:]


def test_influxdb_on_a_network_address_with_authentication_or_on_loopback_passes_the_check(tmp_path):
    for bind, auth in (("10.20.30.40", True), ("127.0.0.1", False)):
        proc = _preflight(tmp_path, bind, auth)
        assert "Check InfluxDB is not open to the network without authentication" in proc.stdout
        assert "is not a loopback address" not in proc.stdout, proc.stdout[-3000:]


def _urls(tmp_path: Path, inventory: str, extra: dict = None, variable: str = "scenario_run_influxdb_url") -> dict:
    playbook = tmp_path / "url.yml"
    playbook.write_text(
        "- name: Show the metrics URL\n  hosts: load_generators\n  gather_facts: false\n"
        "  vars_files: [%s]\n  tasks:\n    - name: URL\n      ansible.builtin.debug:\n"
        "        msg: \"URL {{ inventory_hostname }} {{ %s or '-' }}\"\n"
        % (REPO / "roles/scenario_run/defaults/main.yml", variable))
    proc = run_playbook(tmp_path, playbook, extra or {}, inventory_text=inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return dict(re.findall(r"msg: URL (\S+) (\S+)", proc.stdout))


def test_influxdb_url_without_a_metrics_group_is_the_local_one_as_before(tmp_path):
    assert _urls(tmp_path, _inventory({"localhost": "influxdb_bind_address: 10.1.1.1"})) == {
        "localhost": "http://127.0.0.1:8086/k6"}


def test_influxdb_url_names_the_metrics_hosts_bind_address_or_its_ansible_host(tmp_path):
    bound = _inventory({"lg1": "", "lg2": ""}, {"mx": "influxdb_bind_address: 10.0.0.5, influxdb_http_port: 9086"})
    assert _urls(tmp_path, bound) == {"lg1": "http://10.0.0.5:9086/k6", "lg2": "http://10.0.0.5:9086/k6"}
    everywhere = _inventory({"lg1": ""}, {"mx": "influxdb_bind_address: 0.0.0.0, ansible_host: 192.0.2.7, "
                                                "influxdb_database: loadtests"})
    assert _urls(tmp_path, everywhere) == {"lg1": "http://192.0.2.7:8086/loadtests"}
    by_name = _inventory({"lg1": ""}, {"metrics.example.net": ""})
    assert _urls(tmp_path, by_name) == {"lg1": "http://metrics.example.net:8086/k6"}


def test_influxdb_url_on_the_metrics_host_itself_stays_local(tmp_path):
    shared = _inventory({"lg1": "", "lg2": ""}, {"lg1": ""})
    assert _urls(tmp_path, shared) == {"lg1": "http://127.0.0.1:8086/k6", "lg2": "http://lg1:8086/k6"}
    # bound to its private address only: loopback would not reach it, that address does
    private = _inventory({"lg1": "influxdb_bind_address: 10.0.0.5", "lg2": ""}, {"lg1": ""})
    assert _urls(tmp_path, private) == {"lg1": "http://10.0.0.5:8086/k6", "lg2": "http://10.0.0.5:8086/k6"}


def test_a_legacy_env_url_still_wins_over_the_metrics_host(tmp_path):
    inventory = _inventory({"lg1": ""}, {"mx": "influxdb_bind_address: 10.0.0.5"})
    legacy = {"_scenario_run_legacy": {"vars": {"scenario_run_influxdb_url": "http://legacy.example:8086/old"}}}
    assert _urls(tmp_path, inventory, legacy) == {"lg1": "http://legacy.example:8086/old"}


def test_the_grafana_link_names_the_metrics_hosts_grafana(tmp_path):
    def links(inventory):
        return _urls(tmp_path, inventory, variable="scenario_run_grafana_url")
    # Without a metrics group: the load machine's own Grafana, if the inventory installs one, as before.
    assert links(_inventory({"lg1": "grafana_install_method: docker"})) == {"lg1": "http://127.0.0.1:3000"}
    assert links(_inventory({"lg1": ""})) == {"lg1": "-"}
    # With one: the metrics host's, whatever the load machines' own settings say.
    loopback = _inventory({"lg1": "grafana_install_method: none", "lg2": ""}, {"mx": "grafana_install_method: docker"})
    assert links(loopback) == {"lg1": "http://127.0.0.1:3000", "lg2": "http://127.0.0.1:3000"}
    everywhere = _inventory({"lg1": ""}, {"mx": "grafana_install_method: apt, grafana_http_addr: 0.0.0.0, "
                                                "ansible_host: 192.0.2.7, grafana_http_port: 3300"})
    assert links(everywhere) == {"lg1": "http://192.0.2.7:3300"}
    bound = _inventory({"lg1": ""}, {"mx": "grafana_install_method: apt, grafana_http_addr: 10.0.0.5"})
    assert links(bound) == {"lg1": "http://10.0.0.5:3000"}
    given = _inventory({"lg1": ""}, {"mx": "grafana_install_method: apt, grafana_url: 'https://grafana.example.net'"})
    assert links(given) == {"lg1": "https://grafana.example.net"}
    assert links(_inventory({"lg1": "grafana_install_method: docker"}, {"mx": ""})) == {"lg1": "-"}
    # The metrics host is one of the load machines: its own settings there, and the others name it.
    assert links(_inventory({"lg1": "grafana_install_method: docker, grafana_http_addr: 0.0.0.0", "lg2": ""},
                            {"lg1": ""})) == {"lg1": "http://127.0.0.1:3000", "lg2": "http://lg1:3000"}
