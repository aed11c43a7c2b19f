"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from a host our machines cannot reach; scripts/sanity.sh
copies this file into ansible-test's cache under the name it looks for. It installs the
interpreter's bundled pip with ensurepip, then runs `pip install` with the arguments ansible-test
passed (the pinned pip version and options), fetching from the package index as usual.
"""
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)
# ensurepip points PIP_CONFIG_FILE at /dev/null for itself; the real install must see the
# machine's pip configuration (index, CA bundle) again.
ensurepip.bootstrap()
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
