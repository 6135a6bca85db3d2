"""The consumer's screens: my bills and services (select several, pay through a gateway)
and my payments with their receipts."""

from __future__ import annotations

from typing import Any

import falcon

from loket.core.backoffice import queries
from loket.core.gateway_configs import configs
from loket.core.models import Consumer
from loket.core.payments import checkout
from loket.errors import LoketError
from loket.server import serialize
from loket.web.console.base import Page, Viewer, first, see_other
from loket.web.console.payments import page_number
from loket.web.refusals import refusal

ITEMS = ("GET", "/v1/me/items")
CHECKOUT = ("POST", "/v1/me/checkout")
HISTORY = ("GET", "/v1/me/payments")
RECEIPT = ("GET", "/v1/me/payments/{number}/receipt")


def me(session: Any, viewer: Viewer) -> Consumer:
    """The signed-in consumer's own account (a consumer token names exactly one)."""
    return queries.consumer(session, viewer.principal.tenant_id,
                            viewer.principal.account_number or "")


class Bills(Page):
    """``GET /console/bills?type=all|bills|services|installments``: open items to select."""

    def show(self, req: falcon.Request, resp: falcon.Response,
             viewer: Viewer, error: str | None = None,
             status: str = falcon.HTTP_200) -> None:
        """Render the open items and the gateways the consumer can pay with."""
        kind = req.get_param("type") or "all"
        if kind not in queries.ITEM_FILTERS:
            kind = "all"
        with self.ctx.transaction() as session:
            mine = me(session, viewer)
            rows = queries.items(session, mine, req.get_param("q"), kind)
            gateways = [{"kind": r.kind,
                         "name": self.ctx.plugins.gateways[r.kind].display_name}
                        for r in configs.usable_gateways(self.ctx, session,
                                                         viewer.principal.tenant_id)]
            self.render(resp, "console/bills.html", viewer, status=status, me=mine, rows=rows,
                        kind=kind, q=req.get_param("q") or "", gateways=gateways,
                        outstanding=queries.balance(session, mine),
                        credit=queries.credit_available(session, mine, self.ctx.now()),
                        error=error, active="/console/bills",
                        may_pay=viewer.can(*CHECKOUT))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """My open bills and services."""
        self.show(req, resp, self.viewer(req, ITEMS))


class Pay(Page):
    """``POST /console/bills/pay``: checkout of the selected items, then off to the gateway."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start the checkout; the total comes from the items, never from the form."""
        viewer, form = self.posted(req, CHECKOUT)
        _ = self.gettext(viewer)
        chosen = [v.split(":", 1) for v in form.get("item", []) if ":" in v]
        if not chosen:
            Bills(self.ctx).show(req, resp, viewer, _("Select at least one item to pay."),
                                 falcon.HTTP_422)
            return
        try:
            with self.ctx.transaction() as session:
                payment = checkout.start_checkout(
                    self.ctx, session, viewer.principal.actor(), viewer.principal.tenant_id,
                    viewer.principal.account_number or "", first(form, "gateway"),
                    [{"kind": k, "reference": r} for k, r in chosen])
                failed = payment.status == "failed"
                target = payment.redirect_url
                message = payment.failure_message
        except LoketError as exc:
            Bills(self.ctx).show(req, resp, viewer, refusal(exc, viewer.locale, viewer.currency),
                                 falcon.code_to_http_status(exc.status))
            return
        if failed or not target:
            Bills(self.ctx).show(req, resp, viewer,
                                 _("The gateway could not start the payment: %(reason)s")
                                 % {"reason": message or "—"}, falcon.HTTP_502)
            return
        see_other(resp, target)


class MyPayments(Page):
    """``GET /console/my-payments``: my payment history, newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List my payments."""
        viewer = self.viewer(req, HISTORY)
        page = page_number(req)
        with self.ctx.transaction() as session:
            mine = me(session, viewer)
            result = queries.list_payments(session, mine.tenant_id, queries.PaymentFilters(
                account_number=mine.account_number), page, 20)
            self.render(resp, "console/my_payments.html", viewer, result=result,
                        active="/console/my-payments")


class MyReceipt(Page):
    """``GET /console/my-payments/{number}``: one of my payments and, once completed, its
    receipt."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """Show the payment and its receipt lines."""
        viewer = self.viewer(req, HISTORY)
        with self.ctx.transaction() as session:
            mine = me(session, viewer)
            payment = queries.payment(session, mine.tenant_id, number, consumer_id=mine.id)
            has_receipt = payment.receipt_number is not None and payment.status not in (
                "initiated", "failed", "cancelled") and viewer.can(*RECEIPT)
            receipt = serialize.receipt(session, payment) if has_receipt else None
            self.render(resp, "console/my_payment.html", viewer, payment=payment,
                        receipt=receipt, active="/console/my-payments")
