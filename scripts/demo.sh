#!/usr/bin/env bash
# The README's first command: set up the controller, provision THIS machine as a load machine
# (k6, InfluxDB on 127.0.0.1, the demo target) and run the smoke scenario against the demo
# target. Prints the verdict table; exits non-zero when a threshold fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: provisioning installs packages; run as root (sudo bash scripts/demo.sh)" >&2
  exit 2
fi
bash scripts/setup.sh
exec .venv/bin/ansible-playbook playbooks/demo.yml "$@"
