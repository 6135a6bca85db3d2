"""The Falcon application: ``create_app(ctx)`` wires resources, middleware and errors.

Only :func:`get_app` (the gunicorn entry point) reads the environment.
"""

from __future__ import annotations

import logging

import falcon

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.server.errors import register_error_handlers
from loket.server.middleware import ContextMiddleware
from loket.server import public

log = logging.getLogger(__name__)


def create_app(ctx: Loket) -> falcon.App:
    """Build the WSGI app for a wired :class:`~loket.core.context.Loket` container."""
    app = falcon.App(middleware=[ContextMiddleware(ctx)], cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    register_error_handlers(app)
    public.add_routes(app, ctx)
    for path, resource in ctx.plugins.routes():
        app.add_route(path, resource)
    return app


def get_app() -> falcon.App:
    """The production entry point: ``gunicorn 'loket.server.app:get_app()'``."""
    return create_app(Loket.create(AppConfig.from_env()))
