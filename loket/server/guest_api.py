"""Guest payments over HTTP (no API key, no login): identify, then pay with the payer token.

The payer token sees the identified account's open items and the name on the bill, pays
them (or a destination target of that account), and reads the result and receipt of the
payments it made — nothing else: no history, no other account, no personal data.
These routes are public in the role matrix; each checks the payer token itself.
"""

from __future__ import annotations

from loket.core.backoffice import queries
from loket.core.guests import identification
from loket.core.guests.rate_limit import TooManyAttempts
from loket.core.models import Payment
from loket.core.payments.payers import Payer
from loket.core.payments.posting import resolve_targets
from loket.core.settings import load_settings
from loket.core.tenants import tenant_by_slug
from loket.errors import Conflict, NotFound
from loket.money import Money
from loket.server import idempotent
from loket.server import serialize as s
from loket.server.auth import Principal
from loket.server.base import Resource, created
from loket.server.consumer_api import keep_answer, start, start_destination
from loket.server.destinations_api import obligation


class Identify(Resource):
    """``POST /v1/public/{tenant}/identify``: account number + verifying facts -> payer token."""

    def on_post(self, req, resp, tenant):
        """Identify; 401 with the same words whatever was wrong; 429 past the limit."""
        body = self.body(req)
        try:
            found = identification.identify(self.ctx, tenant, body["account_number"],
                                            body.get("facts") or {}, req.remote_addr or "-")
        except TooManyAttempts as exc:
            resp.set_header("Retry-After", str(exc.retry_after))
            raise
        created(resp, {"token": found.token, "expires_at": s.when(found.expires_at),
                       "account": {"account_number": found.account_number,
                                   "name": found.name}})


class GuestResource(Resource):
    """Base: the payer token of this tenant, turned into the request's principal."""

    def session_of(self, req, tenant: str) -> identification.GuestSession:
        """Check the payer token (and that the tenant still takes guest payments: 404 once
        it stopped); set ``req.context.principal`` for the engine's audit."""
        with self.ctx.transaction() as session:
            tenant_id = tenant_by_slug(session, tenant).id
            enabled = load_settings(session, tenant_id)["guest"].get("enabled")
        guest = identification.verify_token(self.ctx, req.get_header("Authorization"),
                                            tenant_id)
        if not enabled:
            raise NotFound(f"tenant {tenant!r} does not take guest payments")
        req.context.principal = Principal(
            tenant_id=tenant_id, role="guest", name=f"guest:{guest.account_number}"[:100],
            key=f"g{guest.session_id}", account_number=guest.account_number,
            request_id=req.context.request_id)
        return guest

    def mine(self, session, guest, number: str) -> Payment:
        """A payment this payer token made (404 for any other, whoever's it is)."""
        payment = queries.payment(session, guest.tenant_id, number)
        if payment.guest_session != guest.session_id:
            raise NotFound(f"no payment {number!r}")
        return payment


class GuestItems(GuestResource):
    """``GET /v1/public/{tenant}/guest/items``: the account's open items and the name on
    the bill."""

    def on_get(self, req, resp, tenant):
        """List open items."""
        guest = self.session_of(req, tenant)
        with self.ctx.transaction() as session:
            me = queries.consumer(session, guest.tenant_id, guest.account_number)
            rows = queries.items(session, me)
            currency = load_settings(session, guest.tenant_id).currency
            resp.media = {"account": {"account_number": me.account_number, "name": me.name},
                          "items": [s.item(r) for r in rows],
                          "total_outstanding": Money(sum(r.amount - r.paid for r in rows),
                                                     currency).to_json()}


class GuestCheckout(GuestResource):
    """``POST /v1/public/{tenant}/guest/checkout``: pay chosen open items of the account."""

    claims_in_transaction = True

    def on_post(self, req, resp, tenant):
        """Start the checkout, the guest recorded as the payer."""
        guest = self.session_of(req, tenant)
        body = self.body(req)
        with self.ctx.transaction() as session:
            if idempotent.replayed(session, req, resp):
                return
            media, failure = start(self.ctx, req, session, guest.account_number,
                                   body["gateway"], body["items"], body.get("method", "card"),
                                   Payer.from_json(body["payer"]), guest.session_id)
            keep_answer(session, req, media, failure)
        if failure is not None:
            raise failure
        created(resp, media)


class GuestDestinationPayment(GuestResource):
    """``POST /v1/public/{tenant}/guest/destinations/{name}/payments``: pay a destination
    target of the identified account (a filing period, a tax form…)."""

    claims_in_transaction = True

    def on_post(self, req, resp, tenant, name):
        """Validate the target for the account, then start the checkout."""
        guest = self.session_of(req, tenant)
        body = self.body(req)
        with self.ctx.transaction() as session:
            if idempotent.replayed(session, req, resp):
                return
            settings = load_settings(session, guest.tenant_id)
            if name not in settings["destinations"]:
                raise NotFound(f"no destination {name!r}")
            resolved = resolve_targets(self.ctx, session, settings, guest.tenant_id,
                                       guest.account_number, name, body.get("fields", {}))
            media, failure = start_destination(self.ctx, req, session, resolved,
                                               body["gateway"], body.get("method", "card"),
                                               Payer.from_json(body["payer"]), guest.session_id)
            if failure is None:
                media["items"] = [obligation(o) for o in resolved.obligations]
            keep_answer(session, req, media, failure)
        if failure is not None:
            raise failure
        created(resp, media)


class GuestPayment(GuestResource):
    """``GET /v1/public/{tenant}/guest/payments/{number}``: the result of a payment this
    token made."""

    def on_get(self, req, resp, tenant, number):
        """Status, amounts and what it paid; no account history."""
        guest = self.session_of(req, tenant)
        with self.ctx.transaction() as session:
            payment = self.mine(session, guest, number)
            detail = s.payment_detail(session, payment, self.ctx.now())
            info = detail["information"]
            resp.media = {k: info[k] for k in (
                "number", "status", "display_status", "amount", "fee", "amount_received",
                "receipt_number", "destination", "payer", "created_at", "paid_at")} | {
                "items": [{k: d[k] for k in ("kind", "reference", "description", "period",
                                             "amount", "state")}
                          for d in detail["destination_details"] if d["state"] != "void"],
                "can_retry": payment.status == "failed"}


class GuestReceipt(GuestResource):
    """``GET /v1/public/{tenant}/guest/payments/{number}/receipt``: once completed."""

    def on_get(self, req, resp, tenant, number):
        """The receipt, or 409 while the payment is not completed."""
        guest = self.session_of(req, tenant)
        with self.ctx.transaction() as session:
            payment = self.mine(session, guest, number)
            if payment.receipt_number is None or payment.status in ("initiated", "failed",
                                                                    "cancelled"):
                raise Conflict(f"the receipt of payment {number} is available once the "
                               f"payment is completed (it is {payment.status})",
                               field="status")
            resp.media = s.receipt(session, payment)


def add_routes(app, ctx) -> None:
    """Mount the guest payment endpoints."""
    base = "/v1/public/{tenant}"
    app.add_route(f"{base}/identify", Identify(ctx))
    app.add_route(f"{base}/guest/items", GuestItems(ctx))
    app.add_route(f"{base}/guest/checkout", GuestCheckout(ctx))
    app.add_route(f"{base}/guest/destinations/{{name}}/payments", GuestDestinationPayment(ctx))
    app.add_route(f"{base}/guest/payments/{{number}}", GuestPayment(ctx))
    app.add_route(f"{base}/guest/payments/{{number}}/receipt", GuestReceipt(ctx))
