"""Gateway configuration for the tenant admin: list, toggle, credentials, connect, test."""

from __future__ import annotations

from loket.core.gateway_configs import configs, connection_test
from loket.errors import NotFound
from loket.server.base import Resource, created
from loket.server.serialize import money, when

_TIMES = ("last_handshake_at", "connected_at")


def _entry(ctx, session, tenant_id: int, kind: str) -> dict:
    for entry in configs.list_gateways(ctx, session, tenant_id):
        if entry["name"] == kind:
            return _clean(entry)
    raise NotFound(f"no gateway {kind!r} is installed")


def _clean(entry: dict) -> dict:
    out = dict(entry)
    for name in _TIMES:
        out[name] = when(out.get(name))
    out.setdefault("credentials", {})
    out.setdefault("last_error", None)
    out.setdefault("webhook_url", None)
    return out


class GatewayList(Resource):
    """``GET /v1/gateways``: every installed gateway and this tenant's state of it."""

    def on_get(self, req, resp):
        """List with logo, name, credential schema, toggle, configured, connected, last
        handshake and error, and the webhook URL to paste in the gateway's dashboard."""
        with self.ctx.transaction() as session:
            items = [_clean(e) for e in configs.list_gateways(self.ctx, session,
                                                               self.tenant(req))]
        resp.media = {"items": items, "total": len(items)}


class GatewayItem(Resource):
    """``GET /v1/gateways/{kind}``."""

    def on_get(self, req, resp, kind):
        """One gateway's state."""
        with self.ctx.transaction() as session:
            resp.media = _entry(self.ctx, session, self.tenant(req), kind)


class GatewayActive(Resource):
    """``PUT /v1/gateways/{kind}/active``: the activate/deactivate toggle."""

    def on_put(self, req, resp, kind):
        """Switch the gateway on or off."""
        if configs.split_name(kind)[0] not in self.ctx.plugins.gateways:
            raise NotFound(f"no gateway {kind!r} is installed")
        with self.ctx.transaction() as session:
            configs.set_active(self.ctx, session, self.actor(req), self.tenant(req), kind,
                                self.body(req)["active"])
            resp.media = _entry(self.ctx, session, self.tenant(req), kind)


class GatewayCredentials(Resource):
    """``PUT /v1/gateways/{kind}/credentials``: validated (format and live), stored
    encrypted, answered masked. Changed credentials drop ``connected``."""

    def on_put(self, req, resp, kind):
        """Save the credentials."""
        if configs.split_name(kind)[0] not in self.ctx.plugins.gateways:
            raise NotFound(f"no gateway {kind!r} is installed")
        with self.ctx.transaction() as session:
            configs.save_credentials(self.ctx, session, self.actor(req), self.tenant(req), kind,
                                      self.body(req)["credentials"])
            resp.media = _entry(self.ctx, session, self.tenant(req), kind)


class GatewayConnect(Resource):
    """``POST /v1/gateways/{kind}/connect``: start the 1-unit test transaction."""

    def on_post(self, req, resp, kind):
        """Create the test payment; the admin opens ``redirect_url`` and pays it."""
        if configs.split_name(kind)[0] not in self.ctx.plugins.gateways:
            raise NotFound(f"no gateway {kind!r} is installed")
        with self.ctx.transaction() as session:
            payment = configs.connect(self.ctx, session, self.actor(req), self.tenant(req), kind)
            created(resp, {"payment_number": payment.number, "status": payment.status,
                           "redirect_url": payment.redirect_url,
                           "amount": money(payment.amount, payment.currency),
                           "note": (payment.gateway_details or {}).get("note") or None})


class GatewayTest(Resource):
    """``GET /v1/gateways/{kind}/test``: the connection test and the gateway's full response."""

    def on_get(self, req, resp, kind):
        """Show the test payment and the gateway's responses (charge, refund)."""
        with self.ctx.transaction() as session:
            if configs.split_name(kind)[0] not in self.ctx.plugins.gateways:
                raise NotFound(f"no gateway {kind!r} is installed")
            row = configs.get_row(session, self.tenant(req), kind)
            payment = connection_test.test_payment(session, row)
            resp.media = {
                "kind": kind, "connected": row.connected, "connected_at": when(row.connected_at),
                "test_payment": None if payment is None else {
                    "number": payment.number, "status": payment.status,
                    "amount": money(payment.amount, payment.currency),
                    "refunded": money(payment.refunded, payment.currency),
                    "failure_message": payment.failure_message},
                "response": row.test_response or {}}


def add_routes(app, ctx) -> None:
    """Mount the gateway admin endpoints."""
    app.add_route("/v1/gateways", GatewayList(ctx))
    app.add_route("/v1/gateways/{kind}", GatewayItem(ctx))
    app.add_route("/v1/gateways/{kind}/active", GatewayActive(ctx))
    app.add_route("/v1/gateways/{kind}/credentials", GatewayCredentials(ctx))
    app.add_route("/v1/gateways/{kind}/connect", GatewayConnect(ctx))
    app.add_route("/v1/gateways/{kind}/test", GatewayTest(ctx))
