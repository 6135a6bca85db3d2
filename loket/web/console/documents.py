"""The console's download buttons: a payment's receipt and a credit note as PDF, made by the
same core function as the API's ``Accept: application/pdf`` answers."""

from __future__ import annotations

import falcon

from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.server.reports_api import receipt_available, send_pdf
from loket.web.console.base import Page
from loket.web.console.consumer import me

RECEIPT = ("GET", "/v1/payments/{number}/receipt")
MY_RECEIPT = ("GET", "/v1/me/payments/{number}/receipt")
NOTE = ("GET", "/v1/credit-notes/{number}")


class ReceiptPdf(Page):
    """``GET /console/payments/{number}/receipt.pdf`` (staff)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The receipt PDF, or a 409 page while the payment is not completed."""
        viewer = self.viewer(req, RECEIPT)
        with self.ctx.transaction() as session:
            payment = queries.payment(session, viewer.principal.tenant_id, number)
            receipt_available(payment)
            send_pdf(resp, pdf.receipt_pdf(session, payment),
                     f"receipt-{payment.receipt_number}.pdf")


class MyReceiptPdf(Page):
    """``GET /console/my-payments/{number}/receipt.pdf`` (the consumer's own payment)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The receipt PDF of one of my payments."""
        viewer = self.viewer(req, MY_RECEIPT)
        with self.ctx.transaction() as session:
            mine = me(session, viewer)
            payment = queries.payment(session, mine.tenant_id, number, consumer_id=mine.id)
            receipt_available(payment)
            send_pdf(resp, pdf.receipt_pdf(session, payment),
                     f"receipt-{payment.receipt_number}.pdf")


class CreditNotePdf(Page):
    """``GET /console/credit-notes/{number}/pdf``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The credit note PDF."""
        viewer = self.viewer(req, NOTE)
        with self.ctx.transaction() as session:
            note = queries.credit_note(session, viewer.principal.tenant_id, number)
            send_pdf(resp, pdf.credit_note_pdf(session, note, self.ctx.now()),
                     f"credit-note-{note.number}.pdf")
