"""Each role's meta/argument_specs.yml and defaults/main.yml describe the same knobs."""
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").exists())


def _load(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


def test_every_role_has_defaults_and_a_spec():
    assert ROLE_NAMES, "no roles found"
    for role in ROLE_NAMES:
        assert (ROLES / role / "meta" / "argument_specs.yml").exists(), role


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_spec_and_defaults_name_the_same_options(role):
    defaults, options = _load(role)
    assert sorted(defaults) == sorted(options), (
        "only in defaults: %s; only in spec: %s" % (sorted(set(defaults) - set(options)), sorted(set(options) - set(defaults))))


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_spec_defaults_match_literal_defaults(role):
    defaults, options = _load(role)
    for name, value in defaults.items():
        if isinstance(value, str) and "{{" in value:
            continue  # templated: the spec documents its usual value
        assert options[name].get("default") == value, "%s: defaults/main.yml says %r, spec says %r" % (
            name, value, options[name].get("default"))


# Variables several roles read as one setting (each of those roles declares it with the same default).
SHARED = {"loadops_credentials_dir"}


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_public_variables_carry_the_role_prefix(role):
    defaults = _load(role)[0]
    for name in set(defaults) - SHARED:
        assert name.startswith(role + "_"), "%s does not start with %s_" % (name, role)


def test_a_shared_variable_has_one_default_and_one_description_in_every_role():
    declared = {}
    for role in ROLE_NAMES:
        defaults, options = _load(role)
        for name in SHARED & set(defaults):
            declared.setdefault(name, []).append((role, defaults[name], options[name]))
    assert set(declared) == SHARED, declared
    for name, found in declared.items():
        assert len({repr(default) for _role, default, _spec in found}) == 1, (name, found)
        assert len({repr(spec) for _role, _default, spec in found}) == 1, (name, found)
