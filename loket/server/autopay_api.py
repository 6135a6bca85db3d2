"""Mandates and auto-pay over HTTP: the consumer's own (``/v1/me/mandates``,
``/v1/me/autopay``), staff on a consumer's behalf (``/v1/consumers/{account}/…``, audited
under the staff member), and the signed page the payer returns to after a mandate set-up."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.autopay import elections, mandates
from loket.core.models import AutopayElection, GatewayConfiguration
from loket.server.base import Resource, created


def _mandate(session: Any, mandate: Any) -> dict[str, Any]:
    row = session.get_one(GatewayConfiguration, mandate.gateway_configuration_id)
    return mandates.public(mandate, row)


def _when(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _shape(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _when(v) if k.endswith("_at") else v for k, v in item.items()}


class MyMandates(Resource):
    """``GET|POST /v1/me/mandates``: my mandates; start setting one up."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List my mandates, payment methods masked."""
        with self.ctx.transaction() as session:
            rows = mandates.list_for(session, self.tenant(req),
                                     self.principal(req).account_number)
            resp.media = {"items": [_shape(mandates.public(m, r)) for m, r in rows]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start a mandate set-up at the chosen gateway; answers where to send the payer."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            mandate = mandates.start_setup(self.ctx, session, self.actor(req), self.tenant(req),
                                           self.principal(req).account_number, body["gateway"])
            created(resp, _shape(_mandate(session, mandate)))


class MyMandate(Resource):
    """``DELETE /v1/me/mandates/{mandate_id}``: revoke one of my mandates (at the gateway
    too)."""

    def on_delete(self, req: falcon.Request, resp: falcon.Response, mandate_id: str) -> None:
        """Revoke the mandate; auto-pay using it stops."""
        with self.ctx.transaction() as session:
            mandate = mandates.revoke(self.ctx, session, self.actor(req), self.tenant(req),
                                      mandate_id, self.principal(req).account_number)
            resp.media = _shape(_mandate(session, mandate))


class ConsumerMandates(Resource):
    """``GET /v1/consumers/{account}/mandates``: a consumer's mandates, for staff."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, account: str) -> None:
        """List the account's mandates."""
        with self.ctx.transaction() as session:
            rows = mandates.list_for(session, self.tenant(req), account)
            resp.media = {"items": [_shape(mandates.public(m, r)) for m, r in rows]}


def _put_election(resource: Resource, req: falcon.Request, account: str) -> dict[str, Any]:
    body = resource.body(req)
    with resource.ctx.transaction() as session:
        election: AutopayElection = elections.elect(
            resource.ctx, session, resource.actor(req), resource.tenant(req), account,
            body["mandate"], body["item_kinds"], body.get("max_amount"),
            body.get("active", True))
        return elections.view(session, election)


def _get_election(resource: Resource, req: falcon.Request, account: str) -> dict[str, Any]:
    with resource.ctx.transaction() as session:
        return elections.view(session, elections.current(session, resource.tenant(req),
                                                         account))


class MyAutopay(Resource):
    """``GET|PUT /v1/me/autopay``: my auto-pay election."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Show my election (404 when none)."""
        resp.media = _get_election(self, req, self.principal(req).account_number)

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Elect auto-pay (or change it, or switch it off with ``active: false``)."""
        resp.media = _put_election(self, req, self.principal(req).account_number)


class ConsumerAutopay(Resource):
    """``GET|PUT /v1/consumers/{account}/autopay``: staff on the consumer's behalf."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, account: str) -> None:
        """Show the account's election."""
        resp.media = _get_election(self, req, account)

    def on_put(self, req: falcon.Request, resp: falcon.Response, account: str) -> None:
        """Elect auto-pay for the account (audited under the staff member)."""
        resp.media = _put_election(self, req, account)


class MandateReturn(Resource):
    """``GET /v1/mandate-return/{reference}``: where the gateway sends the payer back after
    a mandate set-up (signed URL); answers the mandate's state."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Verify the signature and show the mandate."""
        result = req.get_param("result") or "success"
        tenant_id = mandates.verify_return(self.ctx, reference, result, req.get_param("sig"))
        with self.ctx.transaction() as session:
            mandate = mandates.get(session, tenant_id, reference)
            resp.media = {"mandate": reference, "result": result, "status": mandate.status,
                          "message": "Your payment method is saved for auto-pay."
                          if mandate.status == "active" else
                          "We are waiting for the gateway to confirm your payment method."
                          if result == "success" else "The set-up was cancelled."}


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the mandate and auto-pay endpoints."""
    app.add_route("/v1/me/mandates", MyMandates(ctx))
    app.add_route("/v1/me/mandates/{mandate_id}", MyMandate(ctx))
    app.add_route("/v1/consumers/{account}/mandates", ConsumerMandates(ctx))
    app.add_route("/v1/me/autopay", MyAutopay(ctx))
    app.add_route("/v1/consumers/{account}/autopay", ConsumerAutopay(ctx))
    app.add_route("/v1/mandate-return/{reference}", MandateReturn(ctx))
