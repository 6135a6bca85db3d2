"""Endpoints without an API key: health, gateway webhooks and the payer's return."""

from __future__ import annotations

import falcon

from loket.core.gateway_configs import configs
from loket.core.payments import checkout, returns
from loket.core.payments.lifecycle import DISPLAY
from loket.core.webhooks import inbox
from loket.errors import NotFound
from loket.ops import health
from loket.types import PaymentStatus
from loket.web import payer


class Health:
    """``GET /health``: database reachable, plugins loaded (broken ones named)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_get(self, req, resp):
        """Report health; 503 when the database cannot be reached."""
        check = health.database(self.ctx.engine)
        database = "ok" if check.status == health.Status.OK else "unreachable"
        resp.media = {"status": "ok" if database == "ok" else "degraded", "database": database,
                      "gateways": sorted(self.ctx.plugins.gateways),
                      "destinations": sorted(self.ctx.plugins.destinations),
                      "broken_plugins": self.ctx.plugins.broken}
        resp.status = falcon.HTTP_200 if database == "ok" else falcon.HTTP_503


class Webhook:
    """``POST /v1/webhooks/{gateway}/{token}``: the raw body is stored before we answer."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_post(self, req, resp, gateway, token):
        """Store, verify, deduplicate, apply; 2xx only once the events are stored. With
        ``LOKET_WEBHOOK_APPLY=deferred`` (and a job queue) the events are applied by the
        worker in batches after the acknowledgement."""
        limit = self.ctx.config.max_body_bytes
        body = req.bounded_stream.read(limit + 1)
        deferred = self.ctx.config.webhook_apply == "deferred" and \
            self.ctx.event_kick is not None
        receipt = inbox.receive(self.ctx, gateway, token, body, dict(req.headers), req.path,
                                process=not deferred, source=req.remote_addr)
        if deferred and receipt.body.get("new"):
            self.ctx.event_kick()
        resp.status = falcon.code_to_http_status(receipt.status)
        resp.media = receipt.body


RESULT_TEXT = {
    "succeeded": "Payment successful. Thank you — your bills are updated.",
    "completed": "Payment completed. Your receipt is ready.",
    "initiated": "We are waiting for the gateway to confirm your payment. This page will "
                 "show the result shortly.",
    "failed": "Payment failed.",
}


class PaymentReturn:
    """``GET /v1/return/{number}?result=success|cancel&sig=…``: where the gateway sends the
    payer back. The URL is signed by loket (a forged or altered one is 404) and the answer
    is JSON with a clear result text for API clients; a browser (``Accept: text/html``) gets
    the payer's result page (also after paying through a payment link), or is sent to the
    tenant's own ``return_url`` setting with the result signed, and a page saying the link is
    not valid for a forged or expired one. It never redirects anywhere else (no open
    redirect)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_get(self, req, resp, number):
        """Settle what the return tells us, then show the payment's state."""
        result = req.get_param("result") or "success"
        if result not in ("success", "cancel"):
            raise falcon.HTTPBadRequest(title="Invalid result", description="result must be "
                                                                           "success or cancel")
        try:
            tenant_id = configs.verify_return(self.ctx, number, result, req.get_param("sig"))
        except NotFound:
            if not payer.wants_html(req):
                raise
            payer.invalid_return(self.ctx, req, resp)
            return
        with self.ctx.transaction() as session:
            payment = checkout.payment_for_return(session, tenant_id, number)
            payment = returns.handle_return(self.ctx, session, payment, result)
            declined = (payment.gateway_details or {}).get("last_declined_attempt")
            if payer.wants_html(req):  # a consumer's, a guest's or a payment link's payer
                payer.answer_return(self.ctx, req, resp, session, tenant_id, payment, result,
                                    declined=declined["message"] if declined else None)
                return
            message = RESULT_TEXT.get(payment.status, DISPLAY.get(payment.status, ""))
            if payment.status == PaymentStatus.FAILED:
                reason = (payment.failure_message or payment.failure_category
                          or "the gateway did not take it").rstrip(".")
                message = f"Payment failed: {reason}."
            elif payment.status == PaymentStatus.INITIATED and declined:
                message = (f"Your last attempt was declined: {declined['message']} You can "
                           f"try again on the payment page.")
            resp.media = {"payment_id": payment.number, "status": payment.status,
                          "display_status": DISPLAY.get(payment.status), "message": message,
                          "can_retry": payment.status == PaymentStatus.FAILED}


def add_routes(app, ctx) -> None:
    """Mount the public endpoints."""
    app.add_route("/health", Health(ctx))
    app.add_route("/v1/webhooks/{gateway}/{token}", Webhook(ctx))
    app.add_route("/v1/return/{number}", PaymentReturn(ctx))
