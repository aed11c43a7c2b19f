#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: loadops.k6 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: k6_run
short_description: Run a k6 script under CPU and memory limits and return a verdict
version_added: 0.1.0
description:
  - Runs C(k6 run) on the load machine under optional memory and CPU limits, writes the summary,
    log and HTML report under O(results_dir)/<testid>, and returns every threshold with its
    observed value, the checks, headline metrics and evidence on whether the load generator itself
    was the bottleneck.
  - The limits come from a child cgroup of the module's own (cgroup v1 or v2), a transient systemd
    scope (C(systemd-run --scope)), or the container's limits when k6 runs in a container
    (O(runner=docker)).
  - Nothing is left behind on any exit path (success, failure, timeout, SIGTERM to the module) -
    no k6 process, cgroup, systemd unit or container.
  - The script is validated first with C(k6 inspect --execution-requirements); in check mode that is
    all that happens.
  - The summary export of k6 marks a threshold C(true) when it was crossed; this module reports
    C(passed=true) when it held.
  - Secrets are never shown or written - not in C(cmd), C(msg), k6's log, the result, Ansible's
    output or a process's command line. They are the values of O(secret_env), the values in O(env)
    whose names contain PASS, TOKEN, SECRET, API_KEY, PRIVATE_KEY, CREDENTIAL, AUTH, COOKIE, SESSION
    or BEARER, and passwords inside O(outputs) URLs (an InfluxDB output's credentials reach k6
    through its environment, never its command line).
  - Leftovers of a run whose module was killed (its cgroup, systemd scope or container) are removed
    the next time the module runs on that machine (a container, the next time it runs with O(runner=docker)).
author:
  - loadops.k6 developers (@loadops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Validates the script and estimates its memory; runs no load.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: none
    details: Every run is a new load test.
options:
  script:
    description: Path of the k6 script on the load machine.
    type: path
    required: true
  k6_path:
    description: Path of the k6 binary. Defaults to C(k6) on E(PATH).
    type: path
  runner:
    description:
      - How k6 is started.
      - V(binary) runs the k6 binary of the load machine (O(k6_path) or C(k6) on E(PATH)).
      - V(docker) runs k6 from the local image O(image) with C(docker create) and
        C(docker start --attach) - host network, the script directory mounted read-only and the
        run's results directory read-write, both at their own paths, the environment passed in a
        0600 env file deleted as soon as the container exists (never on a command line). The image
        is never pulled.
      - V(auto) is V(binary) when O(k6_path) is set or C(k6) is on E(PATH), else V(docker) when
        the docker CLI is installed.
    type: str
    choices: [auto, binary, docker]
    default: auto
  image:
    description:
      - The k6 image for O(runner=docker); it must already be on the load machine (on this
        project's machines, C(scripts/build-images.sh) builds it). Its ENTRYPOINT must be k6.
      - Ignored by O(runner=binary).
    type: str
    default: loadops/k6:1.1.0
  scripts_dir:
    description:
      - For O(runner=docker), the directory mounted read-only into the container; the script
        and every file it imports must be inside. Defaults to the script's directory.
      - Ignored by O(runner=binary).
    type: path
  env:
    description:
      - Environment variables for k6 and the script (C(__ENV)).
      - Values under secret-looking names (see the description) are treated as secrets; put every
        other secret in O(secret_env).
    type: dict
    default: {}
  secret_env:
    description:
      - Environment variables for k6 and the script whose values are secrets (passwords, tokens,
        cookies). They reach k6's environment only and are masked everywhere else, k6's log included.
      - A name may not be in both O(env) and O(secret_env).
    type: dict
    default: {}
  validate_certs:
    description:
      - Whether k6 checks the TLS certificates of the hosts it sends requests to. V(false) runs k6 with
        C(--insecure-skip-tls-verify) (a script's own C(insecureSkipTLSVerify) option is not overridden).
    type: bool
    default: true
  ca_file:
    description:
      - A PEM bundle on the load machine with the CA certificates that sign the target's certificate (an
        internal CA). k6 1.1.0 has no option of its own for it, so it reaches k6 as E(SSL_CERT_FILE), which Go
        reads in place of the distribution's bundle file; the files in C(/etc/ssl/certs) (or E(SSL_CERT_DIR))
        are still trusted.
      - It must be readable by the user k6 runs as. With O(runner=docker) it is mounted read-only into the
        container at the same path.
      - May not be given together with E(SSL_CERT_FILE) in O(env) or O(secret_env).
      - Proxies need no option - E(HTTP_PROXY), E(HTTPS_PROXY) and E(NO_PROXY) in O(env) reach k6, whose HTTP
        client follows them (never for loopback addresses or C(localhost)). A password in a proxy URL is masked
        like any secret.
    type: path
  run_as_user:
    description:
      - The system user k6 runs as, for example V(loadops-k6) (created by the M(loadops.k6.k6_runner) role).
        The module must run as root (C(become)) or as that user. The run directory is made 0700 and
        owned by that user while k6 runs; k6's files are created 0600; afterwards everything in it
        goes back to the module's user.
      - With O(runner=docker) the container runs as that user's uid and gid.
      - Unset, k6 runs as the module's user.
    type: str
  lease_file:
    description:
      - A file the controller keeps fresh while it is there (updating its modification time). The
        module creates it (its directory 0700), checks it about once a second while k6 runs, and stops
        k6 (verdict V(interrupted)) when the file is older than O(lease_ttl) seconds or gone - so a run
        ends when its ansible-playbook is interrupted or killed. The module removes it at the end.
      - Unset, the run goes on until it ends or O(timeout).
    type: path
  lease_ttl:
    description: Seconds without renewal after which O(lease_file) counts as expired; at least 2.
    type: float
    default: 10.0
  tags:
    description:
      - Tags added to every metric. A C(testid) tag is always set; it is generated when not given
        and names the run's results directory.
    type: dict
    default: {}
  outputs:
    description:
      - k6 C(--out) values, for example V(influxdb=http://127.0.0.1:8086/k6) or V(json=samples.json).
      - The type must be one of k6 1.1.0's outputs - C(json), C(csv), C(influxdb), C(experimental-prometheus-rw),
        C(experimental-opentelemetry), C(cloud) - or an xk6 extension's (C(xk6-...), e.g. C(xk6-influxdb)); the
        removed C(kafka), C(statsd) and C(datadog), and C(web-dashboard) (see O(html_report)), are refused.
      - File outputs (C(json), C(csv)) land in the run's directory - give a relative name; a path outside
        that directory (absolute, or through C(..)) is refused.
    type: list
    elements: str
    default: []
  summary_trend_stats:
    description: Statistics k6 computes for trend metrics.
    type: list
    elements: str
    default: [avg, min, med, max, p(90), p(95), p(99)]
  memory_limit:
    description:
      - Memory limit for k6, for example V(512m) or V(2g). No limit when unset.
      - Swap is not allowed either (cgroup v1 C(memsw), systemd C(MemorySwapMax=0), docker
        C(--memory-swap) equal to C(--memory)). On cgroup v1, systemd ignores C(MemorySwapMax).
    type: str
  cpu_limit:
    description: CPU limit for k6 in CPUs, for example V(1.5). No limit when unset.
    type: str
  limiter:
    description:
      - How the limits are applied and the evidence (memory peak, OOM kill, CPU seconds,
        throttling) collected.
      - V(cgroup) creates a child cgroup (v2 or v1) under the module's own cgroup.
      - V(systemd) runs k6 in a transient scope C(loadops-k6-<testid>.scope)
        (C(systemd-run --scope -p MemoryMax= -p MemorySwapMax=0 -p CPUQuota=)). A keeper
        process (C(sleep), OOM-immune, bounded lifetime) holds the scope open after k6 exits so its
        cgroup can be read, then the scope is killed and systemd drops the unit. Needs systemd as
        PID 1.
      - V(docker) uses the container's limits (C(--memory), C(--memory-swap), C(--cpus)); it
        needs O(runner=docker).
      - V(auto) is V(docker) for O(runner=docker); otherwise V(systemd) when systemd is PID 1 and
        C(systemd-run --scope) works, else V(cgroup).
      - V(none) applies no limit (and refuses limits).
    type: str
    choices: [auto, cgroup, none, systemd, docker]
    default: auto
  abort_on_fail:
    description:
      - Sets C(K6_ABORT_ON_FAIL=true) for scripts that read it (ours do) so thresholds stop the
        test when crossed.
    type: bool
    default: false
  fail_on_thresholds:
    description:
      - When false, a run whose only problem is crossed thresholds does not fail the task; the
        result still says C(verdict=thresholds_failed) and C(rc=99), with C(failed=false).
    type: bool
    default: true
  execution_segment:
    description: This runner's part of a distributed test, for example V(0:1/3).
    type: str
  execution_segment_sequence:
    description: All runners' segment points, for example V(0,1/3,2/3,1). Required with O(execution_segment).
    type: str
  paused:
    description:
      - Start k6 paused (C(--paused)); it waits, VUs initialized, until resumed through its REST API
        (M(loadops.k6.k6_control) with C(action=resume)). Needs O(api_address).
      - For fleet runs, where every load machine starts at one agreed instant. The O(timeout) counts
        from the start, the paused time included.
    type: bool
    default: false
  no_setup:
    description:
      - Do not run the script's C(setup()) (C(--no-setup)). In a fleet run setup runs once, through one
        machine's REST API, and its data is handed to the others.
    type: bool
    default: false
  no_teardown:
    description: Do not run the script's C(teardown()) (C(--no-teardown)); a fleet run tears down on one machine only.
    type: bool
    default: false
  local_thresholds:
    description:
      - When false, k6 runs with C(--no-thresholds) - it judges no threshold and no C(abortOnFail)
        threshold stops it - and the module judges every threshold of the script on k6's samples
        alone (its evaluator, the same rules). RV(thresholds) are then that judgement; a crossed one
        makes the verdict C(thresholds_failed) although k6 exits 0 (RV(rc) stays k6's).
      - For fleet runs, where thresholds, C(abortOnFail) included, are decided on every machine's
        samples together (the controller merges the machines' O(live_interval) files).
      - Needs O(samples) other than V(off).
    type: bool
    default: true
  live_interval:
    description:
      - Seconds between two writes of C(reduction.live.json) in the run's directory while k6 runs - the
        exact reduction of the samples so far (as C(reduction.json), values unsorted), written whole
        or not at all. V(0) writes none. Removed when the run ends (C(reduction.json) supersedes it).
      - Read by M(loadops.k6.k6_lease) (O(loadops.k6.k6_lease#module:live_file)) for a fleet run's
        global C(abortOnFail) check. Needs O(samples) other than V(off).
    type: float
    default: 0
  live_metrics:
    description: The metrics C(reduction.live.json) holds (all when empty); keeps it small.
    type: list
    elements: str
    default: []
  api_address:
    description:
      - Address of k6's REST API as C(HOST:PORT), for example V(127.0.0.1:6565). The empty string
        (default) disables it, so runs do not collide.
      - An address k6 cannot listen on ends the run as C(config_error) with a message naming it.
    type: str
    default: ""
  timeout:
    description:
      - Seconds the whole run may take, a positive finite number; then k6 is stopped (SIGTERM,
        then SIGKILL after 30 s; for a container C(docker stop -t 30)).
    type: float
  results_dir:
    description: Directory on the load machine under which C(<testid>/) receives the artifacts.
    type: path
    default: /var/lib/loadops/results
  html_report:
    description: Write k6's web-dashboard HTML report to C(report.html).
    type: bool
    default: true
  samples:
    description:
      - What becomes of k6's sample stream (every request's measurements). k6 writes it to a named
        pipe in the run's directory; the module reads it while k6 runs, so nothing of it lands on disk.
      - V(reduce) keeps an exact reduction in C(reduction.json) (per metric and tag set - counts,
        sums, min, max, non-zero counts, the last value, and every value of http_req_duration and of
        each trend a threshold names). From it come RV(endpoints), RV(errors) and the module's own
        judgement of every threshold, compared with k6's (RV(evaluator)).
      - V(keep) does the same and also keeps the raw stream, gzipped, as C(samples.json.gz) (about
        130-170 bytes a request; a long stress test writes gigabytes).
      - V(off) reads nothing, so there are no endpoints, no errors and no second judgement.
    type: str
    choices: [reduce, keep, "off"]
    default: reduce
"""

EXAMPLES = r"""
- name: Smoke test the demo target under 1 CPU and 512 MiB
  loadops.k6.k6_run:
    script: /opt/loadops/k6/scripts/scenarios/smoke.js
    env:
      K6_BASE_URL: http://127.0.0.1:8480
    outputs:
      - influxdb=http://127.0.0.1:8086/k6
    memory_limit: 512m
    cpu_limit: "1"
  register: smoke

- name: Run the stress scenario in the local k6 image under container limits
  loadops.k6.k6_run:
    script: /opt/loadops/k6/scripts/scenarios/stress.js
    scripts_dir: /opt/loadops/k6/scripts
    runner: docker
    image: loadops/k6:1.1.0
    memory_limit: 2g
    cpu_limit: "1.5"
    env:
      K6_BASE_URL: http://127.0.0.1:8480
      K6_TEST_USER_PASSWORD: "{{ vault_k6_password }}"

- name: Validate a script and estimate its memory without running it
  loadops.k6.k6_run:
    script: /opt/loadops/k6/scripts/scenarios/stress.js
    memory_limit: 2g
  check_mode: true
"""

RETURN = r"""
verdict:
  description: Outcome of the run; null in check mode.
  returned: always
  type: str
  sample: thresholds_failed
  choices: [passed, thresholds_failed, aborted, script_failed, script_error, config_error, oom_killed, timeout, interrupted, k6_error]
testid:
  description: The run's id, also the C(testid) tag on every metric.
  returned: always
  type: str
  sample: smoke-20261125T210000Z-ab12
thresholds:
  description: Every threshold; C(passed) is true when it held.
  returned: when k6 ran
  type: list
  elements: dict
  sample: [{"metric": "http_req_duration{type:read}", "expression": "p(95)<200", "passed": true,
            "observed": {"stat": "p(95)", "value": 12.5, "unit": "ms"}, "abort_on_fail": false}]
checks:
  description: Passes and fails of every check.
  returned: when k6 ran
  type: list
  elements: dict
  sample: [{"name": "status is 200", "path": "::status is 200", "passes": 30, "fails": 0}]
metrics:
  description: Headline metrics (requests, rate, failure rate, duration percentiles, iterations, VUs, data, dropped iterations).
  returned: when k6 ran
  type: dict
  sample: {"requests": 300, "request_rate": 10.0, "failure_rate": 0.0, "duration_ms": {"p95": 3.1}}
endpoints:
  description:
    - One entry per endpoint, that is per k6 C(name) tag (k6 sets it to the URL when the script names
      no request), sorted by name, from the sample reduction (O(samples)); latency from
      C(http_req_duration) with k6's percentile rule, in ms, null without requests.
    - C(failure_rate) is C(http_req_failed) for the endpoint; C(statuses) counts requests by HTTP
      status, C("0") meaning no response at all.
    - With O(samples=off), only endpoints whose C(name) submetrics a threshold names (count,
      failure_rate, p95_ms).
  returned: when k6 ran
  type: list
  elements: dict
  sample: [{"name": "/api/tasks/", "methods": ["GET"], "count": 30, "failed": 1, "failure_rate": 0.033,
            "statuses": {"200": 29, "500": 1}, "p50_ms": 2.1, "p95_ms": 4.2, "p99_ms": 5.0, "avg_ms": 2.3,
            "max_ms": 5.1}]
errors:
  description:
    - Failed requests (C(http_req_failed)) by endpoint and HTTP status, most frequent first, each with a
      hint about its usual cause (status 0 is no response; 400 often a Host header the target does not
      allow) and k6's own error text when it gave one.
  returned: when k6 ran and O(samples) is not V(off)
  type: list
  elements: dict
  sample: [{"endpoint": "/api/tasks/", "status": 500, "count": 1,
            "hint": "500 server error: the target failed while handling requests (check the target's logs)",
            "error": ""}]
evaluator:
  description:
    - Every threshold judged a second time by the module, from the sample reduction, with k6 1.1.0's
      rules, and compared with k6's own verdicts and values (values to a relative 1e-12).
    - C(agrees) is false when any differs (each is in C(differences) and in a warning), null when
      there was nothing to compare (no reduction or no summary from k6). A percentile k6 did not export
      (not in O(summary_trend_stats), e.g. p(99.9)) gets its observed value from here, marked
      C(source=loadops).
    - With O(local_thresholds=false) k6 judged nothing - C(agrees) is null, C(note) says so, and
      RV(thresholds) are this judgement.
  returned: when k6 ran and O(samples) is not V(off)
  type: dict
  sample: {"agrees": true, "compared": 4, "differences": []}
generator:
  description:
    - The load machine's own health during the run.
    - C(limiter) is the limiter used (V(cgroup), V(systemd), V(docker) or V(none)); C(unit) names
      the systemd scope, C(container) and C(exit_code) the container.
    - C(memory_peak_bytes), C(cpu_seconds) and C(throttled_share) are null where they could not be
      measured; without a cgroup, C(cpu_seconds) is k6's own CPU time.
  returned: when k6 ran
  type: dict
  sample: {"limiter": "cgroup", "cgroup_version": 1, "memory_peak_bytes": 52428800, "memory_limit_bytes": 536870912,
           "cpu_limit": 1.0, "cpu_seconds": 3.2, "throttled_share": 0.0, "oom_killed": false, "saturated": false, "reasons": []}
requirements:
  description:
    - From C(k6 inspect); C(memory_estimate_bytes) is our rough estimate.
    - C(abort_thresholds) is the part of the script's C(options.thresholds) whose metrics have an
      C(abortOnFail) threshold, as k6 read it (a fleet run decides those on every machine's samples).
  returned: when the script is valid
  type: dict
  sample: {"max_vus": 1, "total_duration_s": 60.0, "memory_estimate_bytes": 90177536,
           "abort_thresholds": {"http_req_failed": [{"threshold": "rate<0.1", "abortOnFail": true, "delayAbortEval": "10s"}]}}
artifacts:
  description:
    - Paths on the load machine; a value is null when that file was not written.
    - C(reduction) is the exact sample reduction (see O(samples)); C(samples) the raw stream with
      O(samples=keep).
  returned: when k6 ran
  type: dict
  sample: {"dir": "/var/lib/loadops/results/smoke-x", "summary": "/var/lib/loadops/results/smoke-x/summary.json",
           "log": "/var/lib/loadops/results/smoke-x/k6.log", "html_report": "/var/lib/loadops/results/smoke-x/report.html"}
run_as_user:
  description: The user k6 ran as (O(run_as_user)), or null when it ran as the module's user.
  returned: always
  type: str
  sample: loadops-k6
k6_version:
  description: Version reported by the k6 binary.
  returned: always
  type: str
  sample: 1.1.0
cmd:
  description:
    - The k6 command line, secrets masked. For O(runner=docker), the C(docker create) command
      line that runs k6 (its env file shown as C(<env-file>); InfluxDB credentials of O(outputs)
      travel in that file, not in the URL).
  returned: when k6 ran
  type: str
  sample: k6 run --quiet --address '' --tag testid=smoke-x /opt/loadops/k6/scripts/scenarios/smoke.js
rc:
  description: k6's exit code (negative for a signal).
  returned: always
  type: int
  sample: 99
duration_s:
  description: Wall time of the module's work in seconds.
  returned: always
  type: float
  sample: 31.4
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.loadops.k6.plugins.module_utils.k6_command import secret_values
from ansible_collections.loadops.k6.plugins.module_utils.k6_engine import Engine
from ansible_collections.loadops.k6.plugins.module_utils.k6_plan import RunError
from ansible_collections.loadops.k6.plugins.module_utils.k6_supervise import Interrupted

ARGUMENT_SPEC = dict(
    script=dict(type="path", required=True),
    k6_path=dict(type="path"),
    runner=dict(type="str", default="auto", choices=["auto", "binary", "docker"]),
    image=dict(type="str", default="loadops/k6:1.1.0"),
    scripts_dir=dict(type="path"),
    env=dict(type="dict", default={}),
    secret_env=dict(type="dict", default={}, no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_file=dict(type="path"),
    run_as_user=dict(type="str"),
    lease_file=dict(type="path"),
    lease_ttl=dict(type="float", default=10.0),
    tags=dict(type="dict", default={}),
    outputs=dict(type="list", elements="str", default=[]),
    summary_trend_stats=dict(type="list", elements="str", default=["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]),
    memory_limit=dict(type="str"),
    cpu_limit=dict(type="str"),
    limiter=dict(type="str", default="auto", choices=["auto", "cgroup", "none", "systemd", "docker"]),
    abort_on_fail=dict(type="bool", default=False),
    fail_on_thresholds=dict(type="bool", default=True),
    execution_segment=dict(type="str"),
    execution_segment_sequence=dict(type="str"),
    paused=dict(type="bool", default=False),
    no_setup=dict(type="bool", default=False),
    no_teardown=dict(type="bool", default=False),
    local_thresholds=dict(type="bool", default=True),
    live_interval=dict(type="float", default=0.0),
    live_metrics=dict(type="list", elements="str", default=[]),
    api_address=dict(type="str", default=""),
    timeout=dict(type="float"),
    results_dir=dict(type="path", default="/var/lib/loadops/results"),
    html_report=dict(type="bool", default=True),
    samples=dict(type="str", default="reduce", choices=["reduce", "keep", "off"]),
)


def run(module):
    """The engine's result, or fail_json with a message (never a traceback for bad input)."""
    for secret in secret_values(module.params["env"], module.params["outputs"]):
        module.no_log_values.add(secret)
    try:
        return Engine(module.params, check_mode=module.check_mode, warn=module.warn).run()
    except Interrupted as exc:
        module.fail_json(msg=str(exc), verdict="interrupted")
    except RunError as exc:
        module.fail_json(msg=str(exc), verdict=None)
    except Exception as exc:  # a bug of ours: say so plainly, keep the trace for -vvv
        module.fail_json(msg="loadops.k6.k6_run internal error: %s" % exc, exception=traceback.format_exc())


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_by={"execution_segment": "execution_segment_sequence"},
                           supports_check_mode=True)
    result = run(module)
    result.pop("warnings", None)  # already given to module.warn
    # `failed` is always explicit: Ansible fails a result with a non-zero rc and no `failed` key.
    if result["failed"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
