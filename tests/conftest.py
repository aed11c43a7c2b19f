"""Make this checkout importable as ansible_collections.loadops.k6 (as scripts/setup.sh does)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
_link = os.path.join(COLLECTIONS, "ansible_collections", "loadops", "k6")
if not os.path.exists(os.path.join(_link, "galaxy.yml")):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    if os.path.islink(_link):
        os.unlink(_link)
    os.symlink(os.path.join("..", "..", ".."), _link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
