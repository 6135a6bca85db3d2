"""The layers hold: the core imports no server, web, jobs, CLI, built-in plugin or gateway SDK;
built-in plugins import only ``loket.plugin_api``; and no import cycle exists in ``loket/``.

The graph is read from the source (every ``import`` statement, also those inside functions),
so a forbidden import is caught even on a path the tests do not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import loket

ROOT = Path(loket.__file__).parent
CORE_MAY_NOT_IMPORT = (
    "loket.server", "loket.web", "loket.jobs", "loket.cli", "loket.demo", "loket.scaffold",
    "loket.gateways", "loket.destinations", "loket.notifiers", "loket.tracking",
    "loket.channels", "loket.testing", "falcon", "huey", "jinja2", "stripe",
    "loket_stripe", "loket_doku", "loket_twilio", "loket_revenue",
)  # openpyxl and fpdf2 are file formats the core writes (exports, PDFs), and requests
# posts the outbox's signed host webhooks: none is a gateway SDK
BUILT_IN_PLUGINS = ("loket.gateways", "loket.destinations", "loket.notifiers", "loket.tracking",
                    "loket.channels")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")
           if "migrations" not in p.parts and "templates" not in p.parts}


def resolve(name: str) -> str:
    """The loket module an imported name lives in (a package's ``__init__`` otherwise)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str, top_level_only: bool = False) -> set[str]:
    """Every module ``module`` imports (absolute names; loket modules resolved)."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {resolve(n) if n.startswith("loket") and not n.startswith("loket_") else n
            for n in found}


def test_the_core_imports_no_outer_layer_and_no_gateway_sdk():
    wrong = {}
    for module in MODULES:
        if module == "loket.core" or module.startswith("loket.core."):
            bad = sorted(n for n in imports_of(module)
                         if any(n == f or n.startswith(f + ".") for f in CORE_MAY_NOT_IMPORT))
            if bad:
                wrong[module] = bad
    assert wrong == {}


def test_built_in_plugins_import_only_the_plugin_api():
    wrong = {}
    for module in MODULES:
        if module.startswith(BUILT_IN_PLUGINS):
            bad = sorted(n for n in imports_of(module) if n.startswith("loket")
                         and n != "loket.plugin_api" and not n.startswith(BUILT_IN_PLUGINS))
            if bad:
                wrong[module] = bad
    assert wrong == {}


def test_there_is_no_import_cycle():
    graph = {m: {n for n in imports_of(m) if n in MODULES and n != m} for m in MODULES}
    # A module imports its package's __init__ first; that edge is not a cycle of our making.
    for module, targets in graph.items():
        targets -= {p for p in targets if module.startswith(p + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_the_graph_is_read_for_real():
    # Guard against a parser that finds nothing (the tests above would pass vacuously).
    assert "loket.core.payments.posting" in imports_of("loket.core.webhooks.outcomes")
    assert "loket.plugin_api" in imports_of("loket.gateways.sandbox")
    assert "sqlalchemy" in imports_of("loket.core.db")
