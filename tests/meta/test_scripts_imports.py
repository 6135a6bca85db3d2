"""The benchmarks and tools outside the test suite still import what they name.

They import loket inside functions (so ``--help`` stays fast), which neither the linter nor
a plain import of the module checks: a module moved in loket would break ``make bench`` or
``make chaos`` only when someone runs them. Each ``from loket… import name`` of theirs must
name a module or an attribute that exists."""

from __future__ import annotations

import ast
import importlib

import pytest
from support import REPO

SCRIPT_DIRS = ("benchmarks", "tools")
CHECKED_PACKAGES = ("loket", "loket_stripe", "loket_doku", "support")


def _imports():
    for folder in SCRIPT_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                        and node.module.split(".")[0] in CHECKED_PACKAGES):
                    for alias in node.names:
                        where = f"{path.relative_to(REPO)}:{node.lineno}"
                        yield pytest.param(node.module, alias.name, id=f"{where}:{alias.name}")


@pytest.mark.parametrize(("module", "name"), list(_imports()))
def test_import_resolves(module, name):
    imported = importlib.import_module(module)
    if not hasattr(imported, name):
        importlib.import_module(f"{module}.{name}")  # a submodule not yet imported
