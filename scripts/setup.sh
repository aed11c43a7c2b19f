#!/usr/bin/env bash
# Controller setup: a pinned Python virtual environment in .venv and a link that lets this
# checkout answer to `loadops.k6.*` without `ansible-galaxy collection install`.
# Safe to re-run: when the requirements files and the interpreter are unchanged it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

py=${PYTHON:-python3}
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: $py is missing or older than 3.11 (ansible-core 2.19 needs 3.11+); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "setup: installing python3-venv"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
fi

stamp=.venv/.loadops-requirements
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1) $("$py" -c 'import sys; print(sys.version.split()[0])')"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
else
  echo "setup: building .venv from requirements-dev.txt (about a minute)"
  rm -rf .venv
  "$py" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt 2> >(grep -v "^WARNING: Location" >&2)
  echo "$want" > "$stamp"
fi

# Let ansible.cfg's collections_path find this checkout as loadops.k6.
mkdir -p .collections/ansible_collections/loadops
ln -sfn ../../.. .collections/ansible_collections/loadops/k6.tmp
mv -Tf .collections/ansible_collections/loadops/k6.tmp .collections/ansible_collections/loadops/k6
[ -f .collections/ansible_collections/loadops/k6/galaxy.yml ] || { echo "setup: collection link is broken" >&2; exit 1; }
echo "setup: ready (ansible-core $(.venv/bin/python -c "import ansible.release as r; print(r.__version__)"), $top)"
