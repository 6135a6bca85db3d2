"""Files browsers fetch: loket's stylesheet (``/static/…``) and the API docs page
(``/docs``) with Swagger UI's assets served from the ``swagger-ui-bundle-v2`` package, never
from a CDN."""

from __future__ import annotations

import mimetypes
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Any

import falcon
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from loket.web import rendering

SWAGGER_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js",
                           "swagger-ui-standalone-preset.js", "favicon-32x32.png"})


def _send(resp: falcon.Response, data: bytes, name: str) -> None:
    resp.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    resp.set_header("Cache-Control", "public, max-age=3600")
    resp.data = data


class Static:
    """``GET /static/{name}``: a file of ``loket/web/static`` (no sub-paths, no dot files)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Serve the file, or 404."""
        if PurePosixPath(name).name != name or name.startswith("."):
            raise falcon.HTTPNotFound()
        path = files("loket.web") / "static" / name
        if not path.is_file():
            raise falcon.HTTPNotFound()
        _send(resp, path.read_bytes(), name)


class SwaggerAsset:
    """``GET /docs/assets/{name}``: Swagger UI's script and stylesheet."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Serve one of :data:`SWAGGER_FILES`, or 404."""
        if name not in SWAGGER_FILES:
            raise falcon.HTTPNotFound()
        _send(resp, (swagger_ui_path / name).read_bytes(), name)


class Docs:
    """``GET /docs``: the OpenAPI document (``/openapi.json``) in Swagger UI."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The docs page."""
        resp.content_type = falcon.MEDIA_HTML
        resp.text = rendering.render("docs.html", rendering.DEFAULT_LOCALE,
                                     tenant_name="loket")
