"""The Falcon application: ``create_app(ctx)`` wires resources, middleware and errors.

Middleware order (each a single place for its concern): request id and container ->
authentication and the role matrix -> OpenAPI validation of query and body -> idempotency
keys. Only :func:`get_app` (the gunicorn entry point) reads the environment.
"""

from __future__ import annotations

import logging
import os

import falcon

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.server import back_office, consumer_api, destinations_api, gateway_admin, public
from loket.server import reconciliation_api, settings_api, staff_api
from loket.server import operations as operator_endpoints
from loket.server.auth import AuthMiddleware
from loket.server.errors import register_error_handlers
from loket.server.idempotent import IdempotencyMiddleware
from loket.server.middleware import ContextMiddleware, LogContextMiddleware
from loket.server.openapi import OpenApiDocument, operations
from loket.server.validation import ValidationMiddleware

log = logging.getLogger(__name__)


def create_app(ctx: Loket, queue_name: str | None = None) -> falcon.App:
    """Build the WSGI app for a wired :class:`~loket.core.context.Loket` container.

    :param queue_name: the job queue's name, for readiness and metrics (default ``loket``).
    """
    operations()  # compile the document's validators now: a broken document fails start-up
    plugin_routes = ctx.plugins.routes()
    app = falcon.App(middleware=[
        ContextMiddleware(ctx),
        AuthMiddleware(ctx, frozenset(path for path, _ in plugin_routes)),
        LogContextMiddleware(),
        ValidationMiddleware(ctx),
        IdempotencyMiddleware(ctx),
    ], cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    register_error_handlers(app)
    public.add_routes(app, ctx)
    app.add_route("/openapi.json", OpenApiDocument())
    for module in (gateway_admin, consumer_api, staff_api, back_office, destinations_api,
                   reconciliation_api, settings_api):
        module.add_routes(app, ctx)
    for path, resource in plugin_routes:
        app.add_route(path, resource)
    operator_endpoints.add_routes(app, ctx, queue_name)
    return app


def get_app() -> falcon.App:
    """The production entry point: ``gunicorn -c python:loket.server.gunicorn_conf``
    (or ``gunicorn -w 4 'loket.server.app:get_app()'``)."""
    from loket import jobs  # noqa: PLC0415 - the queue is wired only in real processes

    ctx = Loket.create(AppConfig.from_env())
    ctx.check_stored_money()
    queue_name = os.environ.get("LOKET_QUEUE_NAME") or None
    jobs.setup(ctx, queue_name)
    return create_app(ctx, queue_name)
