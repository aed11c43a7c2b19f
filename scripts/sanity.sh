#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked files laid out as ansible_collections/loadops/k6
# (ansible-test needs that path; the checkout itself can live anywhere).
# Offline-friendly: ansible-test's pip bootstrap is served from tests/sanity/get_pip_offline.py.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
work=$(mktemp -d /tmp/loadops-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/loadops/k6"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | tar --null -cT - | tar -C "$dest" -x
pip_version=$(.venv/bin/python - <<'PY'
import re, ansible_test, os
root = os.path.dirname(ansible_test.__file__)
text = open(os.path.join(root, "_internal", "python_requirements.py")).read()
m = re.search(r"pip='([0-9.]+)'", text)
print(m.group(1) if m else "24.2")
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
[ -f "$cache" ] || cp tests/sanity/get_pip_offline.py "$cache"
cd "$dest"
"$top/.venv/bin/ansible-test" sanity --requirements --python 3.11 --color no "$@"
