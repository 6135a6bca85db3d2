"""The documentation keeps up with the code: every hook is in the hooks reference (with
whether a gateway must implement it), every HTTP route the app serves is in the OpenAPI
document and in the role matrix, and the version story agrees with the package."""

from __future__ import annotations

import re

import falcon
import yaml
from support import REPO

import loket
from loket import hookspecs
from loket.server import openapi, roles
from loket.server.app import create_app
from loket.web import routes as web_routes

DOCS = REPO / "docs"
ROOT = DOCS.parent
SPECS = sorted(name for name in dir(hookspecs) if name.startswith("loket_"))


def test_every_hook_is_in_the_hooks_reference_with_its_requirement():
    text = (DOCS / "hooks.md").read_text()
    rows = dict(re.findall(r"^\| `(loket_\w+)` \| ([^|]+) \|", text, re.M))
    assert sorted(rows) == SPECS
    for name, need in hookspecs.GATEWAY_HOOKS.items():
        assert rows[name].strip() == need, name


def served_routes(app: falcon.App) -> set[tuple[str, str]]:
    """(METHOD, template) of every responder a resource defines, walking Falcon's router."""
    found = set()
    stack = list(app._router._roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.resource is None:
            continue
        for method, responder in (node.method_map or {}).items():
            if getattr(responder, "__self__", None) is node.resource:
                found.add((method, node.uri_template))
    return found


def test_every_route_is_documented_and_in_the_role_matrix(ctx):
    # plugin pages and loket's own pages (console, docs) are not API operations; each console
    # action is checked against the API operation it stands for (tests/web)
    not_api = {path for path, _ in [*ctx.plugins.routes(), *web_routes.page_routes(ctx)]}
    served = {(m, t) for m, t in served_routes(create_app(ctx)) if t not in not_api}
    assert ("POST", "/v1/reconciliation/fetch") in served  # the walk finds routes at all
    documented = set(openapi.operations())
    assert served - documented == set(), "routes missing from openapi.yaml"
    assert served - (set(roles.MATRIX) | roles.PUBLIC) == set(), "routes missing from roles"


def test_the_version_story_agrees():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    first = re.search(r"^## (\d+\.\d+\.\d+)", changelog, re.M)
    assert first and first.group(1) == loket.__version__
    api_version = yaml.safe_load((ROOT / "loket/server/openapi.yaml").read_text())["info"][
        "version"]
    story = (DOCS / "versioning.md").read_text()
    assert f"`{loket.__version__}`" in story
    assert f"`{api_version}`" in story
    assert f"`{hookspecs.CONTRACT_VERSION}`" in story
