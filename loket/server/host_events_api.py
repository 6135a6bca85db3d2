"""Events to the host: webhook endpoints (``/v1/host/webhook-endpoints``), their
deliveries and replays, and the same events as a feed (``GET /v1/host/events?after=``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from typing import Any

import falcon

from loket.core.models import OutboxDelivery, OutboxEvent
from loket.core.outbox import delivery as outbox_delivery
from loket.core.outbox import endpoints, posting
from loket.core.outbox import feed as outbox_feed
from loket.errors import Conflict, NotFound
from loket.server import idempotent
from loket.server import serialize as s
from loket.server.base import Resource, created


def endpoint_json(row: Any, now: dt.datetime) -> dict[str, Any]:
    """An endpoint as the API shows it at ``now`` (never its secrets): until when the
    secret its last rotation replaced still signs, if it does."""
    return {"id": row.id, "url": row.url, "event_types": list(row.event_types),
            "active": row.active, "created_at": s.when(row.created_at),
            "previous_secret_expires_at": s.when(
                endpoints.previous_secret_expires_at(row, now))}


def delivery_json(row: OutboxDelivery, event: OutboxEvent) -> dict[str, Any]:
    """One delivery of an event to an endpoint; its last error in coarse words (``timeout``,
    ``connection failed``, ``HTTP 503``…), never the network's own."""
    return {"id": row.id, "event_id": event.event_id, "type": event.type,
            "status": row.status, "attempts": row.attempts,
            "last_status_code": row.last_status_code,
            "last_error": posting.public_error(row.last_error),
            "next_attempt_at": s.when(row.next_attempt_at),
            "delivered_at": s.when(row.delivered_at), "created_at": s.when(row.created_at)}


def _keep_with_secret(ctx: Any, session: Any, req: falcon.Request, status: int, row: Any,
                      secret: str) -> dict[str, Any]:
    """An answer that shows an endpoint's new secret, kept for the request's
    Idempotency-Key (:func:`loket.server.idempotent.keep`) with the secret's digest in its
    place: the secret itself is stored only encrypted, on the endpoint.

    :returns: the answer to give, with the secret.
    """
    media = {**endpoint_json(row, ctx.now()), "secret": secret}
    idempotent.keep(session, req, status, {**media, "secret": None,
                                           "secret_sha256": _digest(secret)})
    return media


def _replayed_with_secret(ctx: Any, session: Any, req: falcon.Request,
                          resp: falcon.Response, tenant_id: int) -> bool:
    """:func:`loket.server.idempotent.replayed` for an answer kept by
    :func:`_keep_with_secret`: its secret is the endpoint's, as long as no later rotation
    replaced it.

    :raises Conflict: the secret was rotated since (naming ``Idempotency-Key``).
    :raises NotFound: the endpoint was deleted since.
    """
    if not idempotent.replayed(session, req, resp):
        return False
    media = json.loads(resp.text or "{}")
    digest = media.pop("secret_sha256", None)
    if digest is not None:
        row = endpoints.get_endpoint(session, tenant_id, int(media["id"]))
        secret = ctx.secrets.decrypt_credentials(row.secret_encrypted)["secret"]
        if not hmac.compare_digest(_digest(secret), str(digest)):
            raise Conflict("the endpoint's secret was rotated again after this request, so "
                           "its answer cannot be repeated; rotate the secret again",
                           field="Idempotency-Key")
        resp.text = json.dumps({**media, "secret": secret})
    return True


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WebhookEndpoints(Resource):
    """``GET /v1/host/webhook-endpoints`` and ``POST`` (the secret is shown once)."""

    claims_in_transaction = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List endpoints."""
        with self.ctx.transaction() as session:
            rows = endpoints.list_endpoints(session, self.tenant(req))
            now = self.ctx.now()
            resp.media = {"items": [endpoint_json(r, now) for r in rows], "total": len(rows)}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Register an endpoint."""
        b = self.body(req)
        endpoints.check_url(self.ctx.config, b["url"])  # looked up before any lock is held
        with self.ctx.transaction() as session:
            if _replayed_with_secret(self.ctx, session, req, resp, self.tenant(req)):
                return
            row, secret = endpoints.create_endpoint(self.ctx, session, self.actor(req),
                                                    self.tenant(req), b["url"],
                                                    list(b.get("event_types", ())),
                                                    url_checked=True)
            created(resp, _keep_with_secret(self.ctx, session, req, 201, row, secret))


class SecretRotation(Resource):
    """``POST /v1/host/webhook-endpoints/{endpoint_id}/rotate-secret``: a new secret, shown
    once; the one it replaces keeps signing for ``expires_in_hours`` (default 24)."""

    claims_in_transaction = True

    def on_post(self, req: falcon.Request, resp: falcon.Response, endpoint_id: str) -> None:
        """Rotate the endpoint's signing secret."""
        hours = self.body(req).get("expires_in_hours", endpoints.OVERLAP_HOURS_DEFAULT)
        with self.ctx.transaction() as session:
            if _replayed_with_secret(self.ctx, session, req, resp, self.tenant(req)):
                return
            row, secret = endpoints.rotate_secret(self.ctx, session, self.actor(req),
                                                  self.tenant(req), _int(endpoint_id), hours)
            resp.media = _keep_with_secret(self.ctx, session, req, 200, row, secret)


class WebhookEndpoint(Resource):
    """``DELETE /v1/host/webhook-endpoints/{endpoint_id}``."""

    def on_delete(self, req: falcon.Request, resp: falcon.Response, endpoint_id: str) -> None:
        """Stop delivering to the endpoint."""
        with self.ctx.transaction() as session:
            endpoints.delete_endpoint(self.ctx, session, self.actor(req), self.tenant(req),
                                      _int(endpoint_id))
        resp.status = falcon.HTTP_204


class Deliveries(Resource):
    """``GET /v1/host/webhook-endpoints/{endpoint_id}/deliveries``: newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, endpoint_id: str) -> None:
        """List deliveries."""
        limit = self.query(req).get("limit", 50)
        with self.ctx.transaction() as session:
            rows = endpoints.deliveries(session, self.tenant(req), _int(endpoint_id), limit)
            resp.media = {"items": [delivery_json(r, session.get(OutboxEvent, r.event_row_id))
                                    for r in rows], "total": len(rows)}


class DeliveryReplay(Resource):
    """``POST /v1/host/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, endpoint_id: str,
                delivery_id: str) -> None:
        """Send a delivered or dead delivery again (same event id)."""
        with self.ctx.transaction() as session:
            endpoints.get_endpoint(session, self.tenant(req), _int(endpoint_id))
            row = session.get(OutboxDelivery, _int(delivery_id))
            if row is None or row.endpoint_id != _int(endpoint_id):
                raise NotFound(f"no delivery {delivery_id}")
            outbox_delivery.replay(session, row, self.ctx.now())
            resp.media = delivery_json(row, session.get(OutboxEvent, row.event_row_id))


class HostEvents(Resource):
    """``GET /v1/host/events?after=<cursor>&limit=``: the host events as a feed."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Events after the cursor, oldest first, with the next cursor."""
        q = self.query(req)
        after = min(int(q.get("after") or 0), 2**31 - 1)  # cursors are 32-bit row ids
        with self.ctx.transaction() as session:
            rows = outbox_feed.feed(session, self.tenant(req), after, q.get("limit", 100))
            resp.media = {"items": [{"cursor": str(r.id), **r.payload} for r in rows],
                          "next_cursor": str(rows[-1].id) if rows else str(after)}


ID = re.compile(r"[0-9]{1,10}")
"""An endpoint's or a delivery's id in a path: ASCII digits, a row id (a signed 32-bit
integer)."""


def _int(value: str) -> int:
    if not ID.fullmatch(value) or int(value) > 2**31 - 1:
        raise NotFound(f"no such object {value!r}")
    return int(value)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the host event endpoints."""
    app.add_route("/v1/host/webhook-endpoints", WebhookEndpoints(ctx))
    app.add_route("/v1/host/webhook-endpoints/{endpoint_id}", WebhookEndpoint(ctx))
    app.add_route("/v1/host/webhook-endpoints/{endpoint_id}/rotate-secret",
                  SecretRotation(ctx))
    app.add_route("/v1/host/webhook-endpoints/{endpoint_id}/deliveries", Deliveries(ctx))
    app.add_route("/v1/host/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay",
                  DeliveryReplay(ctx))
    app.add_route("/v1/host/events", HostEvents(ctx))
