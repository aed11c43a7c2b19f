"""The shape the runtime core keeps (issue: engine as stages): short functions, no probing of our
own classes with hasattr/getattr, the module's main() a few lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
FILES = sorted(PLUGINS.rglob("*.py"))
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PLUGINS)) for p in FILES])
def test_no_function_is_longer_than_sixty_lines(path):
    tree = ast.parse(path.read_text())
    long = ["%s (%d lines)" % (node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PLUGINS)) for p in FILES])
def test_no_hasattr_probing(path):
    calls = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr"]
    assert not calls, "hasattr at lines %s: give the interface the attribute instead" % calls


def test_the_module_main_only_declares_and_hands_over():
    tree = ast.parse((PLUGINS / "modules" / "k6_run.py").read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert main.end_lineno - main.lineno + 1 <= 12
