"""The receipt link of the payer's "payment completed" (and "payment received") message:
``GET /receipts/{tenant}/{number}?sig=…`` answers the payment's receipt PDF to whoever holds
the link, without signing in or identifying again, for
:data:`~loket.core.outbox.messages.RECEIPT_LINK_DAYS` days after the message. It is how a
guest, or anyone who paid through a payment link, gets the receipt back after the visit.

The receipt is the guest's version (the holder's name and account and who paid, never the
holder's address, e-mail or phone): the link reaches the payer, who may not be the holder.
A link that is altered, incomplete, made for another tenant or payment, or signed by a key
no longer configured, one that has expired, and a receipt not available (yet) each answer an
HTML page in the payer's language with a 4xx status.
"""

from __future__ import annotations

from typing import Any

import falcon

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.core.outbox import messages
from loket.errors import Conflict, Gone, LoketError, NotFound
from loket.server.reports_api import receipt_available, send_pdf
from loket.web import rendering, tenant_pages


class ReceiptLink:
    """``GET /receipts/{tenant}/{number}?sig=…``: the receipt PDF the link was signed for."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, tenant: str,
               number: str) -> None:
        """The receipt PDF, or the page saying why not (404, 410, 409)."""
        resp.set_header("Referrer-Policy", "no-referrer")  # the URL is the credential
        try:
            with self.ctx.transaction() as session:
                row = tenants.tenant_by_slug(session, tenant)
                messages.verify_receipt_link(self.ctx, row.id, number, req.get_param("sig"))
                payment = queries.payment(session, row.id, number)
                receipt_available(payment)
                send_pdf(resp, pdf.receipt_pdf(session, payment, for_guest=True),
                         f"receipt-{payment.receipt_number}.pdf")
        except LoketError as exc:
            self.refuse(req, resp, tenant, exc)

    def refuse(self, req: falcon.Request, resp: falcon.Response, slug: str,
               exc: LoketError) -> None:
        """Answer ``exc`` with the page saying what is wrong with the link, in the payer's
        language (else the tenant's), under the tenant's name when the slug names one."""
        look = tenant_pages.tenant_look(self.ctx, req, slug)
        tenant_pages.refuse(resp, exc.status, "pay/receipt_link.html", look,
                            **words(exc, look.locale))


def words(exc: LoketError, locale: str) -> dict[str, str]:
    """The title and sentence of the page refusing a receipt link with ``exc``, in
    ``locale``."""
    _ = rendering.translations(locale).gettext
    if isinstance(exc, NotFound):
        return {"title": _("This receipt link is not valid"), "detail": _(
            "The address is incomplete or was changed. Open the link in the message again, "
            "or ask the organisation you paid for a copy of the receipt.")}
    if isinstance(exc, Gone):
        return {"title": _("This receipt link has expired"), "detail": _(
            "Receipt links work for %(days)d days after the message. Ask the organisation "
            "you paid for a copy of the receipt.") % {"days": messages.RECEIPT_LINK_DAYS}}
    if isinstance(exc, Conflict):
        return {"title": _("The receipt is not available yet"), "detail": _(
            "A receipt is issued once the payment is completed. Try the link again later.")}
    return {"title": _("Something went wrong"), "detail": _(
        "The receipt cannot be shown right now. Please try again later.")}


def receipt_routes(ctx: Any) -> list[tuple[str, Any]]:
    """The receipt link's route with its resource."""
    return [(messages.RECEIPT_LINK_PATH, ReceiptLink(ctx))]
