"""Staff endpoints for consumers and payments: search, account details, payables, consumer
tokens, counter payments, the payments list and details, verify, refund, notes, cancel."""

from __future__ import annotations

import datetime as dt

from loket.core import audit
from loket.core.backoffice import administration, queries
from loket.core.payments import approvals, counter_payments, credit_notes, refunds
from loket.core.payments.payers import Payer
from loket.core.settings import load_settings
from loket.server import approvals_api
from loket.server import serialize as s
from loket.server.base import Resource, created, date_param


class Consumers(Resource):
    """``GET /v1/consumers?q=``: consumer search (name, account, email, phone)."""

    def on_get(self, req, resp):
        """Search consumers."""
        page, limit, _ = self.paging(req)
        with self.ctx.transaction() as session:
            result = queries.search_consumers(session, self.tenant(req),
                                              self.query(req).get("q"), page, limit)
            resp.media = s.page(result, [s.consumer(c) for c in result.items])


class ConsumerDetail(Resource):
    """``GET /v1/consumers/{account}``: details with the current balance."""

    def on_get(self, req, resp, account):
        """Account details."""
        with self.ctx.transaction() as session:
            row = queries.consumer(session, self.tenant(req), account)
            currency = load_settings(session, row.tenant_id).currency
            resp.media = {**s.consumer(row),
                          "balance": s.money(queries.balance(session, row), currency),
                          "credit_available": s.money(queries.credit_available(
                              session, row, self.ctx.now()), currency)}


class Payables(Resource):
    """``GET /v1/consumers/{account}/payables?type=``: open items by type."""

    def on_get(self, req, resp, account):
        """Open items with totals per kind."""
        with self.ctx.transaction() as session:
            row = queries.consumer(session, self.tenant(req), account)
            currency = load_settings(session, row.tenant_id).currency
            rows = queries.items(session, row, self.query(req).get("q"),
                                 self.query(req).get("type", "all"))
            by_type: dict[str, int] = {}
            for r in rows:
                by_type[r.kind] = by_type.get(r.kind, 0) + r.amount - r.paid
            resp.media = {"items": [s.item(r) for r in rows], "count": len(rows),
                          "total": s.money(sum(by_type.values()), currency),
                          "by_type": {k: s.money(v, currency) for k, v in sorted(by_type.items())}}


class ConsumerToken(Resource):
    """``POST /v1/consumers/{account}/token``: a signed, expiring token for one account."""

    sealed_fields = ("token",)

    def on_post(self, req, resp, account):
        """Issue the token the CX web or app uses for ``/v1/me``."""
        ttl = self.body(req).get("ttl_seconds", self.ctx.config.token_ttl_seconds)
        with self.ctx.transaction() as session:
            row = queries.consumer(session, self.tenant(req), account)
            now = self.ctx.now()
            token = self.ctx.signer.consumer_token(
                row.tenant_id, row.account_number, ttl, now=int(now.timestamp()),
                issuer=self.principal(req).api_key_id)
            # What the token then does is audited as the consumer: who issued it, here.
            audit.record(session, self.actor(req), "consumer.token_issued", "consumer",
                         row.account_number, after={"ttl_seconds": ttl},
                         tenant_id=row.tenant_id)
        created(resp, {"token": token, "account_number": account,
                       "expires_at": s.when(now + dt.timedelta(seconds=ttl))})


class Payments(Resource):
    """``GET /v1/payments``: search and filters, newest first, with live status."""

    def on_get(self, req, resp):
        """List payments."""
        q = self.query(req)
        page, limit, newest = self.paging(req)
        filters = queries.PaymentFilters(
            q=q.get("q"), date_from=date_param(q.get("date_from")),
            date_to=date_param(q.get("date_to")), method=q.get("method"),
            status=q.get("status"), payment_type=q.get("type"), channel=q.get("channel"),
            account_number=q.get("account"), include_tests=q.get("include_tests", False))
        with self.ctx.transaction() as session:
            result = queries.list_payments(session, self.tenant(req), filters, page, limit,
                                           newest)
            resp.media = s.page(result, [s.payment(p, s.gateway_kind(session, p))
                                         for p in result.items])
        self.track(req, "payment.searched", q=q.get("q"), status=q.get("status"),
                   method=q.get("method"), type=q.get("type"), results=result.total)


class CounterPayments(Resource):
    """``POST /v1/payments/counter``: record a walk-in payment (posted at once)."""

    def on_post(self, req, resp):
        """Record it; an overpayment becomes a credit note, cash change is recorded."""
        b = self.body(req)
        entry = counter_payments.CounterPayment(
            account_number=b["account_number"], payment_type=b["payment_type"],
            method=b["method"], amount_received=b["amount_received"],
            paid_on=b.get("paid_on"), channel=b.get("channel"),
            references=tuple(b.get("references", ())), change_given=b.get("change_given", "0"),
            notes=b.get("notes"), payer=Payer.from_json(b.get("payer")),
            items=tuple((i["kind"], i["reference"]) for i in b.get("items", ())))
        with self.ctx.transaction() as session:
            payment = counter_payments.record_counter_payment(self.ctx, session, self.actor(req),
                                                     self.tenant(req), entry,
                                                     idempotency_key=self.key(req))
            created(resp, s.payment_detail(session, payment, self.ctx.now()))


class PaymentDetail(Resource):
    """``GET /v1/payments/{number}`` and ``PATCH`` (notes; admins only)."""

    def on_get(self, req, resp, number):
        """Everything about one payment."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            resp.media = s.payment_detail(session, payment, self.ctx.now())
        self.track(req, "payment.details_viewed", payment=number)

    def on_patch(self, req, resp, number):
        """Edit the notes."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            administration.edit_notes(session, self.actor(req), payment, self.body(req)["notes"])
            resp.media = s.payment_detail(session, payment, self.ctx.now())


class PaymentCancel(Resource):
    """``POST /v1/payments/{number}/cancel``: void a posted counter payment (admins)."""

    def on_post(self, req, resp, number):
        """Cancel it; its items reopen."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            payment = administration.cancel_posted(self.ctx, session, self.actor(req), payment,
                                                  self.body(req)["reason"])
            resp.media = s.payment_detail(session, payment, self.ctx.now())


class PaymentVerify(Resource):
    """``POST /v1/payments/{number}/verify``: ask the gateway and mark verified."""

    def on_post(self, req, resp, number):
        """Verify an online payment with its gateway."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            payment = administration.verify_payment(self.ctx, session, self.actor(req), payment)
            resp.media = s.payment_detail(session, payment, self.ctx.now())


class PaymentRetryApplication(Resource):
    """``POST /v1/payments/{number}/retry-application``: apply again a payment whose
    application failed after the gateway took the money (OPC Error -> Error Resolved)."""

    def on_post(self, req, resp, number):
        """Retry through the destination processors."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            payment = administration.retry_application(self.ctx, session, self.actor(req),
                                                      payment)
            resp.media = s.payment_detail(session, payment, self.ctx.now())


class PaymentRefunds(Resource):
    """``POST /v1/payments/{number}/refunds``: refund all or part of a payment."""

    def on_post(self, req, resp, number):
        """Refund through the gateway (online) or at the counter_payments."""
        b = self.body(req)
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            if approvals.required(session, payment.tenant_id, approvals.ApprovalKind.REFUND,
                                  b["amount"], payment.currency):
                approvals_api.pending(resp, approvals.request_approval(
                    self.ctx, session, self.actor(req), approvals.ApprovalKind.REFUND,
                    payment, {"amount": b["amount"], "reason": b.get("reason", "")},
                    idempotency_key=self.key(req)))
                return
            payment = refunds.refund_payment(self.ctx, session, self.actor(req), payment,
                                             b["amount"], b.get("reason", ""),
                                             idempotency_key=self.key(req))
            created(resp, s.payment_detail(session, payment, self.ctx.now()))


class PaymentCreditNotes(Resource):
    """``POST /v1/payments/{number}/credit-notes``: issue a credit note from a payment."""

    def on_post(self, req, resp, number):
        """Issue it."""
        b = self.body(req)
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            if approvals.required(session, payment.tenant_id,
                                  approvals.ApprovalKind.CREDIT_NOTE, b["amount"],
                                  payment.currency):
                approvals_api.pending(resp, approvals.request_approval(
                    self.ctx, session, self.actor(req), approvals.ApprovalKind.CREDIT_NOTE,
                    payment, {"amount": b["amount"], "reason": b["reason"],
                              "remarks": b.get("remarks", "")}, idempotency_key=self.key(req)))
                return
            note = credit_notes.issue_credit_note(self.ctx, session, self.actor(req), payment,
                                                  b["amount"], b["reason"], b.get("remarks", ""),
                                                  idempotency_key=self.key(req))
            created(resp, s.credit_note(note, self.ctx.now()))


def add_routes(app, ctx) -> None:
    """Mount the staff consumer and payment endpoints."""
    app.add_route("/v1/consumers", Consumers(ctx))
    app.add_route("/v1/consumers/{account}", ConsumerDetail(ctx))
    app.add_route("/v1/consumers/{account}/payables", Payables(ctx))
    app.add_route("/v1/consumers/{account}/token", ConsumerToken(ctx))
    app.add_route("/v1/payments", Payments(ctx))
    app.add_route("/v1/payments/counter", CounterPayments(ctx))
    app.add_route("/v1/payments/{number}", PaymentDetail(ctx))
    app.add_route("/v1/payments/{number}/cancel", PaymentCancel(ctx))
    app.add_route("/v1/payments/{number}/verify", PaymentVerify(ctx))
    app.add_route("/v1/payments/{number}/retry-application", PaymentRetryApplication(ctx))
    app.add_route("/v1/payments/{number}/refunds", PaymentRefunds(ctx))
    app.add_route("/v1/payments/{number}/credit-notes", PaymentCreditNotes(ctx))
