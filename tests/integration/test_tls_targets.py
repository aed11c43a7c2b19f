"""An HTTPS target with a certificate from a CA of our own, and a proxy (issue 14): the real smoke playbook on
this machine (local connection), real k6.

- with scenario_run_ca_file (the CA's PEM on the controller) the health probe and k6 trust the target: the
  run passes with every HTTPS request answered;
- without it the play stops at the preflight, before any load, naming the URL and both settings;
- with scenario_run_validate_certs false the run passes without the CA;
- scenario_run_proxy reaches the probe and k6: both send their requests to the proxy.

Loopback only: the target and the proxy are threaded servers of this process on 127.0.0.1, free ports,
each stopped at the end of its test (and after at most LIFETIME_S seconds in any case). No InfluxDB, no
container, no fixed port. The CA and the server certificate (IP SAN 127.0.0.1) are made in tmp_path.
"""
from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from pathlib import Path
from typing import List

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services import run_playbook

LIFETIME_S = 300  # a server outlives no test by more than this, whatever happens
REQUESTS = 5
SCRIPT = """import http from 'k6/http';
import { check } from 'k6';
// A few GETs; a short maxDuration keeps the role's progress loop short.
export const options = {
  scenarios: { get: { executor: 'shared-iterations', vus: 1, iterations: %d, maxDuration: '5s', gracefulStop: '0s' } },
  thresholds: { http_req_failed: ['rate==0'] },
};
export default function () {
  check(http.get(`${__ENV.K6_BASE_URL}/`), { 'status is 200': (r) => r.status === 200 });
}
""" % REQUESTS


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_server_cert(where: Path):
    """(ca.pem, server.pem, server.key) in WHERE: a CA valid for a day, and a server certificate it signed
    for the IP address 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("loadops test CA")).issuer_name(_name("loadops test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    where.mkdir(parents=True, exist_ok=True)
    paths = where / "ca.pem", where / "server.pem", where / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


class Server:
    """A threaded HTTP(S) server on 127.0.0.1:<free port> that records each request line and answers 200
    (JSON on /health/). With CERT and KEY it speaks TLS only. Stopped by stop(), or after LIFETIME_S."""

    def __init__(self, cert=None, key=None):
        self.requests: List[str] = []
        self.tls = cert is not None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = b'{"status": "ok"}' if self.path.rstrip("/").endswith("/health") else b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a refused handshake is expected, not news
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            # The handshake happens in the request's own thread (a failed one never blocks the accept loop).
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(LIFETIME_S, self.httpd.shutdown)
        self.timer.daemon = True
        self.timer.start()

    @property
    def url(self) -> str:
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.httpd.server_address[1])

    def stop(self) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def pki(tmp_path):
    return make_ca_and_server_cert(tmp_path / "pki")


@pytest.fixture
def servers():
    started: List[Server] = []

    def start(*args) -> Server:
        started.append(Server(*args))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def https_target(pki, servers):
    _ca, cert, key = pki
    return servers(cert, key)


def _vars(tmp_path, base_url, **more):
    """The smoke playbook with our script, no InfluxDB, k6 as the module's user, results under tmp_path."""
    script = tmp_path / "tls.js"
    script.write_text(SCRIPT)
    out = {
        "scenario_run_script": str(script),
        "scenario_run_base_url": base_url,
        "scenario_run_influxdb_url": "",
        "scenario_run_results_dir": str(tmp_path / "on-load-machine"),
        "scenario_run_controller_results_dir": str(tmp_path / "on-controller"),
        "scenario_run_baseline_dir": str(tmp_path / "baselines"),
        "scenario_run_progress_interval": 5,
        "scenario_run_timeout": 60,
        "scenario_run_user": "",
    }
    out.update(more)
    return out


def _out(proc):
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def _result(tmp_path):
    runs = list((tmp_path / "on-controller").iterdir())
    assert len(runs) == 1, runs
    return json.loads((runs[0] / "localhost" / "result.json").read_text())


def _passed_with_every_request_answered(tmp_path, proc):
    assert proc.returncode == 0, _out(proc)
    result = _result(tmp_path)
    assert result["verdict"] == "passed", result.get("msg")
    assert result["metrics"]["requests"] == REQUESTS and result["metrics"]["failure_rate"] == 0, result["metrics"]
    return result


def test_an_https_target_signed_by_the_ca_in_scenario_run_ca_file_passes(tmp_path, pki, https_target):
    ca, _cert, _key = pki
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, https_target.url, scenario_run_ca_file=str(ca)))
    result = _passed_with_every_request_answered(tmp_path, proc)
    # The probe, then k6's GETs, all over TLS (the server speaks nothing else).
    assert https_target.requests == ["/health/"] + ["/"] * REQUESTS, https_target.requests
    # k6 trusted the copy on the load machine, not its own trust store; it never skipped the check.
    copy = tmp_path / "on-load-machine" / ".tls" / "ca.pem"
    assert copy.read_bytes() == ca.read_bytes() and copy.stat().st_mode & 0o777 == 0o644
    assert "--insecure-skip-tls-verify" not in result["cmd"]


def test_without_the_ca_the_play_stops_at_the_preflight_naming_the_url_and_the_settings(tmp_path, https_target):
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, https_target.url))
    assert proc.returncode == 2, _out(proc)
    out = " ".join(proc.stdout.split())
    assert ("localhost: preflight: the certificate of %s/health/ is not trusted by the load machine (unable to get "
            "local issuer certificate); set scenario_run_ca_file to the PEM bundle, on the controller, of the CA that "
            "signed it (an internal CA), or scenario_run_validate_certs: false to skip the check in the probe and "
            "in k6 (--insecure-skip-tls-verify)." % https_target.url) in out, out[-3000:]
    # Before any load: no request got through, k6 never ran.
    assert https_target.requests == []
    assert not (tmp_path / "on-load-machine").exists() or list((tmp_path / "on-load-machine").iterdir()) == []


def test_validate_certs_false_passes_without_the_ca(tmp_path, https_target):
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, https_target.url, scenario_run_validate_certs=False))
    result = _passed_with_every_request_answered(tmp_path, proc)
    assert "--insecure-skip-tls-verify" in result["cmd"]
    assert https_target.requests == ["/health/"] + ["/"] * REQUESTS


def test_the_probe_and_k6_send_their_requests_through_scenario_run_proxy(tmp_path, servers, free_port):
    # Neither k6 (Go) nor the probe ever proxies 127.0.0.1 or localhost; "localhost." is the same machine under
    # another name, on the default allowlist, and is proxied. The target port is closed: only the proxy answers.
    proxy = servers()
    target = "http://localhost.:%d" % free_port
    proc = run_playbook(tmp_path, "smoke.yml", _vars(tmp_path, target, scenario_run_proxy={"http_proxy": proxy.url}))
    _passed_with_every_request_answered(tmp_path, proc)
    # A proxy gets the absolute URL on the request line.
    assert proxy.requests == [target + "/health/"] + [target + "/"] * REQUESTS, proxy.requests
    assert "Proxies for the health probe and k6: http_proxy=%s; no_proxy=localhost,127.0.0.1,::1" % proxy.url \
        in proc.stdout
