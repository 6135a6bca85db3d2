"""A newcomer can read any module of loket in one sitting: none is over 400 lines, and no
function is over 60 lines unless its first comment says why it is long by design.

Migration scripts are left out: each is a record of a schema change already applied
somewhere, never edited or split after it shipped."""

from __future__ import annotations

import ast

from support import REPO

ROOT = REPO / "loket"
MODULE_LINES = 400
FUNCTION_LINES = 60


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations/versions" not in path.as_posix():
            yield path


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES}
    assert not long, long


def _says_why(source: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = source[node.lineno - 1:node.end_lineno]
    return any(line.strip().startswith("# Long by design") for line in body)


def test_no_function_is_over_60_lines_without_saying_why():
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        source = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > FUNCTION_LINES and not _says_why(source, node):
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({size})")
    assert not long, long

