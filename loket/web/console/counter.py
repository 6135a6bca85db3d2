"""Record Payment: a cashier finds the consumer, picks the type and items, the method, the
amount received and the change; the payment is posted at once (a receipt number) and the
page offers to record another or return to the dashboard."""

from __future__ import annotations

import secrets as pysecrets
from zoneinfo import ZoneInfo

import falcon

from loket.core.backoffice import queries
from loket.core.payments import counter_payments
from loket.core.settings import load_settings
from loket.errors import LoketError
from loket.web.console.base import Page, Viewer, first, see_other
from loket.web.console.nav import N_
from loket.web.console.payments import TYPES
from loket.web.console.problems import Problem

RECORD = ("POST", "/v1/payments/counter")
SEARCH = ("GET", "/v1/consumers")
INPUTS = ("channel", "payment_type", "references", "method", "amount_received", "paid_on",
          "change_given", "notes")
ALIASES = {"items": "references"}  # the API's mixed payments name items, the form references


class RecordPayment(Page):
    """``GET /console/payments/new?q=&account=`` shows the form; ``POST`` records."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, account: str | None, *, form: dict | None = None,
             problem: Problem | None = None, status: str = falcon.HTTP_200) -> None:
        """Render the consumer search or, once a consumer is chosen, the payment form (after
        a refusal: as it was sent, each refused field's message under it)."""
        q = req.get_param("q") or ""
        with self.ctx.transaction() as session:
            settings = load_settings(session, viewer.principal.tenant_id)
            found = []
            if q and viewer.can(*SEARCH):
                found = queries.search_consumers(session, viewer.principal.tenant_id, q, 1,
                                                 10).items
            consumer = rows = None
            balance = 0
            if account:
                try:
                    consumer = queries.consumer(session, viewer.principal.tenant_id, account)
                except LoketError as exc:
                    problem = problem or self.explain(viewer, exc)
                else:
                    rows = queries.items(session, consumer)
                    balance = queries.balance(session, consumer)
            self.render(resp, "console/record.html", viewer, status=status, q=q, found=found,
                        consumer=consumer, rows=rows or [], balance=balance,
                        types=TYPES, methods=settings["payment_methods"],
                        channels=settings["channels"],
                        default_channel=settings["default_channel"],
                        form=form or {}, error=problem.banner if problem else None,
                        errors=problem.fields if problem else {},
                        form_key=pysecrets.token_urlsafe(16),
                        today=self.ctx.now().astimezone(ZoneInfo(settings["timezone"])).date()
                        .isoformat(),
                        active="/console/payments/new")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The consumer search, then the form."""
        viewer = self.viewer(req, RECORD)
        self.show(req, resp, viewer, req.get_param("account"))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Record the payment; a refused field is named next to the form."""
        viewer, form = self.posted(req, RECORD)
        account = first(form, "account_number")
        try:
            entry = counter_payments.CounterPayment(
                account_number=account, payment_type=first(form, "payment_type"),
                method=first(form, "method"),
                amount_received=self.amount(viewer, form, "amount_received",
                                            N_("Amount received")) or "",
                channel=first(form, "channel") or None,
                references=tuple(v for v in form.get("reference", []) if v),
                change_given=self.amount(viewer, form, "change_given", N_("Change given"))
                or "0",
                paid_on=first(form, "paid_on") or None,
                notes=first(form, "notes") or None)
            with self.ctx.transaction() as session:
                payment = counter_payments.record_counter_payment(
                    self.ctx, session, viewer.principal.actor(), viewer.principal.tenant_id,
                    entry, idempotency_key=first(form, "form_key") or None)
                number = payment.number
        except LoketError as exc:
            self.show(req, resp, viewer, account or None,
                      form={k: v for k, v in form.items() if k != "csrf"},
                      problem=self.explain(viewer, exc, INPUTS, ALIASES),
                      status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/payments/recorded/{number}")


class Recorded(Page):
    """``GET /console/payments/recorded/{number}``: the success page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Show what was recorded, with the two ways on."""
        viewer = self.viewer(req, RECORD)
        with self.ctx.transaction() as session:
            payment = queries.payment(session, viewer.principal.tenant_id, number)
            self.render(resp, "console/recorded.html", viewer, payment=payment,
                        consumer=payment.consumer, active="/console/payments/new",
                        may_dashboard=viewer.can("GET", "/v1/kpis"))
