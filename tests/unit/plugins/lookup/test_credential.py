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


# --- the store's location (option dir, from the inventory's loadops_credentials_dir) -----------

import yaml  # noqa: E402
from ansible import constants as C  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: E402

from ansible_collections.loadops.k6.plugins.lookup import credential  # noqa: E402


@pytest.fixture
def lookup_factory():
    """The lookup as ansible-playbook sets it up: its options from its DOCUMENTATION, a DataLoader
    holding the vault passwords given (like --vault-password-file)."""
    name = "loadops.k6.credential"
    C.config.initialize_plugin_configuration_definitions(
        "lookup", name, yaml.safe_load(credential.DOCUMENTATION)["options"])

    def make(*vault_passwords):
        loader = DataLoader()
        loader.set_vault_secrets([("default", VaultSecret(pw.encode())) for pw in vault_passwords] or None)
        lookup = credential.LookupModule(loader=loader)
        lookup._load_name = name
        return lookup
    return make


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """HOME in tmp_path, no LOADOPS_CREDENTIALS_DIR: the default store is tmp_path/home/.loadops/credentials."""
    monkeypatch.delenv("LOADOPS_CREDENTIALS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_dir_option_puts_the_secret_in_that_store(lookup_factory, clean_env):
    store = clean_env / "team-store"
    [secret] = lookup_factory().run(["influxdb_k6"], variables={}, host="lg1", dir=str(store))
    assert (store / "lg1" / "influxdb_k6").read_text() == secret + "\n"
    assert not (clean_env / "home").exists()


def test_an_empty_dir_keeps_the_environment_variable_then_the_home_default(lookup_factory, clean_env, monkeypatch):
    [default] = lookup_factory().run(["s"], variables={}, host="lg1", dir="")
    assert (clean_env / "home" / ".loadops" / "credentials" / "lg1" / "s").read_text() == default + "\n"
    monkeypatch.setenv("LOADOPS_CREDENTIALS_DIR", str(clean_env / "from-env"))
    [from_env] = lookup_factory().run(["s"], variables={}, host="lg1", dir="")
    assert (clean_env / "from-env" / "lg1" / "s").read_text() == from_env + "\n"
    assert from_env != default


def test_a_relative_dir_is_taken_from_the_working_directory(lookup_factory, clean_env, monkeypatch):
    monkeypatch.chdir(clean_env)
    [secret] = lookup_factory().run(["s"], variables={}, host="lg1", dir="~/../rel-store")
    assert (clean_env / "rel-store" / "lg1" / "s").read_text() == secret + "\n"
    [again] = lookup_factory().run(["s"], variables={}, host="lg1", dir="rel-store")
    assert again == secret


# --- vault-encrypted secret files ------------------------------------------------------------------

VAULT_PASSWORD = "team-vault-pw"
STORED = "kept-by-the-team-0123456789abcdef"


def _vaulted_store(tmp_path):
    store = tmp_path / "store"
    (store / "lg1").mkdir(parents=True)
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    (store / "lg1" / "influxdb_k6").write_bytes(vault.encrypt(STORED + "\n"))
    return store


def test_a_vault_encrypted_secret_is_read_with_the_runs_vault_password(lookup_factory, tmp_path):
    store = _vaulted_store(tmp_path)
    before = (store / "lg1" / "influxdb_k6").read_bytes()
    assert lookup_factory(VAULT_PASSWORD).run(["influxdb_k6"], variables={}, host="lg1", dir=str(store)) == [STORED]
    # Read, not replaced: the file stays encrypted.
    assert (store / "lg1" / "influxdb_k6").read_bytes() == before


def test_a_vault_encrypted_secret_opens_with_any_of_several_vault_passwords(lookup_factory, tmp_path):
    store = _vaulted_store(tmp_path)
    assert lookup_factory("other", VAULT_PASSWORD).run(["influxdb_k6"], variables={}, host="lg1",
                                                       dir=str(store)) == [STORED]


def test_a_vault_file_without_a_vault_password_says_to_pass_one_naming_the_file(lookup_factory, tmp_path):
    store = _vaulted_store(tmp_path)
    with pytest.raises(AnsibleLookupError) as caught:
        lookup_factory().run(["influxdb_k6"], variables={}, host="lg1", dir=str(store))
    message = str(caught.value)
    assert str(store / "lg1" / "influxdb_k6") in message
    assert "no vault password was given" in message and "--vault-password-file" in message
    assert "$ANSIBLE_VAULT" not in message and STORED not in message


def test_a_wrong_vault_password_is_reported_without_the_files_content(lookup_factory, tmp_path):
    store = _vaulted_store(tmp_path)
    with pytest.raises(AnsibleLookupError) as caught:
        lookup_factory("not-the-password").run(["influxdb_k6"], variables={}, host="lg1", dir=str(store))
    message = str(caught.value)
    assert str(store / "lg1" / "influxdb_k6") in message
    assert "does not decrypt it" in message and "--vault-password-file" in message
    assert "$ANSIBLE_VAULT" not in message and STORED not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_read_or_create_without_a_loader_refuses_a_vault_file(tmp_path):
    store = _vaulted_store(tmp_path)
    with pytest.raises(AnsibleLookupError, match="no vault password was given"):
        read_or_create(str(store), "lg1", "influxdb_k6")
