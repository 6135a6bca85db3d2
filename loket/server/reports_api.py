"""Back-office reports: collection trends, exports of the payments and credit notes lists,
receipts and credit notes as PDF (content negotiation: ``Accept: application/pdf``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon

from loket.core.backoffice import exports, queries, trends
from loket.core.documents import pdf
from loket.errors import Conflict, ValidationFailed
from loket.server import serialize as s
from loket.server.base import Resource, date_param, money_param

PDF = "application/pdf"


def wants_pdf(req: falcon.Request) -> bool:
    """True when the client prefers a PDF to JSON (``Accept: application/pdf``)."""
    return req.client_prefers(["application/json", PDF]) == PDF


def send_pdf(resp: falcon.Response, content: bytes, filename: str) -> None:
    """Answer with a PDF document and the file name to save it under; no cache keeps it
    (receipts and credit notes carry personal data)."""
    resp.set_header("Cache-Control", "no-store")
    resp.content_type = PDF
    resp.data = content
    resp.downloadable_as = filename


def receipt_available(payment: Any) -> None:
    """Refuse (409) the receipt of a payment that has not been completed or posted."""
    if payment.receipt_number is None or payment.status in ("initiated", "failed",
                                                            "cancelled"):
        raise Conflict(f"the receipt of payment {payment.number} is available once the "
                       f"payment is completed (it is {payment.status})", field="status")


class Trends(Resource):
    """``GET /v1/kpis/trends``: collections per day, week or month, by channel, method or
    type, ready for a chart."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The series of the selected period (default the current month)."""
        q = self.query(req)
        with self.ctx.transaction() as session:
            resp.media = trends.trends(
                session, self.tenant(req), self.ctx.now(), interval=q.get("interval", "day"),
                by=q.get("by", "channel"), date_from=date_param(q.get("from")),
                date_to=date_param(q.get("to")), month=q.get("month"))


def _format(req: falcon.Request) -> exports.ExportFormat:
    return exports.ExportFormat(req.context.query.get("format", "csv"))


def _send_export(resp: falcon.Response, export_format: exports.ExportFormat, name: str,
                 body: Iterator[bytes]) -> None:
    resp.set_header("Cache-Control", "no-store")
    resp.content_type = export_format.media_type
    resp.downloadable_as = f"{name}.{export_format.value}"
    resp.stream = body


def _dates_in_order(filters: Any) -> None:
    """Refuse an export whose period ends before it starts before its answer begins (a
    streamed answer cannot turn into an error half-way)."""
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationFailed("date_from must not be after date_to", field="date_from")


class PaymentsExport(Resource):
    """``GET /v1/payments/export``: the payments list (same search and filters) as CSV or
    XLSX, streamed, audited."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Stream the export."""
        q = self.query(req)
        export_format = _format(req)
        filters = queries.PaymentFilters(
            q=q.get("q"), date_from=date_param(q.get("date_from")),
            date_to=date_param(q.get("date_to")), method=q.get("method"),
            status=q.get("status"), payment_type=q.get("type"), channel=q.get("channel"),
            account_number=q.get("account"), include_tests=q.get("include_tests", False))
        tenant, actor = self.tenant(req), self.actor(req)
        _dates_in_order(filters)
        with self.ctx.transaction() as session:
            exports.record_export(session, actor, "payments", export_format, filters)

        def body() -> Iterator[bytes]:
            with self.ctx.transaction() as session:
                rows = exports.payment_rows(session, tenant, filters)
                if export_format is exports.ExportFormat.XLSX:
                    handle = exports.xlsx_file(exports.PAYMENT_COLUMNS, rows, "Payments")
                    yield from exports.file_chunks(handle)
                else:
                    yield from exports.csv_chunks(exports.PAYMENT_COLUMNS, rows)

        _send_export(resp, export_format, "payments", body())


class CreditNotesExport(Resource):
    """``GET /v1/credit-notes/export``: the credit notes list (same search and filters) as
    CSV or XLSX, streamed, audited."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Stream the export."""
        q = self.query(req)
        export_format = _format(req)
        tenant, actor, now = self.tenant(req), self.actor(req), self.ctx.now()
        with self.ctx.transaction() as session:
            filters = queries.CreditNoteFilters(
                q=q.get("q"), status=q.get("status"), period=q.get("period"),
                date_from=date_param(q.get("date_from")), date_to=date_param(q.get("date_to")),
                reasons=tuple(q.get("reason", ())), account_number=q.get("account"),
                remaining=q.get("remaining"), receipt=q.get("receipt"),
                amount_min=money_param(session, tenant, q.get("amount_min"), "amount_min"),
                amount_max=money_param(session, tenant, q.get("amount_max"), "amount_max"))
            _dates_in_order(filters)
            exports.record_export(session, actor, "credit_notes", export_format, filters)

        def body() -> Iterator[bytes]:
            with self.ctx.transaction() as session:
                rows = exports.credit_note_rows(session, tenant, filters, now)
                if export_format is exports.ExportFormat.XLSX:
                    handle = exports.xlsx_file(exports.CREDIT_NOTE_COLUMNS, rows,
                                               "Credit notes")
                    yield from exports.file_chunks(handle)
                else:
                    yield from exports.csv_chunks(exports.CREDIT_NOTE_COLUMNS, rows)

        _send_export(resp, export_format, "credit-notes", body())


class PaymentReceipt(Resource):
    """``GET /v1/payments/{number}/receipt``: the receipt, JSON or PDF (staff)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, number: str) -> None:
        """The receipt, or 409 while the payment is not completed or posted."""
        with self.ctx.transaction() as session:
            payment = queries.payment(session, self.tenant(req), number)
            receipt_available(payment)
            if wants_pdf(req):
                send_pdf(resp, pdf.receipt_pdf(session, payment),
                         f"receipt-{payment.receipt_number}.pdf")
            else:
                resp.media = s.receipt(session, payment)


def add_routes(app: falcon.App, ctx: Any) -> None:
    """Mount the report endpoints."""
    app.add_route("/v1/kpis/trends", Trends(ctx))
    app.add_route("/v1/payments/export", PaymentsExport(ctx))
    app.add_route("/v1/credit-notes/export", CreditNotesExport(ctx))
    app.add_route("/v1/payments/{number}/receipt", PaymentReceipt(ctx))
