"""Cross-cutting request concerns: the container and request id on every request."""

from __future__ import annotations

import re
import uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class ContextMiddleware:
    """Puts the loket container on ``req.context.loket`` and gives every request an id
    (``X-Request-ID`` accepted when well-formed, otherwise generated), returned in the
    response."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_request(self, req, resp):
        """Attach the container and the request id."""
        req.context.loket = self.ctx
        incoming = req.get_header("X-Request-ID") or ""
        req.context.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    def process_response(self, req, resp, resource, req_succeeded):
        """Echo the request id."""
        resp.set_header("X-Request-ID", getattr(req.context, "request_id", ""))
