# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/filter/signing_key_problem.py (the grafana role's apt key check).

Real key files: throwaway keys made with gpg in a private GNUPGHOME, read back with the command the
role runs (gpg --batch --with-colons --show-keys <file>).
"""

import os
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.loadops.k6.plugins.filter.signing_key_problem import signing_key_problem

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


def _gpg(home, *args):
    env = dict(os.environ, GNUPGHOME=str(home))
    return subprocess.run(["gpg", "--batch", *args], env=env, capture_output=True, text=True, check=True, timeout=120)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two throwaway keys (with a subkey each): their fingerprints and armored files."""
    root = tmp_path_factory.mktemp("gpg")
    home = root / "home"
    home.mkdir(mode=0o700)
    (root / "empty-home").mkdir(mode=0o700)  # where show() reads the files, as the role does: no keyring
    made = {}
    for name in ("expected", "other"):
        _gpg(home, "--passphrase", "", "--quick-gen-key", "loadops test %s <%s@example.invalid>" % (name, name),
             "ed25519", "sign", "never")
        listing = _gpg(home, "--with-colons", "--list-keys", "%s@example.invalid" % name).stdout.splitlines()
        fpr = [line.split(":")[9] for line in listing if line.startswith("fpr:")][0]
        _gpg(home, "--passphrase", "", "--quick-add-key", fpr, "cv25519", "encr", "never")
        path = root / ("%s.asc" % name)
        path.write_text(_gpg(home, "--armor", "--export", fpr).stdout)
        subfpr = [line.split(":")[9] for line in _gpg(home, "--with-colons", "--list-keys", fpr).stdout.splitlines()
                  if line.startswith("fpr:")][1]
        made[name] = {"fpr": fpr, "sub": subfpr, "file": path}
    both = root / "both.asc"
    both.write_text(made["expected"]["file"].read_text() + made["other"]["file"].read_text())
    made["both"] = {"file": both}
    junk = root / "junk.asc"
    junk.write_text("<html>not a key</html>\n")
    made["junk"] = {"file": junk}
    yield made
    # gpg started an agent for the key generation: stop it (and anything else gpg started there).
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(home)), check=False, timeout=60)


def show(path):
    """What the role runs, and how it registers it (failed_when: false)."""
    proc = subprocess.run(["gpg", "--batch", "--with-colons", "--show-keys", str(path)], capture_output=True, text=True,
                          check=False, timeout=60, env=dict(os.environ, GNUPGHOME=str(path.parent / "empty-home")))
    return proc.stdout


def test_the_one_expected_key_passes_whatever_the_spelling_of_its_fingerprint(keys):
    out = show(keys["expected"]["file"])
    fpr = keys["expected"]["fpr"]
    assert signing_key_problem(out, fingerprint=fpr) == ""
    spaced = " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()
    assert signing_key_problem(out.splitlines(), fingerprint=spaced) == ""


def test_another_key_is_refused_naming_both_fingerprints(keys):
    problem = signing_key_problem(show(keys["other"]["file"]), fingerprint=keys["expected"]["fpr"], source="https://x/gpg.key")
    assert problem.startswith("https://x/gpg.key holds the key %s, not the expected %s" % (keys["other"]["fpr"], keys["expected"]["fpr"]))


def test_a_file_with_the_expected_key_and_another_one_is_refused(keys):
    out = show(keys["both"]["file"])
    assert keys["expected"]["fpr"] in out  # the old check ("expected in the fingerprints") let this through
    problem = signing_key_problem(out, fingerprint=keys["expected"]["fpr"])
    assert "holds 2 keys" in problem and keys["other"]["fpr"] in problem


def test_a_subkey_fingerprint_is_not_the_key(keys):
    out = show(keys["expected"]["file"])
    assert keys["expected"]["sub"] in out
    assert "not the expected" in signing_key_problem(out, fingerprint=keys["expected"]["sub"])


def test_a_file_gpg_cannot_read_is_refused(keys):
    assert "holds no OpenPGP key" in signing_key_problem(show(keys["junk"]["file"]), fingerprint=keys["expected"]["fpr"])
    assert "holds no OpenPGP key" in signing_key_problem("", fingerprint=keys["expected"]["fpr"])


@pytest.mark.parametrize("fingerprint", ["", "1234", "Z" * 40, None])
def test_a_malformed_expected_fingerprint_is_an_error(fingerprint):
    with pytest.raises(AnsibleFilterError):
        signing_key_problem("", fingerprint=fingerprint)


def test_the_grafana_default_fingerprint_is_well_formed():
    import yaml
    from pathlib import Path
    defaults = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles" / "grafana" / "defaults" / "main.yml").read_text())
    assert signing_key_problem("", fingerprint=defaults["grafana_apt_key_fingerprint"]).startswith("the key file holds no")
