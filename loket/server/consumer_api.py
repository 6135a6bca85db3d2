"""The consumer's endpoints (CX web and app), authenticated by a consumer token that sees
only its own account: summary, items, gateways, checkout, history, receipt."""

from __future__ import annotations

from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.core.gateway_configs import configs
from loket.core.payments import checkout
from loket.core.payments.payers import Payer
from loket.core.settings import load_settings
from loket.errors import Conflict, GatewayError
from loket.money import Money
from loket.server import idempotent, reports_api
from loket.server import serialize as s
from loket.server.base import Resource, created
from loket.types import PaymentStatus


class ConsumerResource(Resource):
    """Base: the token's own consumer row."""

    def me(self, session, req):
        """The consumer the token was issued for (404 if the account is gone)."""
        return queries.consumer(session, self.tenant(req), self.principal(req).account_number)


class Summary(ConsumerResource):
    """``GET /v1/me``: my account, outstanding total, unused credit and last payments."""

    def on_get(self, req, resp):
        """Summarise the account."""
        with self.ctx.transaction() as session:
            me = self.me(session, req)
            currency = load_settings(session, me.tenant_id).currency
            recent = queries.list_payments(session, me.tenant_id, queries.PaymentFilters(
                account_number=me.account_number), page=1, limit=5)
            resp.media = {
                "consumer": s.consumer(me),
                "outstanding": s.money(queries.balance(session, me), currency),
                "credit_available": s.money(queries.credit_available(session, me,
                                                                     self.ctx.now()), currency),
                "open_items": len(queries.items(session, me)),
                "last_payments": [s.payment(p, s.gateway_kind(session, p)) for p in recent.items]}


class Items(ConsumerResource):
    """``GET /v1/me/items?q=&type=all|bills|services``: my open bills and services."""

    def on_get(self, req, resp):
        """List open items, searched and filtered."""
        q = self.query(req)
        with self.ctx.transaction() as session:
            me = self.me(session, req)
            rows = queries.items(session, me, q.get("q"), q.get("type", "all"))
            currency = load_settings(session, me.tenant_id).currency
            resp.media = {"items": [s.item(r) for r in rows], "count": len(rows),
                          "total_outstanding": Money(sum(r.amount - r.paid for r in rows),
                                                     currency).to_json()}


class Gateways(ConsumerResource):
    """``GET /v1/me/gateways``: where I can pay (empty unless a gateway is active and
    connected)."""

    def on_get(self, req, resp):
        """List usable configs."""
        with self.ctx.transaction() as session:
            rows = configs.usable_gateways(self.ctx, session, self.tenant(req))
            items = []
            for row in rows:
                if any(i["kind"] == row.kind for i in items):
                    continue  # several profiles of one gateway: shown once
                d = self.ctx.plugins.gateways[row.kind]
                items.append({"kind": row.kind, "display_name": d.display_name,
                              "logo_url": d.logo_url, "methods": list(d.methods)})
        resp.media = {"items": items, "total": len(items)}


def start(ctx, req, session, account_number: str, gateway: str, items: list, method: str,
          payer: Payer | None = None, guest_session: str | None = None, *,
          amount: str | None = None, lump_sum: bool = False):
    """Start an online checkout and shape the answer; a gateway refusal becomes a 502
    problem with the gateway's message once the failed attempt is committed."""
    payment = checkout.start_checkout(ctx, session, req.context.principal.actor(),
                                      req.context.principal.tenant_id, account_number, gateway,
                                      items, method=method,
                                      idempotency_key=req.context.idempotency_key,
                                      payer=payer, guest_session=guest_session,
                                      amount=amount, lump_sum=lump_sum)
    return answer(payment, gateway)


def start_destination(ctx, req, session, resolved, gateway: str, method: str,
                      payer: Payer | None = None, guest_session: str | None = None, *,
                      amount: str | None = None):
    """Start an online checkout of one destination target (recorded under it); answered
    as :func:`start`."""
    payment = checkout.start_destination_checkout(
        ctx, session, req.context.principal.actor(), req.context.principal.tenant_id,
        resolved, gateway, method=method, idempotency_key=req.context.idempotency_key,
        payer=payer, guest_session=guest_session, amount=amount)
    return answer(payment, gateway)


def answer(payment, gateway: str):
    """``(media, None)`` for a started checkout, ``(None, error)`` for a gateway refusal."""
    if payment.status == PaymentStatus.FAILED:
        return None, GatewayError("the gateway could not start the payment; please try again",
                                  gateway_message=payment.failure_message,
                                  gateway_code=payment.failure_code)
    return {"payment": s.payment(payment, gateway), "redirect_url": payment.redirect_url}, None


def keep_answer(session, req, media: dict | None, failure: GatewayError | None) -> None:
    """In a started checkout's transaction, keep its answer with the request's
    Idempotency-Key, or free the key when the gateway refused (see
    :func:`loket.server.idempotent.keep`)."""
    idempotent.keep(session, req, failure.status if failure is not None else 201, media)


class Checkout(ConsumerResource):
    """``POST /v1/me/checkout``: pay selected items -> the gateway URL to redirect to."""

    claims_in_transaction = True

    def on_post(self, req, resp):
        """Create the checkout; the total comes from the items, never from the client."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            if idempotent.replayed(session, req, resp):
                return
            me = self.me(session, req)
            items = body.get("items") or []
            if body.get("all_open"):  # a lump sum over every open bill, service, installment
                items = checkout.open_items(self.ctx, session, me.tenant_id, me.account_number)
            media, failure = start(self.ctx, req, session, me.account_number, body["gateway"],
                                   items, body.get("method", "card"),
                                   Payer.from_json(body.get("payer")),
                                   amount=body.get("amount"),
                                   lump_sum=bool(body.get("all_open")))
            keep_answer(session, req, media, failure)
        if failure is not None:
            raise failure
        created(resp, media)


class History(ConsumerResource):
    """``GET /v1/me/payments``: my payment history, newest first."""

    def on_get(self, req, resp):
        """List my payments."""
        page, limit, newest = self.paging(req)
        q = self.query(req)
        with self.ctx.transaction() as session:
            me = self.me(session, req)
            result = queries.list_payments(session, me.tenant_id, queries.PaymentFilters(
                account_number=me.account_number, status=q.get("status")), page, limit, newest)
            resp.media = s.page(result, [s.payment(p, s.gateway_kind(session, p))
                                         for p in result.items])
        self.track(req, "payment.history_viewed", results=result.total)


class MyPayment(ConsumerResource):
    """``GET /v1/me/payments/{number}``: one of my payments with what it paid."""

    def on_get(self, req, resp, number):
        """Show the payment (404 for anyone else's)."""
        with self.ctx.transaction() as session:
            me = self.me(session, req)
            payment = queries.payment(session, me.tenant_id, number, consumer_id=me.id)
            detail = s.payment_detail(session, payment, self.ctx.now())
            resp.media = {**detail["information"], "items": detail["destination_details"],
                          "can_retry": payment.status == PaymentStatus.FAILED,
                          "autopay": detail["autopay"]}


class Receipt(ConsumerResource):
    """``GET /v1/me/payments/{number}/receipt``: only once the payment is completed."""

    def on_get(self, req, resp, number):
        """The receipt, or 409 while the payment is not completed or posted."""
        with self.ctx.transaction() as session:
            me = self.me(session, req)
            payment = queries.payment(session, me.tenant_id, number, consumer_id=me.id)
            if payment.receipt_number is None or payment.status in (
                    PaymentStatus.INITIATED, PaymentStatus.FAILED, PaymentStatus.CANCELLED):
                raise Conflict(f"the receipt of payment {number} is available once the "
                               f"payment is completed (it is {payment.status})",
                               field="status")
            if reports_api.wants_pdf(req):
                reports_api.send_pdf(resp, pdf.receipt_pdf(session, payment),
                                     f"receipt-{payment.receipt_number}.pdf")
                return
            resp.media = s.receipt(session, payment)


def add_routes(app, ctx) -> None:
    """Mount the consumer endpoints."""
    app.add_route("/v1/me", Summary(ctx))
    app.add_route("/v1/me/items", Items(ctx))
    app.add_route("/v1/me/gateways", Gateways(ctx))
    app.add_route("/v1/me/checkout", Checkout(ctx))
    app.add_route("/v1/me/payments", History(ctx))
    app.add_route("/v1/me/payments/{number}", MyPayment(ctx))
    app.add_route("/v1/me/payments/{number}/receipt", Receipt(ctx))
