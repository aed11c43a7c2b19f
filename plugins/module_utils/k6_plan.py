# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage 1 of a run: the module's parameters -> a Plan, or a RunError naming the bad value.

Private to the loadops.k6 collection: no stability promise outside it.

validate() is pure: it reads no file, starts no process and touches no cgroup, so every rule
here is unit-tested with plain dicts. What depends on the load machine (is the script there, is
k6 or docker installed, can results_dir be written) is checked by the runner in the prepare stage.
"""
from __future__ import annotations

import collections
import datetime
import math
import os
import random
import re
import string

from . import k6_command as cmdlib
from .k6_limits import LIMITERS

RUNNERS = ("auto", "binary", "docker")
FILE_OUTPUTS = ("json", "csv")
# k6 1.1.0's outputs (internal/cmd/outputs.go), less the removed ones (REMOVED_OUTPUTS) and web-dashboard
# (the module makes report.html itself, html_report). Extension outputs of an xk6 build are named xk6-...
KNOWN_OUTPUTS = ("cloud", "csv", "experimental-opentelemetry", "experimental-prometheus-rw", "influxdb", "json")
EXTENSION_OUTPUT_PREFIX = "xk6-"
REMOVED_OUTPUTS = {
    "kafka": "was removed in k6 v0.34.0 (the xk6-output-kafka extension replaces it)",
    "datadog": "was removed in k6 v0.34.0 (use experimental-opentelemetry or a statsd extension)",
    "statsd": "was removed in k6 v0.55.0 (an xk6 statsd extension replaces it)",
    "web-dashboard": "is already used for report.html (html_report)",
}
DEFAULT_IMAGE = "loadops/k6:1.1.0"
DEFAULT_TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")

_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_TESTID = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OUTPUT = re.compile(r"^[a-z0-9-]+(=.*)?$")
# host:port with an IPv4/name host, a bracketed IPv6 host, or no host (all interfaces).
_API_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):(?P<port>\d{1,5})$")


class RunError(Exception):
    """Bad input or environment; the message names the value and what is allowed."""


Plan = collections.namedtuple("Plan", [
    "script",            # absolute path of the script on the load machine
    "script_given",      # the path as the user wrote it (for messages)
    "runner",            # auto | binary | docker, as asked
    "k6_path",           # explicit k6 binary, or None
    "image", "scripts_dir",
    "env",               # the user's env (plus K6_ABORT_ON_FAIL when asked)
    "tags",              # with testid
    "testid",
    "outputs",
    "summary_trend_stats",
    "memory_limit",      # bytes or None
    "cpu_limit",         # CPUs (float) or None
    "limiter",           # one of LIMITERS
    "fail_on_thresholds",
    "execution_segment", "execution_segment_sequence",
    "api_address",       # "" = no REST API
    "timeout",           # seconds (float) or None
    "results_dir", "run_dir",
    "html_report",
    "secret_env",        # env whose values are never shown or written anywhere
    "secrets",           # frozenset of values never to show (secret_env's, and the name-based rule's)
    "run_as_user",       # the user k6 runs as, or None (the module's own)
    "lease_file", "lease_ttl",  # the controller's lease: k6 stops when it is not renewed
    "check_mode",
    "samples",           # reduce | keep | off: k6's sample stream reduced (k6_samples), raw kept too, or neither
    "paused",            # fleet runs: k6 starts paused (REST API needed), loadops.k6.k6_control resumes it
    "no_setup", "no_teardown",  # fleet runs: setup() runs once through the REST API, teardown() on one machine
    "local_thresholds",  # False: k6 runs with --no-thresholds (no local abortOnFail); loadops judges the samples
    "live_interval",     # seconds between writes of reduction.live.json (0: none)
    "live_metrics",      # the metrics it holds (None: all)
    "ca_file",           # absolute path of a PEM CA bundle k6 trusts (SSL_CERT_FILE), or None
    "validate_certs",    # False: k6 runs with --insecure-skip-tls-verify
])

SAMPLE_MODES = ("reduce", "keep", "off")


def new_testid(script, now=None, rand=random):
    """<script name>-<UTC stamp>-<4 random chars>: unique enough for one results directory."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.splitext(os.path.basename(script))[0]).strip("-") or "run"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    suffix = "".join(rand.choice(string.ascii_lowercase + string.digits) for _i in range(4))
    return "%s-%s-%s" % (base, now.strftime("%Y%m%dT%H%M%SZ"), suffix)


def _fraction(text, what):
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise RunError("%s %r is not a fraction (use 0, 1/3, 0.5 or 50%%)" % (what, text))


def validate_segment(segment, sequence):
    """k6 needs the sequence for the parts to add up: demand it and check membership."""
    if not segment:
        if sequence:
            raise RunError("execution_segment_sequence is set but execution_segment is not")
        return
    if ":" not in segment:
        raise RunError("execution_segment %r must look like START:END, e.g. 0:1/3" % segment)
    start, end = (_fraction(p, "execution_segment") for p in segment.split(":", 1))
    if not 0 <= start < end <= 1:
        raise RunError("execution_segment %r must satisfy 0 <= start < end <= 1" % segment)
    if not sequence:
        raise RunError("execution_segment %r needs execution_segment_sequence (e.g. 0,1/3,2/3,1) so "
                       "that the runners' parts add up" % segment)
    points = [_fraction(p, "execution_segment_sequence") for p in sequence.split(",")]
    if points != sorted(points) or points[0] != 0 or points[-1] != 1:
        raise RunError("execution_segment_sequence %r must rise from 0 to 1" % sequence)
    if not any(abs(start - p) < 1e-9 for p in points) or not any(abs(end - p) < 1e-9 for p in points):
        raise RunError("execution_segment %r is not made of points of execution_segment_sequence %r" % (segment, sequence))


def validate_api_address(address):
    """'' (no REST API) or HOST:PORT with a port of 0-65535."""
    if address in (None, ""):
        return ""
    match = _API_ADDRESS.match(str(address))
    if not match or int(match.group("port")) > 65535:
        raise RunError("api_address %r is not an address k6 can listen on; use HOST:PORT (e.g. 127.0.0.1:6565, "
                       "port 0-65535) or '' to run k6 without its REST API" % (address,))
    return str(address)


def _limits(params):
    try:
        memory = cmdlib.parse_size(params["memory_limit"]) if params.get("memory_limit") not in (None, "") else None
        cpus = cmdlib.parse_cpus(params["cpu_limit"]) if params.get("cpu_limit") not in (None, "") else None
    except ValueError as exc:
        raise RunError(str(exc))
    limiter = params.get("limiter") or "auto"
    if limiter not in LIMITERS:
        raise RunError("limiter %r is not known; use one of %s" % (limiter, ", ".join(LIMITERS)))
    if limiter == "none" and (memory or cpus):
        raise RunError("limiter=none cannot apply memory_limit/cpu_limit; drop the limits or use limiter=auto")
    return memory, cpus, limiter


def _timeout(value):
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise RunError("timeout %r is not a number of seconds" % (value,))
    if not math.isfinite(seconds) or seconds <= 0:
        raise RunError("timeout %r must be a positive, finite number of seconds" % (value,))
    return seconds


def _tags(params, now, rand):
    tags = dict(params.get("tags") or {})
    for key in tags:
        if not _TAG_KEY.match(str(key)):
            raise RunError("tag name %r is not allowed; use letters, digits, '_', '.' and '-'" % key)
    testid = str(tags.get("testid") or new_testid(params["script"], now, rand))
    if not _TESTID.match(testid) or testid in (".", ".."):
        raise RunError("testid %r may only hold letters, digits, '_', '.' and '-', and must not be '.' or '..' "
                       "(it names the run's own directory)" % testid)
    tags["testid"] = testid
    return tags, testid


def _env_and_outputs(params):
    env = dict(params.get("env") or {})
    secret_env = dict(params.get("secret_env") or {})
    for key in list(env) + list(secret_env):
        if not _ENV_NAME.match(str(key)):
            raise RunError("env name %r is not a valid environment variable name" % key)
    both = sorted(set(env) & set(secret_env))
    if both:
        raise RunError("%s is set in both env and secret_env; give each variable once" % ", ".join(both))
    if params.get("abort_on_fail"):
        env["K6_ABORT_ON_FAIL"] = "true"
    outputs = list(params.get("outputs") or [])
    for output in outputs:
        if not isinstance(output, str) or not _OUTPUT.match(output):
            raise RunError("outputs entry %r must look like TYPE or TYPE=ARG (e.g. influxdb=http://127.0.0.1:8086/k6, "
                           "json=out.json)" % (output,))
        check_output_type(output)
    return env, secret_env, outputs


def check_output_type(output):
    """TYPE of TYPE=ARG must be an output k6 1.1.0 has, or an xk6 extension's (xk6-...)."""
    kind = output.partition("=")[0]
    if kind in KNOWN_OUTPUTS or (kind.startswith(EXTENSION_OUTPUT_PREFIX) and len(kind) > len(EXTENSION_OUTPUT_PREFIX)):
        return
    why = REMOVED_OUTPUTS.get(kind, "is not an output of k6 1.1.0")
    raise RunError("outputs entry %s: the output type %s %s; use one of %s, or an xk6 extension's output (xk6-...)"
                   % (cmdlib.mask(output, ()), kind, why, ", ".join(KNOWN_OUTPUTS)))


def check_file_outputs(outputs, run_dir):
    """File outputs land in the run's directory: a relative name does (k6 runs there), an absolute
    path must point inside it."""
    for output in outputs:
        kind, sep, target = output.partition("=")
        if kind in FILE_OUTPUTS and sep:
            # A relative name lands in the run's directory (k6 runs there); ../ would leave it.
            real = os.path.normpath(os.path.join(run_dir, target))
            if not real.startswith(run_dir.rstrip("/") + "/"):
                raise RunError("outputs entry %s writes outside the run's results directory %s; give a relative file "
                               "name (it lands in that directory)" % (output, run_dir))


def _seconds(given, name):
    """A parameter in seconds as a float (may be inf or nan: the caller checks its range)."""
    try:
        return float(given)
    except (TypeError, ValueError):
        raise RunError("%s %r is not a number of seconds" % (name, given))


def _lease(params):
    lease_file = params.get("lease_file") or None
    ttl = params.get("lease_ttl")
    ttl = _seconds(10.0 if ttl is None else ttl, "lease_ttl")
    if not math.isfinite(ttl) or ttl < 2:
        raise RunError("lease_ttl %r must be a finite number of seconds, at least 2" % (ttl,))
    return lease_file, ttl


def validate(params, check_mode=False, now=None, rand=random):
    """The module's parameters (as its argument spec defines them) -> Plan. Pure."""
    runner = params.get("runner") or "auto"
    if runner not in RUNNERS:
        raise RunError("runner %r is not known; use one of %s" % (runner, ", ".join(RUNNERS)))
    if runner == "docker" and params.get("k6_path"):
        raise RunError("k6_path %s is for runner=binary; runner=docker runs the k6 of image %s (drop k6_path, "
                       "or use runner=binary)" % (params["k6_path"], params.get("image") or DEFAULT_IMAGE))
    memory, cpus, limiter = _limits(params)
    timeout = _timeout(params.get("timeout"))
    tags, testid = _tags(params, now, rand)
    env, secret_env, outputs = _env_and_outputs(params)
    validate_segment(params.get("execution_segment"), params.get("execution_segment_sequence"))
    results_dir = params["results_dir"]
    run_dir = os.path.join(results_dir, testid)
    check_file_outputs(outputs, os.path.abspath(run_dir))
    lease_file, lease_ttl = _lease(params)
    samples = params.get("samples") or "reduce"
    if samples not in SAMPLE_MODES:
        raise RunError("samples %r is not known; use one of %s" % (samples, ", ".join(SAMPLE_MODES)))
    local_thresholds = params.get("local_thresholds", True) is not False
    if not local_thresholds and samples == "off":
        raise RunError("local_thresholds=false leaves every threshold to loadops' judgement of k6's samples, and "
                       "samples=off keeps none; use samples=reduce or keep")
    live_interval, live_metrics = _live(params, samples)
    paused = params.get("paused") is True
    if paused and not params.get("api_address"):
        raise RunError("paused=true needs api_address (k6 is resumed through its REST API, e.g. 127.0.0.1:6565)")
    ca_file, validate_certs = _tls(params, env, secret_env)
    secrets = set(cmdlib.secret_values(env, outputs)) | {str(v) for v in secret_env.values() if v not in (None, "")}
    return Plan(
        script=os.path.abspath(params["script"]), script_given=params["script"], runner=runner,
        k6_path=params.get("k6_path") or None, image=params.get("image") or DEFAULT_IMAGE,
        scripts_dir=params.get("scripts_dir") or None, env=env, tags=tags, testid=testid, outputs=outputs,
        summary_trend_stats=list(params.get("summary_trend_stats") or DEFAULT_TREND_STATS),
        memory_limit=memory, cpu_limit=cpus, limiter=limiter,
        fail_on_thresholds=params.get("fail_on_thresholds", True) is not False,
        execution_segment=params.get("execution_segment") or None,
        execution_segment_sequence=params.get("execution_segment_sequence") or None,
        api_address=validate_api_address(params.get("api_address")), timeout=timeout,
        results_dir=results_dir, run_dir=run_dir,
        html_report=params.get("html_report", True) is not False,
        secret_env=secret_env, secrets=frozenset(secrets), run_as_user=params.get("run_as_user") or None,
        lease_file=lease_file, lease_ttl=lease_ttl, check_mode=bool(check_mode), samples=samples,
        paused=paused, no_setup=params.get("no_setup") is True, no_teardown=params.get("no_teardown") is True,
        local_thresholds=local_thresholds, live_interval=live_interval, live_metrics=live_metrics,
        ca_file=ca_file, validate_certs=validate_certs)


def _tls(params, env, secret_env):
    """(ca_file or None, validate_certs). The CA bundle reaches k6 as SSL_CERT_FILE: given twice is refused."""
    ca_file = params.get("ca_file") or None
    if ca_file and (cmdlib.CA_FILE_ENV in env or cmdlib.CA_FILE_ENV in secret_env):
        raise RunError("ca_file %s and %s in env both name the CA bundle k6 trusts; give it once, as ca_file"
                       % (ca_file, cmdlib.CA_FILE_ENV))
    return (os.path.abspath(ca_file) if ca_file else None), params.get("validate_certs", True) is not False


def _live(params, samples):
    given = params.get("live_interval") or 0
    interval = _seconds(given, "live_interval")
    if not math.isfinite(interval) or interval < 0:
        raise RunError("live_interval %r must be 0 (off) or a positive number of seconds" % (given,))
    if interval and samples == "off":
        raise RunError("live_interval=%g writes the samples' reduction while k6 runs, and samples=off keeps none; "
                       "use samples=reduce or keep" % interval)
    metrics = params.get("live_metrics")
    if metrics is not None and (not isinstance(metrics, (list, tuple)) or not all(isinstance(m, str) for m in metrics)):
        raise RunError("live_metrics %r must be a list of metric names" % (metrics,))
    return interval, (frozenset(metrics) if metrics else None)
