# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k6 command lines and environments for loadops.k6.

Private to the loadops.k6 collection: no stability promise outside it.

Each k6 option is declared once in RUN_OPTIONS (option name -> how it renders); callers pass
parameters, never strings to concatenate. The renderers (flag, switch, repeated) serve docker's
command line too (k6_docker.CONTAINER_OPTIONS). One masking rule: secret_values() finds what must
never be shown, mask() hides it, and passwords inside URLs are hidden whether known or not.
"""
from __future__ import annotations

import math
import re
import shlex
from urllib.parse import unquote

# Environment k6 always gets from us: no phoning home, no colour codes in the log.
BASE_ENV = {
    "K6_NO_USAGE_REPORT": "true",
    "K6_NO_COLOR": "true",
}

# k6 1.1.0 has no option for the CA that signed the target's certificate (tlsAuth is for client
# certificates): its HTTP client trusts Go's system roots, which on Linux are read from SSL_CERT_FILE
# (in place of the distribution's bundle file) plus every file in /etc/ssl/certs (or SSL_CERT_DIR).
CA_FILE_ENV = "SSL_CERT_FILE"

# The name-based fallback: env values under such names are secrets even outside secret_env
# (K6_PASS, K6_AUTH_HEADER, K6_SESSION_COOKIE, K6_PRIVATE_KEY, K6_INFLUXDB_PASSWORD ...).
SECRET_KEY_PATTERN = re.compile(r"(PASS|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|COOKIE|SESSION|BEARER)", re.I)
URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@", re.I)

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}
_SIZE_RE = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,9})?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
_CPUS_RE = re.compile(r"^\s*(\d{1,4}(?:\.\d{1,6})?|\.\d{1,6})\s*$")
MAX_MEMORY = 1024 ** 5  # 1 PiB: anything above is a typo


def parse_size(value):
    """'512m' / '2g' / '1.5G' / '1048576' -> bytes (int). ValueError names the bad value."""
    if isinstance(value, bool):
        raise ValueError("memory_limit %r is not a size; use a number of bytes or a suffix k, m, g or t (e.g. 512m, 2g)" % (value,))
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("memory_limit %r is not a size; use a number of bytes or a suffix k, m, g or t (e.g. 512m, 2g)" % (value,))
        number, unit = float(value), ""
    else:
        match = _SIZE_RE.match(str(value))
        if not match:
            raise ValueError("memory_limit %r is not a size; use a number of bytes or a suffix k, m, g or t (e.g. 512m, 2g)" % (value,))
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _SIZE_UNITS[unit])
    if size > MAX_MEMORY:
        raise ValueError("memory_limit %r is larger than 1 PiB; use a size such as 512m or 2g" % (value,))
    if size < 32 * 1024 ** 2:
        raise ValueError("memory_limit %r is below 32m; k6 cannot start in less" % (value,))
    return size


def parse_cpus(value):
    """'1.5' -> 1.5 CPUs (plain decimal notation only). ValueError names the bad value."""
    try:
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or _CPUS_RE.match(str(value))):
            raise ValueError(value)
        cpus = float(value)
    except (TypeError, ValueError):
        raise ValueError("cpu_limit %r is not a number of CPUs; use e.g. 0.5, 1 or 1.5" % (value,))
    if math.isnan(cpus) or cpus <= 0 or math.isinf(cpus):
        raise ValueError("cpu_limit %r must be a positive number of CPUs (e.g. 0.5, 1, 1.5)" % (value,))
    if cpus < 0.01:
        raise ValueError("cpu_limit %r is below 0.01 CPUs, the smallest quota we set" % (value,))
    return cpus


def flag(name):
    """--name VALUE"""
    return lambda value: [name, str(value)]


def repeated(name, fmt=str):
    """--name V1 --name V2 ..."""
    return lambda values: [part for value in values for part in (name, fmt(value))]


def switch(name):
    """--name when true"""
    return lambda value: [name] if value else []


def render(argv, table, options):
    """argv extended by each option of table (name -> renderer) in table order; None/empty/False
    values are left out; an option the table does not know is a TypeError (a bug of ours)."""
    known = {name for name, _render in table}
    unknown = set(options) - known
    if unknown:
        raise TypeError("unknown option(s): %s" % ", ".join(sorted(unknown)))
    argv = list(argv)
    for name, renderer in table:
        value = options.get(name)
        if value is None or value is False or value == [] or value == {}:
            continue
        argv.extend(renderer(value))
    return argv


# option -> renderer(value) -> argv fragment. Order here is the order on the command line.
RUN_OPTIONS = (
    ("quiet", switch("--quiet")),
    ("address", flag("--address")),
    ("tags", lambda tags: [p for k in sorted(tags) for p in ("--tag", "%s=%s" % (k, tags[k]))]),
    ("outputs", repeated("--out")),
    ("summary_export", flag("--summary-export")),
    ("summary_trend_stats", lambda stats: ["--summary-trend-stats", ",".join(stats)]),
    ("execution_segment", flag("--execution-segment")),
    ("execution_segment_sequence", flag("--execution-segment-sequence")),
    ("paused", switch("--paused")),
    ("no_setup", switch("--no-setup")),
    ("no_teardown", switch("--no-teardown")),
    ("no_thresholds", switch("--no-thresholds")),
    ("insecure_skip_tls_verify", switch("--insecure-skip-tls-verify")),
)


def build_run_argv(k6_path, script, **options):
    """argv for `k6 run`; options named in RUN_OPTIONS, None/empty values are left out."""
    return render([k6_path, "run"], RUN_OPTIONS, options) + [script]


def build_inspect_argv(k6_path, script):
    # `k6 inspect` hides the process environment from the script unless told (k6 1.1.0, measured);
    # `k6 run` passes it, so without the flag scaled profiles would be inspected unscaled.
    return [k6_path, "inspect", "--execution-requirements", "--include-system-env-vars", script]


def build_env(base, user_env=None, html_report=None):
    """k6's environment: the caller's base, our fixed settings, then the user's env."""
    env = dict(base)
    env.update(BASE_ENV)
    if html_report:
        env["K6_WEB_DASHBOARD"] = "true"
        env["K6_WEB_DASHBOARD_EXPORT"] = html_report
        # -1: no dashboard HTTP server (parallel runs would fight over port 5665); export still works.
        env["K6_WEB_DASHBOARD_PORT"] = "-1"
    for key, value in (user_env or {}).items():
        env[str(key)] = "" if value is None else str(value)
    return env


def secret_values(user_env=None, outputs=None):
    """Values that must never be shown: env values under secret-looking keys, URL passwords (in
    outputs, and in env values such as an HTTPS_PROXY with a login)."""
    found = set()
    for key, value in (user_env or {}).items():
        if value not in (None, "") and SECRET_KEY_PATTERN.search(str(key)):
            found.add(str(value))
        for match in URL_USERINFO.finditer(str(value or "")):
            found.add(match.group("password"))
    for output in outputs or []:
        for match in URL_USERINFO.finditer(str(output)):
            found.add(match.group("password"))
    return found


# Credentials a script obtains while it runs (a login's token, a session cookie) are not known
# beforehand; where k6 or a script prints them in these shapes (--http-debug, K6_VERBOSE) they
# are masked too.
_RUNTIME_CREDENTIALS = re.compile(
    r"(?P<keep>\b(?-i:Bearer|Basic|Token)\s+|\b(?:Set-)?Cookie:\s*|\b(?:(?:access|refresh|id|auth)_?)?token[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<secret>[A-Za-z0-9._~+/=%-]{8,})", re.I)


def mask(text, secrets):
    """Replace URL passwords, runtime credentials and each known secret in text with ********."""
    text = URL_USERINFO.sub(lambda m: "%s%s:********@" % (m.group("scheme"), m.group("user")), text)
    text = _RUNTIME_CREDENTIALS.sub(lambda m: m.group("keep") + "********", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "********")
    return text


def influxdb_credentials_to_env(outputs):
    """influxdb=http://user:pass@host/db -> influxdb=http://host/db plus K6_INFLUXDB_USERNAME/PASSWORD
    in the environment, so the password is in no argv. Returns (outputs, env); with several
    credentialed InfluxDB outputs (the variables would apply to all) nothing is moved."""
    with_credentials = [o for o in outputs if o.startswith("influxdb=") and URL_USERINFO.match(o[len("influxdb="):])]
    if len(with_credentials) != 1:
        return list(outputs), {}
    new, env = [], {}
    for output in outputs:
        if output is with_credentials[0]:
            url = output[len("influxdb="):]
            match = URL_USERINFO.match(url)
            env = {"K6_INFLUXDB_USERNAME": unquote(match.group("user")),
                   "K6_INFLUXDB_PASSWORD": unquote(match.group("password"))}
            output = "influxdb=%s%s" % (match.group("scheme"), url[match.end():])
        new.append(output)
    return new, env


def line_masker(secrets):
    """mask() for raw output lines (bytes), e.g. k6's log as it is written."""
    secrets = frozenset(secrets)

    def _mask(line):
        text = line.decode("utf-8", "surrogateescape")
        masked = mask(text, secrets)
        return line if masked == text else masked.encode("utf-8", "surrogateescape")
    return _mask


def mask_file(path, secrets):
    """Rewrite a text file (or a .gz one) with every secret masked, line by line, keeping its mode.
    True when something was masked. k6's own outputs carry what the script put in URLs and tags."""
    import gzip
    import os

    encoded = [s.encode("utf-8") for s in secrets if s]
    if not encoded:
        return False
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        if not any(secret in line for line in handle for secret in encoded):
            return False
    masker = line_masker(secrets)
    temp = path + ".masking"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, os.stat(path).st_mode & 0o777)
    with opener(path, "rb") as src, os.fdopen(fd, "wb") as raw:
        dst = gzip.GzipFile(fileobj=raw, mode="wb") if opener is gzip.open else raw
        for line in src:
            dst.write(masker(line))
        if dst is not raw:
            dst.close()
    os.replace(temp, path)
    return True


def render_cmd(argv, secrets=()):
    """One shell-quoted line for humans, secrets masked."""
    return mask(" ".join(shlex.quote(part) for part in argv), secrets)


def parse_inspect(stdout):
    """`k6 inspect --execution-requirements` JSON -> {max_vus, total_duration_s, thresholds}."""
    import json

    data = json.loads(stdout)
    return {
        "max_vus": int(data.get("maxVUs", 0)),
        "total_duration_s": parse_duration(data.get("totalDuration", "0s")),
        "thresholds": data.get("thresholds") or {},
    }


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_FACTORS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text):
    """Go duration ('14m30s', '1h0m0s', '500ms') -> seconds as float."""
    text = str(text).strip()
    if text in ("", "0"):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            raise ValueError("not a duration: %r" % text)
        total += float(match.group(1)) * _DURATION_FACTORS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError("not a duration: %r" % text)
    return total
