"""Cross-cutting request concerns: the container and request id on every request, and one
log line per request carrying that id."""

from __future__ import annotations

import logging
import re
import time
import uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
log = logging.getLogger("loket.server.access")


class ContextMiddleware:
    """Puts the loket container on ``req.context.loket`` and gives every request an id
    (``X-Request-ID`` accepted when well-formed, otherwise generated), returned in the
    response, written to the log and (through the audit Actor) to audit rows."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_request(self, req, resp):
        """Attach the container and the request id."""
        req.context.loket = self.ctx
        req.context.started = time.monotonic()
        incoming = req.get_header("X-Request-ID") or ""
        req.context.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    def process_response(self, req, resp, resource, req_succeeded):
        """Echo the request id and log the request."""
        request_id = getattr(req.context, "request_id", "")
        resp.set_header("X-Request-ID", request_id)
        started = getattr(req.context, "started", None)
        elapsed = (time.monotonic() - started) * 1000 if started else 0
        principal = getattr(req.context, "principal", None)
        # The route template, not the path: webhook URLs carry their secret token.
        path = getattr(req, "uri_template", None) or req.path
        log.info("%s %s -> %s (%d ms) role=%s request_id=%s", req.method, path,
                 resp.status_code, elapsed, principal.role if principal else "-", request_id)
