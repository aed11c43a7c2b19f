"""loadops.k6.credential: one secret per host and name, generated once, private on disk."""
import os
import stat

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.loadops.k6.plugins.lookup.credential import read_or_create


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_secret_is_generated_once_and_then_read_back(tmp_path):
    first = read_or_create(str(tmp_path), "lg1", "influxdb_k6")
    assert len(first) == 32 and first.isalnum()
    assert read_or_create(str(tmp_path), "lg1", "influxdb_k6") == first
    assert read_or_create(str(tmp_path), "lg2", "influxdb_k6") != first


def test_secrets_are_private_on_the_controller(tmp_path):
    read_or_create(str(tmp_path), "lg1", "influxdb_admin")
    assert _mode(tmp_path / "lg1") == 0o700
    assert _mode(tmp_path / "lg1" / "influxdb_admin") == 0o600


@pytest.mark.parametrize("host,name", [("../etc", "x"), ("lg1", "a/b"), ("", "x"), ("lg1", ".."), ("lg 1", "x")])
def test_names_that_could_escape_the_directory_are_refused(tmp_path, host, name):
    with pytest.raises(AnsibleLookupError, match="may only hold"):
        read_or_create(str(tmp_path), host, name)
    assert list(tmp_path.iterdir()) == []


def test_an_emptied_file_is_reported_not_silently_replaced(tmp_path):
    read_or_create(str(tmp_path), "lg1", "s")
    (tmp_path / "lg1" / "s").write_text("\n")
    with pytest.raises(AnsibleLookupError, match="is empty"):
        read_or_create(str(tmp_path), "lg1", "s")
