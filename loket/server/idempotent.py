"""``Idempotency-Key`` on every POST: the first response (status and body) is stored in
``idempotency_keys`` and replayed for a repeat; the same key with another request is
refused (409); a repeat while the first is still running is refused (409). A claim holds
for ``AppConfig.idempotency_lease_seconds``: a repeat after that, with no stored response,
takes the claim over and runs (see :mod:`loket.core.idempotency`).

Responses of 500 and above are not stored (the key is released so the client can retry).
The key is also passed on (``req.context.idempotency_key``) to engine operations that take
one, so the operation itself is deduplicated in its own transaction too.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete

from loket.core import idempotency
from loket.core.models import IdempotencyKey


class IdempotencyMiddleware:
    """Claims, replays and stores idempotency keys for authenticated POSTs."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_resource(self, req, resp, resource, params):
        """Replay a stored response, or claim the key for this request."""
        req.context.idempotency_key = None
        req.context.idempotency_row = None
        key = req.get_header("Idempotency-Key")
        principal = getattr(req.context, "principal", None)
        if req.method != "POST" or key is None or principal is None:
            return
        idempotency.check_key(key)
        scope = f"http:{principal.key}:POST {req.uri_template}"[:100]
        payload = {"path": req.path, "query": req.context.query,
                   "body": req.context.body}
        now = self.ctx.now()
        lease = dt.timedelta(seconds=self.ctx.config.idempotency_lease_seconds)
        with self.ctx.statements() as session:
            row, prior = idempotency.claim(session, principal.tenant_id, scope, key, payload,
                                           lease_until=now + lease, now=now)
            row_id = row.id if row is not None else None
        if prior is not None:
            resp.status = prior["status"]
            resp.content_type = prior.get("content_type") or "application/json"
            resp.text = json.dumps(prior["body"])
            resp.set_header("Idempotent-Replayed", "true")
            resp.complete = True
            return
        req.context.idempotency_key = key
        req.context.idempotency_row = row_id

    def process_response(self, req, resp, resource, req_succeeded):
        """Store the response for the claimed key (or release the key on a 5xx)."""
        row_id = getattr(req.context, "idempotency_row", None)
        if row_id is None:
            return
        status = resp.status_code
        with self.ctx.statements() as session:
            if status >= 500:
                session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))
                return
            if resp.media is not None:
                body = resp.media
            else:
                body = json.loads(resp.text) if resp.text else None
            session.connection().execute(idempotency.STORE, {"row_id": row_id, "result": {
                "status": status, "content_type": resp.content_type,
                "body": json.loads(json.dumps(body, default=str))}})
