"""The back office's payments: the list with search and filters, one payment's details
(information, destinations, amount analysis, credit notes, cash, transaction, processing
with the Verify button, consumer) and issuing a credit note from it."""

from __future__ import annotations

import datetime as dt
import secrets as pysecrets

import falcon

from loket.core.backoffice import administration, queries
from loket.core.models import Payment
from loket.core.payments import approvals, credit_notes, lifecycle
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS, AllocationState
from loket.errors import LoketError
from loket.server import serialize
from loket.types import PaymentStatus
from loket.web import amounts
from loket.web.console.base import Page, Viewer, first, see_other, whole_number
from loket.web.console.nav import N_
from loket.web.console.problems import Problem

LIST = ("GET", "/v1/payments")
DETAIL = ("GET", "/v1/payments/{number}")
VERIFY = ("POST", "/v1/payments/{number}/verify")
ISSUE_NOTE = ("POST", "/v1/payments/{number}/credit-notes")
RECEIPT = ("GET", "/v1/payments/{number}/receipt")
DISPUTE = ("POST", "/v1/payments/{number}/disputes")
STATUSES = ("initiated", "succeeded", "completed", "posted", "failed", "refunded",
            "partially_refunded", "cancelled")
TYPES = ITEM_KINDS
NOTE_INPUTS = ("amount", "reason", "remarks")


def destinations(allocations: list[dict]) -> list[dict]:
    """The allocations a person reads on a payment: an allocation undone when the payment
    was applied (``void``, replaced by the ``posted`` one) is left out while another stands;
    all of them when every one was undone."""
    standing = [a for a in allocations if a["state"] != AllocationState.VOID]
    return standing or allocations


def may_credit(payment: Payment) -> bool:
    """Whether a credit note can come from ``payment``: its money was taken and not all
    given back, and it has a consumer (as :func:`credit_notes.check_credit_note` asks)."""
    return (payment.status in lifecycle.MONEY_TAKEN
            and payment.status != PaymentStatus.REFUNDED and payment.consumer_id is not None)


def day(value: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` filter value; anything else is ignored."""
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def page_number(req: falcon.Request) -> int:
    """The ``page`` query value (1 when absent or not a whole number of at most 9 digits)."""
    return max(whole_number(req.get_param("page") or "") or 1, 1)


class Payments(Page):
    """``GET /console/payments?q=&status=&method=&channel=&type=&date_from=&date_to=``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List payments, newest first, searched and filtered."""
        viewer = self.viewer(req, LIST)
        chosen = {name: req.get_param(name) or "" for name in
                  ("q", "status", "method", "channel", "type", "date_from", "date_to")}
        filters = queries.PaymentFilters(
            q=chosen["q"] or None, status=chosen["status"] or None,
            method=chosen["method"] or None, channel=chosen["channel"] or None,
            payment_type=chosen["type"] or None, date_from=day(chosen["date_from"]),
            date_to=day(chosen["date_to"]))
        with self.ctx.transaction() as session:
            settings = load_settings(session, viewer.principal.tenant_id)
            result = queries.list_payments(session, viewer.principal.tenant_id, filters,
                                           page_number(req), 20)
            self.render(resp, "console/payments.html", viewer, result=result, chosen=chosen,
                        statuses=STATUSES, types=TYPES, methods=settings["payment_methods"],
                        channels=settings["channels"], active="/console/payments",
                        wide=True)


class PaymentDetail(Page):
    """``GET /console/payments/{number}``: everything about one payment."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, number: str, *, notice: str | None = None,
             problem: Problem | None = None, form: dict | None = None,
             status: str = falcon.HTTP_200) -> None:
        """Render the details page (with a message after an action; after a refused credit
        note, the form as it was sent, open, its fields' messages under them)."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, viewer.principal.tenant_id, number)
            detail = serialize.payment_detail(session, payment, self.ctx.now())
            self.render(resp, "console/payment.html", viewer, status=status, payment=payment,
                        d=detail, destinations=destinations(detail["destination_details"]),
                        money_taken=payment.status in lifecycle.MONEY_TAKEN, notice=notice,
                        error=problem.banner if problem else None,
                        errors=problem.fields if problem else {}, form=form or {},
                        reasons=credit_notes.REASONS,
                        may_verify=viewer.can(*VERIFY) and payment.gateway_configuration_id
                        is not None,
                        may_issue=viewer.can(*ISSUE_NOTE) and may_credit(payment),
                        receipt_pdf=viewer.can(*RECEIPT) and payment.receipt_number is not None
                        and payment.status not in ("initiated", "failed", "cancelled"),
                        may_dispute=viewer.can(*DISPUTE) and payment.status not in (
                            "initiated", "failed", "cancelled"),
                        form_key=pysecrets.token_urlsafe(16), active="/console/payments",
                        amount_example=amounts.example(viewer.locale, payment.currency))

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The details page."""
        viewer = self.viewer(req, DETAIL)
        _ = self.gettext(viewer)
        notice = {"verified": _("Checked with the gateway."),
                  "note": _("Credit note issued."),
                  "waiting": _("The credit note is above the approval threshold: it waits for "
                               "a second person in Approvals.")}.get(req.get_param("done") or "")
        self.show(req, resp, viewer, number, notice=notice)


class PaymentVerify(Page):
    """``POST /console/payments/{number}/verify``: ask the gateway, mark verified."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Verify, then show the details again."""
        viewer, _form = self.posted(req, VERIFY)
        try:
            with self.ctx.transaction() as session:
                payment = queries.payment(session, viewer.principal.tenant_id, number)
                administration.verify_payment(self.ctx, session, viewer.principal.actor(),
                                              payment)
        except LoketError as exc:
            PaymentDetail(self.ctx).show(req, resp, viewer, number,
                                         problem=self.explain(viewer, exc),
                                         status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/payments/{number}?done=verified")


class PaymentCreditNote(Page):
    """``POST /console/payments/{number}/credit-notes``: issue a credit note by hand."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Issue it (the form's key makes a double submit issue one note); above the
        tenant's approval threshold it waits for a second person instead, as in the API."""
        viewer, form = self.posted(req, ISSUE_NOTE)
        try:
            with self.ctx.transaction() as session:
                payment = queries.payment(session, viewer.principal.tenant_id, number)
                amount = self.amount(viewer, form, "amount", N_("Amount"),
                                     payment.currency) or ""
                if approvals.required(session, payment.tenant_id,
                                      approvals.ApprovalKind.CREDIT_NOTE, amount or "0",
                                      payment.currency):
                    approvals.request_approval(
                        self.ctx, session, viewer.principal.actor(),
                        approvals.ApprovalKind.CREDIT_NOTE, payment,
                        {"amount": amount, "reason": first(form, "reason"),
                         "remarks": first(form, "remarks")},
                        idempotency_key=first(form, "form_key") or None)
                    see_other(resp, f"/console/payments/{number}?done=waiting")
                    return
                credit_notes.issue_credit_note(
                    self.ctx, session, viewer.principal.actor(), payment, amount,
                    first(form, "reason"), first(form, "remarks"),
                    idempotency_key=first(form, "form_key") or None)
        except LoketError as exc:
            with self.ctx.transaction() as session:
                currency = queries.payment(session, viewer.principal.tenant_id,
                                           number).currency
            PaymentDetail(self.ctx).show(
                req, resp, viewer, number, form={k: v for k, v in form.items() if k != "csrf"},
                problem=self.explain(viewer, exc, NOTE_INPUTS, currency=currency),
                status=falcon.code_to_http_status(exc.status))
            return
        see_other(resp, f"/console/payments/{number}?done=note#credit-notes")
