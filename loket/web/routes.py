"""Mounting the pages on the Falcon app: the console, the API docs and static files, and
the handlers that turn the console's refusals into pages instead of problem documents."""

from __future__ import annotations

from typing import Any

import falcon

from loket.errors import LoketError, NotFound
from loket.server.errors import send_problem
from loket.web import guest, rendering
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
    problems,
    reconciliation,
    settings,
)
from loket.web.console.base import (
    CsrfFailed,
    NotAllowed,
    Page,
    SignInRequired,
    Viewer,
    sign_in_location,
)
from loket.web.console.labels import ROLE_LABELS
from loket.web.console.nav import visible_screens
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
    ]


def is_page(req: falcon.Request) -> bool:
    """Whether the request is for the console or the guest pages (whose errors are
    pages)."""
    return req.path == "/console" or req.path.startswith(("/console/", "/guest/"))


def _page(resp: falcon.Response, status: str, locale: str, title: str, detail: str,
          viewer: Viewer | None = None) -> None:
    """The error page; with the signed-in ``viewer``'s navigation and time zone."""
    resp.status = status
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    context: dict[str, Any] = {}
    if viewer is not None:
        context = {"viewer": viewer, "tenant_name": viewer.tenant_name,
                   "csrf": viewer.session.csrf, "nav": visible_screens(viewer.principal.role),
                   "role_label": ROLE_LABELS.get(viewer.principal.role,
                                                 viewer.principal.role)}
    resp.text = rendering.render("console/error.html", locale,
                                 viewer.timezone if viewer else "UTC", title=title,
                                 detail=detail, **context)


def _signed_in(ctx: Any, req: falcon.Request) -> Viewer | None:
    """The person signed in to the console who sent ``req``, if any (a guest page's or a
    signed-out person's request has none)."""
    if not (req.path == "/console" or req.path.startswith("/console/")):
        return None
    try:
        return Page(ctx).viewer(req)
    except (SignInRequired, LoketError):
        return None


def _unknown_page(req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
    """A console path no page answers: the console's not-found page."""
    raise NotFound("no such page")


def _sign_in(req: falcon.Request, resp: falcon.Response, exc: SignInRequired, params: dict) -> None:
    resp.status = falcon.HTTP_303
    resp.location = sign_in_location(req) if req.method == "GET" else "/console/sign-in"


def _not_allowed(req: falcon.Request, resp: falcon.Response, exc: NotAllowed, params: dict) -> None:
    viewer = exc.viewer
    _ = rendering.translations(viewer.locale).gettext
    _page(resp, falcon.HTTP_403, viewer.locale, _("Not allowed"),
          _("Your role may not open this page."), viewer)


def _csrf(req: falcon.Request, resp: falcon.Response, exc: CsrfFailed, params: dict) -> None:
    locale = rendering.negotiate(req.get_header("Accept-Language"))
    _ = rendering.translations(locale).gettext
    _page(resp, falcon.HTTP_403, locale, _("Form expired"),
          _("This form was not sent from this session. Go back, reload the page and try "
            "again."))


class PageErrors:
    """Turns a loket error on a page into the error page: in the tenant's language with
    the console's navigation when someone is signed in (else the browser's language); the
    API's requests get their problem document."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def __call__(self, req: falcon.Request, resp: falcon.Response, exc: LoketError,
                 params: dict) -> None:
        """Answer ``exc`` (Falcon's error handler signature)."""
        if not is_page(req):
            send_problem(req, resp, exc, params)
            return
        viewer = _signed_in(self.ctx, req)
        locale = viewer.locale if viewer else rendering.negotiate(
            req.get_header("Accept-Language"))
        detail = problems.said(exc.detail, locale, viewer.currency if viewer else None)
        _page(resp, falcon.code_to_http_status(exc.status), locale,
              problems.title_of(exc, locale), detail, viewer)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the pages and their error handlers."""
    for path, resource in page_routes(ctx):
        app.add_route(path, resource)
    app.add_error_handler(SignInRequired, _sign_in)
    app.add_error_handler(NotAllowed, _not_allowed)
    app.add_error_handler(CsrfFailed, _csrf)
    app.add_error_handler(LoketError, guest.error_handler(ctx, PageErrors(ctx)))
    app.add_sink(_unknown_page, "/console/")
