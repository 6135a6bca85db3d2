"""The Falcon application: ``create_app(ctx)`` wires resources, middleware and errors.

Middleware order (each a single place for its concern): request id and container ->
admission control -> public rate limits -> authentication and the role matrix -> OpenAPI
validation of query and body -> idempotency keys. Only :func:`get_app` (the gunicorn entry
point) reads the environment.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import falcon

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.server import (
    approvals_api,
    autopay_api,
    back_office,
    consumer_api,
    destinations_api,
    disputes_api,
    gateway_admin,
    guest_api,
    host_events_api,
    links_api,
    plans_api,
    public,
    reconciliation_api,
    reports_api,
    settings_api,
    staff_api,
)
from loket.server import operations as operator_endpoints
from loket.server.admission import AdmissionMiddleware
from loket.server.auth import AuthMiddleware
from loket.server.errors import register_error_handlers
from loket.server.idempotent import IdempotencyMiddleware
from loket.server.middleware import ContextMiddleware, LogContextMiddleware
from loket.server.openapi import OpenApiDocument, operations
from loket.server.rate_limit import PublicRateLimitMiddleware
from loket.server.validation import ValidationMiddleware
from loket.web import routes as web_routes

log = logging.getLogger(__name__)


def create_app(ctx: Loket, queue_name: str | None = None) -> falcon.App:
    """Build the WSGI app for a wired :class:`~loket.core.context.Loket` container.

    :param queue_name: the job queue's name, for readiness and metrics (default ``loket``).
    """
    operations()  # compile the document's validators now: a broken document fails start-up
    plugin_routes = ctx.plugins.routes()
    pages = web_routes.page_routes(ctx)
    middleware: list[Any] = [
        ContextMiddleware(ctx),
        AdmissionMiddleware(ctx.config.max_in_flight, ctx.config.admission_queue,
                            ctx.config.admission_wait_ms),
        PublicRateLimitMiddleware(ctx),
        AuthMiddleware(ctx, frozenset(path for path, _ in [*plugin_routes, *pages])),
        LogContextMiddleware(),
        ValidationMiddleware(ctx),
        IdempotencyMiddleware(ctx),
    ]
    app = falcon.App(middleware=middleware, cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    app.req_options.keep_blank_qs_values = True  # so that `status=` is refused, not ignored
    register_error_handlers(app)
    public.add_routes(app, ctx)
    app.add_route("/openapi.json", OpenApiDocument())
    for module in (gateway_admin, consumer_api, staff_api, back_office, destinations_api,
                   reconciliation_api, settings_api, autopay_api, reports_api, disputes_api,
                   approvals_api, links_api, host_events_api, plans_api,
                   guest_api):
        module.add_routes(app, ctx)
    for path, resource in plugin_routes:
        app.add_route(path, resource)
    web_routes.add_routes(app, ctx)
    operator_endpoints.add_routes(app, ctx, queue_name)
    return app


def get_app() -> falcon.App:
    """The production entry point: ``gunicorn -c python:loket.server.gunicorn_conf``
    (or ``gunicorn -w 4 'loket.server.app:get_app()'``)."""
    from loket import jobs  # noqa: PLC0415 - the queue is wired only in real processes

    ctx = Loket.create(AppConfig.from_env())
    ctx.check_stored_money()
    queue_name = os.environ.get("LOKET_QUEUE_NAME") or None
    jobs.setup(ctx, queue_name, batched_tracking=True)
    return create_app(ctx, queue_name)
