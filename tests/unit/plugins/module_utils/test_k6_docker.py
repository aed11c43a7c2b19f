"""runner=docker pieces: docker command lines, env files, credentials, mounts, the docker CLI's
answers and the container's evidence. Table-driven; docker's answers are recorded data (the real
daemon is exercised in tests/integration/test_k6_run_docker.py)."""
import json
import os
import stat

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_command as cmdlib
from ansible_collections.loadops.k6.plugins.module_utils import k6_docker as d
from ansible_collections.loadops.k6.plugins.module_utils import k6_limits as lim
from ansible_collections.loadops.k6.plugins.module_utils import k6_plan as plan_mod
from ansible_collections.loadops.k6.plugins.module_utils import k6_runners as runners

MiB = 1024 ** 2


# ------------------------------------------------------------------ command lines
@pytest.mark.parametrize("command,options,expected", [
    ("create", {}, ["docker", "create", "img:1", "run", "s.js"]),
    ("run", {"rm": True, "name": "n1", "network": "host", "pull": "never"},
     ["docker", "run", "--rm", "--name", "n1", "--network", "host", "--pull", "never", "img:1", "run", "s.js"]),
    ("create", {"memory": 96 * MiB, "memory_swap": 96 * MiB, "cpus": 1.5},
     ["docker", "create", "--memory", "100663296", "--memory-swap", "100663296", "--cpus", "1.5", "img:1", "run", "s.js"]),
    ("create", {"cpus": 0.25}, ["docker", "create", "--cpus", "0.25", "img:1", "run", "s.js"]),
    ("create", {"cgroup_parent": "/jobs/ci/loadops-k6-t", "user": "0:0"},
     ["docker", "create", "--user", "0:0", "--cgroup-parent", "/jobs/ci/loadops-k6-t", "img:1", "run", "s.js"]),
    ("create", {"mounts": [("/opt/s", "ro"), ("/var/r/t", "rw")], "workdir": "/var/r/t", "env_file": "/tmp/e/env.list"},
     ["docker", "create", "-v", "/opt/s:/opt/s:ro", "-v", "/var/r/t:/var/r/t:rw", "--workdir", "/var/r/t",
      "--env-file", "/tmp/e/env.list", "img:1", "run", "s.js"]),
    ("create", {"labels": {"b": "2", "a": "1"}}, ["docker", "create", "--label", "a=1", "--label", "b=2", "img:1", "run", "s.js"]),
    ("create", {"memory": None, "cpus": None, "user": None, "mounts": [], "labels": {}, "rm": False},
     ["docker", "create", "img:1", "run", "s.js"]),
    # Declared order wins over the caller's order.
    ("create", {"env_file": "/e", "name": "n", "network": "host"},
     ["docker", "create", "--name", "n", "--network", "host", "--env-file", "/e", "img:1", "run", "s.js"]),
])
def test_container_argv_renders_each_option_once_in_declared_order(command, options, expected):
    assert d.build_container_argv("docker", command, "img:1", ["run", "s.js"], **options) == expected


def test_container_argv_refuses_unknown_options_commands_and_images():
    with pytest.raises(TypeError, match="privileged"):
        d.build_container_argv("docker", "create", "img:1", [], privileged=True)
    with pytest.raises(ValueError, match="'exec'"):
        d.build_container_argv("docker", "exec", "img:1", [])
    with pytest.raises(d.DockerError, match="'--privileged'"):
        d.build_container_argv("docker", "create", "--privileged", [])


@pytest.mark.parametrize("image", ["loadops/k6:1.1.0", "grafana/k6", "k6", "registry:5000/team/k6:1.1.0",
                                   "localhost/k6:latest", "ghcr.io/org/k6:v1.1.0-rc.1",
                                   "k6@sha256:" + "a" * 64])
def test_valid_image_references_pass(image):
    assert d.validate_image(image) == image


@pytest.mark.parametrize("image", ["", "--privileged", "-v/:/host", "Loadops/K6", "k6 latest", "k6:", "/k6",
                                   "k6:tag with space", "k6;rm -rf /", None, 7])
def test_invalid_image_references_are_named(image):
    with pytest.raises(d.DockerError) as err:
        d.validate_image(image)
    assert repr(image) in str(err.value) and "loadops/k6:1.1.0" in str(err.value)


@pytest.mark.parametrize("user,expected", [("", (0, 0)), ("root", (0, 0)), ("0", (0, 0)), ("12345:12345", (12345, 12345)),
                                           ("1000", (1000, 1000)), ("1000:50", (1000, 50)), ("k6", None), ("k6:k6", None)])
def test_image_user_is_mapped_to_numbers_when_it_can_be(user, expected):
    assert d.parse_image_user(user) == expected


@pytest.mark.parametrize("cpus,text", [(1, "1"), (1.0, "1"), (1.5, "1.5"), (0.25, "0.25"), (0.3333333, "0.333"), (2.10, "2.1")])
def test_cpus_are_rendered_without_noise(cpus, text):
    assert d.format_cpus(cpus) == text


@pytest.mark.parametrize("path", ["/opt/a:b", "/opt/a,b", "/opt/a\nb"])
def test_paths_docker_would_misread_are_refused(path):
    with pytest.raises(d.DockerError, match="cannot be mounted"):
        d.check_mount_path(path, "scripts_dir")


# ------------------------------------------------------------------ env files and credentials
def test_env_file_holds_one_sorted_line_per_variable_and_is_private(tmp_path):
    directory, path = d.write_env_file({"B": "two words", "A": 1, "EMPTY": None, "EQ": "a=b"}, str(tmp_path))
    assert open(path).read() == "A=1\nB=two words\nEMPTY=\nEQ=a=b\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert os.path.dirname(path) == directory and directory.startswith(str(tmp_path))


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\0b"])
def test_env_values_an_env_file_cannot_carry_are_refused_by_name(value, tmp_path):
    with pytest.raises(d.DockerError, match="env PEM holds a line break"):
        d.write_env_file({"PEM": value}, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("outputs,new_outputs,env", [
    ([], [], {}),
    (["json=out.json"], ["json=out.json"], {}),
    (["influxdb=http://127.0.0.1:8086/k6"], ["influxdb=http://127.0.0.1:8086/k6"], {}),
    (["influxdb=http://writer:s3cret@127.0.0.1:8086/k6", "json=o.json"],
     ["influxdb=http://127.0.0.1:8086/k6", "json=o.json"],
     {"K6_INFLUXDB_USERNAME": "writer", "K6_INFLUXDB_PASSWORD": "s3cret"}),
    (["influxdb=https://w%40x:p%3Ass@db.local:8086/k6"], ["influxdb=https://db.local:8086/k6"],
     {"K6_INFLUXDB_USERNAME": "w@x", "K6_INFLUXDB_PASSWORD": "p:ss"}),
    # Two credentialed InfluxDB outputs: one env pair cannot serve both, leave them as given.
    (["influxdb=http://a:1@h1/k6", "influxdb=http://b:2@h2/k6"], ["influxdb=http://a:1@h1/k6", "influxdb=http://b:2@h2/k6"], {}),
    (["experimental-prometheus-rw=http://u:p@h/api"], ["experimental-prometheus-rw=http://u:p@h/api"], {}),
])
def test_influxdb_credentials_move_from_the_url_to_the_env(outputs, new_outputs, env):
    assert cmdlib.influxdb_credentials_to_env(outputs) == (new_outputs, env)


@pytest.mark.parametrize("outputs,ok", [
    (["json=out.json"], True), (["csv=sub/out.csv"], True), (["json=/r/t1/out.json"], True),
    (["influxdb=http://127.0.0.1:8086/k6"], True), (["json=/tmp/out.json"], False), (["csv=/r/t1/../t2/x.csv"], False),
    (["json=/r/t1"], False),
])
def test_file_outputs_must_land_in_the_run_directory_for_every_runner(outputs, ok):
    if ok:
        plan_mod.check_file_outputs(outputs, "/r/t1")
    else:
        with pytest.raises(plan_mod.RunError, match="outside the run's results directory /r/t1"):
            plan_mod.check_file_outputs(outputs, "/r/t1")


@pytest.mark.parametrize("mode,owner,uid,need_exec,expected", [
    (0o644, 0, 12345, False, True), (0o600, 0, 12345, False, False), (0o600, 12345, 12345, False, True),
    (0o640, 0, 12345, False, False), (0o755, 0, 12345, True, True), (0o754, 0, 12345, True, False),
    (0o700, 0, 12345, True, False), (0o000, 0, 0, False, True),
])
def test_readable_by_follows_the_mode_bits_for_the_image_user(tmp_path, mode, owner, uid, need_exec, expected):
    path = tmp_path / "f"
    path.write_text("x")
    if owner != os.getuid():
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file another owner")
        os.chown(str(path), owner, -1)
    path.chmod(mode)
    assert runners.readable_by(str(path), uid, 54321, need_exec=need_exec) is expected


# ------------------------------------------------------------------ the docker CLI's answers
class FakeDocker(object):
    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, argv, timeout=60):
        self.calls.append(list(argv))
        for prefix, answer in self.answers:
            if tuple(argv[1:1 + len(prefix)]) == tuple(prefix):
                return answer
        return 0, "", ""


INFO = ("info", "--format", "{{.ServerVersion}}|{{.CgroupDriver}}|{{.CgroupVersion}}")


def _docker(answers):
    return d.Docker(which=lambda name: "/usr/bin/docker", run_cmd=FakeDocker(answers))


def test_docker_not_installed_says_how_to_get_it():
    with pytest.raises(d.DockerError, match=r"docker is not installed .*no docker on PATH.*runner=binary"):
        d.Docker(which=lambda name: None, run_cmd=FakeDocker([]))


@pytest.mark.parametrize("answer", [
    (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"),
    (0, "<no value>|<no value>|<no value>\n", "error during connect\n"),
    (1, "", "permission denied while trying to connect to the Docker daemon socket\n"),
])
def test_unreachable_daemon_is_named_with_the_reason(answer, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(d.DockerError) as err:
        _docker([(INFO, answer)])
    text = str(err.value)
    assert "docker daemon at unix:///var/run/docker.sock is not reachable" in text
    assert _first_line_of(answer) in text and "scripts/host-prereqs.sh" in text


def _first_line_of(answer):
    return (answer[2] or answer[1]).splitlines()[0].strip()


def test_daemon_facts_are_read_once():
    docker = _docker([(INFO, (0, "20.10.24|cgroupfs|1\n", ""))])
    assert (docker.server_version, docker.cgroup_driver, docker.cgroup_version) == ("20.10.24", "cgroupfs", 1)


@pytest.mark.parametrize("answer,words", [
    ((1, "", "Error: No such image: loadops/k6:9.9.9\n"), ["loadops/k6:9.9.9 is not present", "No such image", "scripts/build-images.sh"]),
    ((0, json.dumps({"Entrypoint": ["/bin/sh"], "User": ""}), ""), ["does not start k6", '["/bin/sh"]']),
    ((0, json.dumps({"Entrypoint": None, "Cmd": ["k6"]}), ""), ["does not start k6"]),
])
def test_image_problems_name_the_image_and_the_fix(answer, words):
    docker = _docker([(INFO, (0, "20.10.24|cgroupfs|1\n", "")), (("image", "inspect"), answer)])
    with pytest.raises(d.DockerError) as err:
        docker.image("loadops/k6:9.9.9")
    for word in words:
        assert word in str(err.value)


def test_a_k6_image_config_is_returned():
    config = {"Entrypoint": ["/usr/bin/k6"], "User": "12345:12345"}
    docker = _docker([(INFO, (0, "20.10.24|cgroupfs|1\n", "")), (("image", "inspect"), (0, json.dumps(config), ""))])
    assert docker.image("loadops/k6:1.1.0") == config


@pytest.mark.parametrize("text,expected", [
    ("4:memory:/jobs/ci\n1:cpu:/\n0::/\n", "/jobs/ci"), ("0::/user.slice/x.scope\n", "/user.slice/x.scope"), ("", "/"),
])
def test_own_cgroup_prefers_the_v1_memory_path(text, expected):
    assert lim.own_cgroup(text) == expected


# ------------------------------------------------------------------ the container's evidence
def _touch(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def _container(tmp_path, state, driver="cgroupfs", version="1", limited=True):
    docker = _docker([(INFO, (0, "20.10.24|%s|%s\n" % (driver, version), "")),
                      (("container", "inspect"), (0, json.dumps(state), ""))])
    return d.ContainerLimiter(docker, "loadops/k6:1.1.0", "loadops-k6-t1", ["run", "s.js"], {"A": "1"},
                              memory_limit=96 * MiB, cpu_limit=0.5, limited=limited, scripts_dir="/s", run_dir="/r/t1",
                              workdir="/r/t1", root=str(tmp_path), proc_cgroup_text="4:memory:/jobs/ci\n0::/\n",
                              mounts_of_cgroups=[], testid="t1")


def test_container_evidence_joins_docker_state_parent_counters_and_sampled_throttling(tmp_path):
    parent = "jobs/ci/loadops-k6-t1"
    _touch(str(tmp_path / "memory" / parent / "memory.max_usage_in_bytes"), str(90 * MiB))
    _touch(str(tmp_path / "cpuacct" / parent / "cpuacct.usage"), "750000000")
    _touch(str(tmp_path / "cpu" / parent / "cid1" / "cpu.stat"), "nr_periods 30\nnr_throttled 24\nthrottled_time 9\n")
    box = _container(tmp_path, {"OOMKilled": True, "ExitCode": 137})
    box.container_id = "cid1"
    box.sampler.sample()
    assert box.evidence() == {
        "limiter": "docker", "cgroup_version": 1, "memory_limit_bytes": 96 * MiB, "cpu_limit": 0.5,
        "memory_peak_bytes": 90 * MiB, "oom_killed": True, "cpu_seconds": 0.75, "throttled_share": 0.8,
        "container": "loadops-k6-t1", "exit_code": 137}


def test_container_with_limiter_none_sets_no_limits_but_still_measures(tmp_path):
    _touch(str(tmp_path / "memory/jobs/ci/loadops-k6-t1/memory.max_usage_in_bytes"), "1000")
    box = _container(tmp_path, {"OOMKilled": False, "ExitCode": 0}, limited=False)
    argv = box.create_argv()
    assert "--memory" not in argv and "--cpus" not in argv and "--memory-swap" not in argv
    ev = box.evidence()
    assert ev["limiter"] == "none" and ev["memory_peak_bytes"] == 1000 and ev["throttled_share"] is None


def test_container_argv_mounts_scripts_read_only_and_the_run_directory_read_write(tmp_path):
    box = _container(tmp_path, {})
    assert box.create_argv() == [
        "/usr/bin/docker", "create", "--name", "loadops-k6-t1", "--label", "loadops.k6.testid=t1", "--network", "host",
        "--pull", "never", "--memory", "100663296", "--memory-swap", "100663296", "--cpus", "0.5",
        "--cgroup-parent", "/jobs/ci/loadops-k6-t1", "-v", "/s:/s:ro", "-v", "/r/t1:/r/t1:rw", "--workdir", "/r/t1",
        "--env-file", "<env-file>", "loadops/k6:1.1.0", "run", "s.js"]
    assert box.wrap(["ignored"]) == ["/usr/bin/docker", "start", "--attach", "loadops-k6-t1"]


def test_systemd_cgroup_driver_gets_no_cgroup_parent(tmp_path):
    box = _container(tmp_path, {"OOMKilled": False, "ExitCode": 0}, driver="systemd", version="2")
    assert "--cgroup-parent" not in box.create_argv()
    ev = box.evidence()
    assert ev["memory_peak_bytes"] is None and ev["cgroup_version"] == 2 and ev["exit_code"] == 0
