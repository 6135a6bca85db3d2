"""Mounting the pages on the Falcon app: the console, the guest pages, the API docs and
static files, with the handlers that answer their errors as pages
(:mod:`loket.web.error_pages`)."""

from __future__ import annotations

from typing import Any

import falcon

from loket.errors import NotFound
from loket.web import error_pages, guest, receipts
from loket.web.assets import Docs, Static, SwaggerAsset
from loket.web.console import (
    approvals,
    autopay,
    consumer,
    counter,
    credit_notes,
    dashboard,
    disputes,
    documents,
    gateways,
    payment_links,
    payments,
    plans,
    reconciliation,
    settings,
)
from loket.web.console.signin import Front, SignIn, SignOut


def page_routes(ctx: Any) -> list[tuple[str, Any]]:
    """Every page route with its resource. These authenticate with the console session (or
    not at all), so the API's bearer-token middleware leaves them alone."""
    return [
        ("/docs", Docs(ctx)),
        ("/docs/assets/{name}", SwaggerAsset()),
        ("/static/{name}", Static()),
        ("/console", Front(ctx)),
        ("/console/sign-in", SignIn(ctx)),
        ("/console/sign-out", SignOut(ctx)),
        ("/console/gateways", gateways.Gateways(ctx)),
        ("/console/gateways/{kind}/active", gateways.GatewayToggle(ctx)),
        ("/console/gateways/{kind}/credentials", gateways.GatewayCredentials(ctx)),
        ("/console/gateways/{kind}/connect", gateways.GatewayConnect(ctx)),
        ("/console/settings", settings.TenantSettings(ctx)),
        ("/console/bills", consumer.Bills(ctx)),
        ("/console/bills/pay", consumer.Pay(ctx)),
        ("/console/my-payments", consumer.MyPayments(ctx)),
        ("/console/my-payments/{number}", consumer.MyReceipt(ctx)),
        ("/console/dashboard", dashboard.Dashboard(ctx)),
        ("/console/todos", dashboard.Todos(ctx)),
        ("/console/todos/{todo_id}/resolve", dashboard.TodoResolve(ctx)),
        ("/console/payments", payments.Payments(ctx)),
        ("/console/payments/new", counter.RecordPayment(ctx)),
        ("/console/payments/recorded/{number}", counter.Recorded(ctx)),
        ("/console/payments/{number}", payments.PaymentDetail(ctx)),
        ("/console/payments/{number}/verify", payments.PaymentVerify(ctx)),
        ("/console/payments/{number}/credit-notes", payments.PaymentCreditNote(ctx)),
        ("/console/credit-notes", credit_notes.CreditNotes(ctx)),
        ("/console/credit-notes/{number}", credit_notes.CreditNoteDetail(ctx)),
        ("/console/credit-notes/{number}/apply", credit_notes.CreditNoteApply(ctx)),
        ("/console/credit-notes/{number}/pdf", documents.CreditNotePdf(ctx)),
        ("/console/payments/{number}/receipt.pdf", documents.ReceiptPdf(ctx)),
        ("/console/my-payments/{number}/receipt.pdf", documents.MyReceiptPdf(ctx)),
        ("/console/disputes", disputes.Disputes(ctx)),
        ("/console/disputes/new", disputes.NewDispute(ctx)),
        ("/console/disputes/{dispute_id}", disputes.DisputeDetail(ctx)),
        ("/console/disputes/{dispute_id}/notes", disputes.DisputeNote(ctx)),
        ("/console/disputes/{dispute_id}/status", disputes.DisputeMove(ctx)),
        ("/console/plans", plans.Plans(ctx)),
        ("/console/plans/new", plans.NewPlan(ctx)),
        ("/console/plans/{reference}", plans.PlanDetail(ctx)),
        ("/console/plans/{reference}/reschedule", plans.PlanChange(ctx, "reschedule")),
        ("/console/plans/{reference}/cancel", plans.PlanChange(ctx, "cancel")),
        ("/console/approvals", approvals.Approvals(ctx)),
        ("/console/approvals/{approval_id}/approve", approvals.ApprovalDecision(ctx, True)),
        ("/console/approvals/{approval_id}/reject", approvals.ApprovalDecision(ctx, False)),
        ("/console/payment-links", payment_links.PaymentLinks(ctx)),
        ("/console/payment-links/{link_id}/send", payment_links.PaymentLinkAction(ctx, "send")),
        ("/console/payment-links/{link_id}/cancel",
         payment_links.PaymentLinkAction(ctx, "cancel")),
        ("/console/reconciliation", reconciliation.Reconciliation(ctx)),
        ("/console/autopay", autopay.AccountAutopay(ctx)),
        ("/console/my-autopay", autopay.MyAutopay(ctx)),
        *guest.guest_routes(ctx),
        *receipts.receipt_routes(ctx),
    ]


def _unknown_page(req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
    """A console path no page answers: the console's not-found page."""
    raise NotFound("no such page")


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the pages and their error handlers (:mod:`loket.web.error_pages`)."""
    routes = page_routes(ctx)
    for path, resource in routes:
        app.add_route(path, resource)
    error_pages.add_handlers(app, ctx, routes)
    app.add_sink(_unknown_page, "/console/")
