"""Cross-cutting request concerns: the container and request id on every request, the
log context of the request (request id, route template, tenant, payment number), and one
access line and metrics sample per request."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from loket.ops import logs, metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
log = logs.get_logger("loket.server.access")


class ContextMiddleware:
    """Puts the loket container on ``req.context.loket`` and gives every request an id
    (``X-Request-ID`` accepted when well-formed, otherwise generated), returned in the
    response, written to the log and (through the audit Actor) to audit rows."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_request(self, req, resp):
        """Attach the container and the request id."""
        req.context.loket = self.ctx
        req.context.started = time.monotonic_ns()
        incoming = req.get_header("X-Request-ID") or ""
        req.context.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        logs.clear()
        logs.bind(request_id=req.context.request_id)

    def process_response(self, req, resp, resource, req_succeeded):
        """Echo the request id, log the request (its context bound) and count it."""
        request_id = getattr(req.context, "request_id", "")
        resp.set_header("X-Request-ID", request_id)
        started = getattr(req.context, "started", None)
        elapsed_ns = time.monotonic_ns() - started if started else 0
        principal = getattr(req.context, "principal", None)
        # The route template, never the path: webhook URLs carry their secret token.
        route = getattr(req, "uri_template", None) or "unrouted"
        metrics.observe_request(req.method, route, resp.status_code, elapsed_ns)
        log.info("request", method=req.method, route=route, status=resp.status_code,
                 duration_ms=round(elapsed_ns / 1_000_000, 1),
                 **({"role": principal.role} if principal else {}))
        logs.clear()


class LogContextMiddleware:
    """Binds what is known about a request once it is routed and authenticated — its route
    template, the caller's tenant and role, the payment it names — to every log line the
    request writes. Placed after authentication."""

    def process_resource(self, req: Any, resp: Any, resource: Any,
                         params: dict[str, Any] | None) -> None:
        """Bind route, tenant, role and payment number (``{number}`` in the route)."""
        principal = getattr(req.context, "principal", None)
        logs.bind(route=req.uri_template,
                  tenant=principal.tenant_id if principal else None,
                  role=principal.role if principal else None,
                  payment=(params or {}).get("number"))
