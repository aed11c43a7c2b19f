#!/usr/bin/env bash
# host-prereqs.sh — prepare a Debian 12 / Ubuntu machine for loadops.k6 tests and CI.
#
#   sudo scripts/host-prereqs.sh
#
# Idempotent and non-interactive (runs as root, no stdin). Steps:
#   1. apt: install docker.io debootstrap influxdb (+ debian-archive-keyring) if missing; `apt-get update` only when a
#      package is missing and the lists are older than a day (or have no candidate for it).
#      Package scripts are not allowed to start services (temporary policy-rc.d exiting 101);
#      the loadops.k6.influxdb role configures and starts InfluxDB itself.
#   2. docker: if `docker info` fails, start `dockerd --bridge=none --iptables=false` in the
#      background (log: /var/log/loadops-dockerd.log), with --cgroup-parent set below the cgroup
#      this script runs in, so containers stay inside the calling run's cgroup. A dockerd that
#      is already answering (started by someone else) is left alone.
#
# Environment:
#   LOADOPS_APT_MAX_AGE   seconds before apt lists count as stale (default 86400)
#   LOADOPS_DOCKERD_LOG   dockerd log file (default /var/log/loadops-dockerd.log)
#   LOADOPS_DOCKER_WAIT   seconds to wait for dockerd to answer (default 60)
#   LOADOPS_CGROUP_PARENT override the cgroup parent given to dockerd ("" = docker default)
#   DOCKER                docker client to use (default: first of PATH docker, /usr/bin/docker
#                         that can talk to the daemon)
#
# Prints one line per step. Exit status non-zero on failure.
set -euo pipefail
exec </dev/null
export CI=true DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
export NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l  # no needrestart prompts/restarts
export PATH="$PATH:/usr/sbin:/sbin"

PKGS=(docker.io debootstrap influxdb shellcheck debian-archive-keyring)  # keyring: debootstrap of bookworm on Ubuntu
APT_MAX_AGE="${LOADOPS_APT_MAX_AGE:-86400}"
DOCKERD_LOG="${LOADOPS_DOCKERD_LOG:-/var/log/loadops-dockerd.log}"
DOCKER_WAIT="${LOADOPS_DOCKER_WAIT:-60}"
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK="$POLICY.loadops-bak"
APT_STAMP=/var/lib/apt/loadops-update-stamp
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

step() { printf '[host-prereqs] %s\n' "$*"; }
die() { printf '[host-prereqs] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v apt-get >/dev/null || die "apt-get not found: Debian/Ubuntu only"

# --------------------------------------------------------------------------------------- apt
# (Capture output first: `cmd | grep -q` under pipefail fails when grep exits early -> SIGPIPE.)
is_installed() { local s; s=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1; [ "$s" = "install ok installed" ]; }
has_candidate() { local s; s=$(apt-cache policy "$1" 2>/dev/null) || return 1; [[ "$s" =~ Candidate:\ [^\(] ]]; }
APT_LOG=$(mktemp /tmp/loadops-apt.XXXXXX.log)
run_apt() {  # run apt-get quietly; show its log on failure
    if ! apt-get "$@" >>"$APT_LOG" 2>&1; then
        keep_apt_log=1; tail -n 30 "$APT_LOG" >&2; die "apt-get $* failed (log: $APT_LOG)"
    fi
}

lists_age() {
    # Age of the last successful `apt-get update`: our own stamp, else pkgcache.bin, else lists dir.
    local f newest=0 m
    for f in "$APT_STAMP" /var/cache/apt/pkgcache.bin /var/lib/apt/lists; do
        [ -e "$f" ] || continue
        m=$(stat -c %Y "$f"); [ "$m" -gt "$newest" ] && newest=$m
    done
    echo $(( $(date +%s) - newest ))
}

policy_installed=0
restore_policy() {
    [ "$policy_installed" -eq 1 ] || return 0
    rm -f "$POLICY"
    if [ -e "$POLICY_BAK" ]; then mv -f "$POLICY_BAK" "$POLICY"; fi
    policy_installed=0
}
trap 'restore_policy; [ -n "${APT_LOG:-}" ] && [ "${keep_apt_log:-0}" = 0 ] && rm -f "$APT_LOG"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

missing=()
for p in "${PKGS[@]}"; do is_installed "$p" || missing+=("$p"); done

if [ "${#missing[@]}" -eq 0 ]; then
    step "apt: ${PKGS[*]} already installed (no apt-get update)"
else
    need_update=0 why=""
    age=$(lists_age)
    if [ "$age" -gt "$APT_MAX_AGE" ]; then need_update=1; why="lists ${age}s old"; fi
    for p in "${missing[@]}"; do
        if ! has_candidate "$p"; then need_update=1; why="${why:+$why, }no candidate for $p"; fi
    done
    if [ "$need_update" -eq 1 ]; then
        step "apt: apt-get update ($why)"
        run_apt -q -o DPkg::Lock::Timeout=600 update
        touch "$APT_STAMP"
    else
        step "apt: lists are fresh (${age}s old), skipping apt-get update"
    fi

    # Keep package maintainer scripts from starting services (docker, containerd, influxdb).
    if [ -e "$POLICY" ] && [ ! -e "$POLICY_BAK" ]; then cp -p "$POLICY" "$POLICY_BAK"; fi
    printf '#!/bin/sh\n# temporary, written by loadops scripts/host-prereqs.sh\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    policy_installed=1

    step "apt: installing ${missing[*]} (services not started: policy-rc.d exits 101)"
    run_apt "${APT_OPTS[@]}" install --no-install-recommends "${missing[@]}"
    restore_policy
    step "apt: installed ${missing[*]}; policy-rc.d restored"

    # If influxdb was installed just now and something started it anyway, stop it (the role owns it).
    if [[ " ${missing[*]} " == *" influxdb "* ]]; then
        pidfile=$(sed -n 's/^PIDFILE=\(.*\)$/\1/p' /etc/init.d/influxdb 2>/dev/null | tr -d '"' | head -n1)
        pidfile="${pidfile:-/var/run/influxdb/influxd.pid}"
        if [ -s "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null \
            && grep -q influxd "/proc/$pid/comm" 2>/dev/null; then
            step "apt: influxdb postinst started influxd (pid $pid) despite policy-rc.d: stopping it"
            kill -TERM "$pid"
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            rm -f "$pidfile"
        else
            step "apt: influxd not running after install (as intended)"
        fi
    fi
fi

# ------------------------------------------------------------------------------------ docker
# A docker client that talks to the daemon. /usr/local/bin/docker may be a newer CLI (28.x)
# than Debian's 20.10 daemon; it negotiates the API version down, but fall back to
# /usr/bin/docker if it cannot.
docker_answers() { timeout 20 "$1" info >/dev/null 2>&1; }
pick_client() {
    local c
    for c in ${DOCKER:-} "$(command -v docker || true)" /usr/bin/docker; do
        if [ -z "$c" ] || [ ! -x "$c" ]; then continue; fi
        if docker_answers "$c"; then echo "$c"; return 0; fi
    done
    return 1
}

cgroup_parent() {
    # cgroup v1: the memory controller's path; v2: the unified "0::" path.
    if [ -n "${LOADOPS_CGROUP_PARENT+x}" ]; then echo "$LOADOPS_CGROUP_PARENT"; return; fi
    local p
    p=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
    [ -n "$p" ] || p=$(awk -F: '$1 == "0" && $2 == "" {print $3; exit}' /proc/self/cgroup)
    # At the hierarchy root (or unknown) keep docker's default (/docker) rather than
    # adding groups beside the existing top-level ones.
    if [ -z "$p" ] || [ "$p" = "/" ]; then echo ""; else echo "${p%/}/loadops-docker"; fi
}

if client=$(pick_client); then
    ver=$("$client" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
    step "docker: daemon already answering (server $ver, client $client): left as is"
else
    command -v dockerd >/dev/null || die "dockerd not found (docker.io not installed?)"
    if pgrep -x dockerd >/dev/null; then
        # Someone else's dockerd, maybe still starting: wait for it, never start a second one.
        step "docker: a dockerd process exists but does not answer yet: waiting up to ${DOCKER_WAIT}s"
        deadline=$(( $(date +%s) + DOCKER_WAIT ))
        while [ "$(date +%s)" -lt "$deadline" ]; do
            if client=$(pick_client); then step "docker: existing dockerd answers (client $client): left as is"; step "done"; exit 0; fi
            sleep 1
        done
        die "the running dockerd does not answer; not starting a second one"
    fi
    parent=$(cgroup_parent)
    args=(--bridge=none --iptables=false)
    [ -n "$parent" ] && args+=("--cgroup-parent=$parent")
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    step "docker: starting dockerd ${args[*]} (log $DOCKERD_LOG)"
    printf '\n=== %s host-prereqs.sh: dockerd %s\n' "$(date -Is)" "${args[*]}" >>"$DOCKERD_LOG"
    # setsid: own session, so it survives this shell; it keeps this process's cgroups.
    setsid nohup dockerd "${args[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    dpid=$!
    deadline=$(( $(date +%s) + DOCKER_WAIT ))
    client=""
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if ! kill -0 "$dpid" 2>/dev/null; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited during start-up; see $DOCKERD_LOG"
        fi
        if client=$(pick_client); then break; fi
        sleep 1
    done
    [ -n "$client" ] || die "dockerd (pid $dpid) did not answer within ${DOCKER_WAIT}s; see $DOCKERD_LOG"
    ver=$("$client" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
    step "docker: dockerd pid $dpid answering (server $ver, client $client, cgroup parent ${parent:-default})"
fi

step "done"
