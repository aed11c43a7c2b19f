"""loadops.k6.controller_cwd: the controller process's working directory, not $PWD."""
import os

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.loadops.k6.plugins.lookup.controller_cwd import LookupModule


@pytest.fixture
def in_dir(tmp_path, monkeypatch):
    """chdir into a fresh directory while PWD still names another one (subprocess cwd= does that)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PWD", str(tmp_path / "elsewhere"))
    return work


def test_returns_the_process_working_directory_even_when_pwd_says_otherwise(in_dir):
    assert LookupModule().run([], variables={}) == [str(in_dir)]


def test_a_removed_working_directory_falls_back_to_the_home_directory(in_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    os.rmdir(in_dir)
    assert LookupModule().run([], variables={}) == [str(tmp_path)]


def test_terms_are_refused_naming_them(in_dir):
    with pytest.raises(AnsibleLookupError, match="takes no terms, got \\['results'\\]"):
        LookupModule().run(["results"], variables={})
