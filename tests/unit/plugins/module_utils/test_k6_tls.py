# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target's TLS for k6: validate_certs -> --insecure-skip-tls-verify, ca_file -> SSL_CERT_FILE (checked,
and mounted read-only into k6's container). A real HTTPS run is in tests/integration/test_tls_targets.py."""
import os

import pytest

from ansible_collections.loadops.k6.plugins.module_utils import k6_docker as d
from ansible_collections.loadops.k6.plugins.module_utils import k6_plan as plan_mod
from ansible_collections.loadops.k6.plugins.module_utils import k6_runners as runners
from ansible_collections.loadops.k6.plugins.module_utils.k6_engine import Engine
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import RunError

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _plan(tmp_path, **over):
    params = {"script": str(tmp_path / "s.js"), "results_dir": str(tmp_path / "results"), "tags": {"testid": "t1"}}
    params.update(over)
    return plan_mod.validate(params)


def _ca(tmp_path, text=PEM, mode=0o644):
    path = tmp_path / "tls" / "corp-ca.pem"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_certificates_are_checked_by_default_and_no_ca_file_is_set(tmp_path):
    plan = _plan(tmp_path)
    assert plan.validate_certs is True and plan.ca_file is None
    assert "SSL_CERT_FILE" not in runners.BinaryRunner(plan).k6_env({})


def test_validate_certs_false_runs_k6_with_insecure_skip_tls_verify(tmp_path):
    for given, flag in ((False, True), (True, False)):
        engine = Engine.__new__(Engine)
        engine.plan = _plan(tmp_path, validate_certs=given)
        engine.runner = runners.BinaryRunner(engine.plan)
        engine.runner.k6 = "/usr/bin/k6"
        argv = engine.run_argv({"summary": str(tmp_path / "summary.json")}, [])
        assert ("--insecure-skip-tls-verify" in argv) is flag


def test_the_ca_file_reaches_k6_as_ssl_cert_file_and_the_user_env_cannot_name_it_twice(tmp_path):
    plan = _plan(tmp_path, ca_file="rel/ca.pem")
    assert plan.ca_file == os.path.abspath("rel/ca.pem")
    assert runners.BinaryRunner(plan).k6_env({"PATH": "/bin"})["SSL_CERT_FILE"] == plan.ca_file
    with pytest.raises(RunError) as err:
        _plan(tmp_path, ca_file="/etc/corp-ca.pem", env={"SSL_CERT_FILE": "/other.pem"})
    assert str(err.value) == ("ca_file /etc/corp-ca.pem and SSL_CERT_FILE in env both name the CA bundle k6 trusts; "
                              "give it once, as ca_file")


def test_a_missing_ca_file_is_named(tmp_path):
    runner = runners.BinaryRunner(_plan(tmp_path, ca_file=str(tmp_path / "nope.pem")))
    with pytest.raises(RunError, match=r"ca_file .*/nope.pem does not exist on the load machine or is not a file"):
        runner.check_ca_file(os.geteuid(), os.getegid(), "uid 0")


def test_a_ca_file_without_a_pem_certificate_is_refused(tmp_path):
    path = _ca(tmp_path, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    runner = runners.BinaryRunner(_plan(tmp_path, ca_file=path))
    with pytest.raises(RunError) as err:
        runner.check_ca_file(os.geteuid(), os.getegid(), "uid 0")
    assert str(err.value).startswith("ca_file %s holds no PEM certificate (no -----BEGIN CERTIFICATE----- line);" % path)


def test_a_ca_file_the_k6_user_cannot_read_is_refused_with_its_mode(tmp_path):
    path = _ca(tmp_path, mode=0o600)
    runner = runners.BinaryRunner(_plan(tmp_path, ca_file=path))
    if os.geteuid() == 0:  # the file is root's: another uid is judged by the mode bits
        with pytest.raises(RunError) as err:
            runner.check_ca_file(12345, 12345, "loadops-k6 (uid 12345)")
        assert str(err.value).startswith("ca_file %s is not readable by loadops-k6 (uid 12345), the user k6 runs as "
                                         "(%s has mode 0600);" % (path, path))
    os.chmod(path, 0o644)
    runner.check_ca_file(os.geteuid(), os.getegid(), "us")


def test_the_docker_runner_refuses_a_ca_path_docker_would_misread(tmp_path):
    (tmp_path / "s.js").write_text("export default function () {}\n")
    runner = d.DockerRunner(_plan(tmp_path, runner="docker", ca_file="/etc/ca:corp.pem"))
    with pytest.raises(d.DockerError, match="ca_file /etc/ca:corp.pem cannot be mounted"):
        runner._check_inputs()


def test_the_container_gets_the_ca_file_read_only_at_its_own_path(tmp_path, monkeypatch):
    made = {}

    class Recording(object):
        def __init__(self, *args, **kwargs):
            made.update(kwargs)

        def create(self):
            pass

    monkeypatch.setattr(d, "ContainerLimiter", Recording)
    path = _ca(tmp_path)
    runner = d.DockerRunner(_plan(tmp_path, runner="docker", ca_file=path))
    runner.docker, runner.scripts_dir = object(), str(tmp_path)
    runner.image_user, runner.docker_user = (os.getuid(), os.getgid()), None
    runner.create_limiter(["k6", "run", "s.js"], {"html_report": None})
    assert made["extra_mounts"] == [(path, "ro")]

    monkeypatch.undo()  # the real class renders it like the other mounts
    docker = type("D", (), {"cgroup_driver": "systemd", "cli": "docker"})()
    limiter = d.ContainerLimiter(docker, "loadops/k6:1.1.0", "loadops-k6-t1", ["run", "s.js"], {}, scripts_dir="/s",
                                 run_dir="/r/t1", workdir="/r/t1", testid="t1", extra_mounts=[(path, "ro")])
    argv = limiter.create_argv()
    assert argv[argv.index("/r/t1:/r/t1:rw") + 1:argv.index("/r/t1:/r/t1:rw") + 3] == ["-v", "%s:%s:ro" % (path, path)]
