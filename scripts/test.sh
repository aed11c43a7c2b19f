#!/usr/bin/env bash
# The README's second command: the whole test suite on this machine, from nothing.
#   1. controller venv (scripts/setup.sh)
#   2. system packages and dockerd (scripts/host-prereqs.sh: docker.io, debootstrap, influxdb, shellcheck)
#   3. local images (scripts/build-images.sh: Debian 12 systemd image, k6 image, and the
#      InfluxDB 1.x and Grafana stand-ins for the docker install methods)
#   4. one pytest run: unit tests, integration tests (real k6, InfluxDB, cgroups, docker, systemd
#      in containers), ansible-lint, ansible-test sanity and Molecule, as tests. Sanity, lint and
#      the Molecule scenarios on containers of their own run in the background while the serial
#      integration tests run, then the integration tests that need only loopback and tmp in a second
#      pytest (tests/integration/gates.py); the slowest tests are listed at the end.
# Extra arguments go to pytest (e.g. -k molecule, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test: installs packages, starts dockerd and creates cgroups; run as root" >&2
  exit 2
fi
bash scripts/setup.sh
bash scripts/host-prereqs.sh
bash scripts/build-images.sh
export PATH="$PWD/.venv/bin:$PATH"
# Every ansible-playbook worker loads the collection's filter plugins from source: compile them once
# here (with PYTHONDONTWRITEBYTECODE set, Python never caches them itself). __pycache__ is git-ignored.
.venv/bin/python -m compileall -q plugins
# pytest exits 5 when it collects nothing: that is a failure here too.
exec .venv/bin/python -m pytest tests -p no:cacheprovider -ra --durations=25 "$@"
