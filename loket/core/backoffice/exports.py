"""Exports of the payments and credit notes lists for external analysis or regulatory
reporting: the lists' own search and filters, CSV or XLSX, streamed.

Rows are read from the database in batches (``yield_per``: a server-side cursor on
PostgreSQL) and written out as they come, so an export of a million rows never holds more
than one batch in memory. Amounts are decimal strings in major units with the currency
beside them; times are ISO 8601 in the tenant's time zone. "Net Collected" is received
less change less refunded for a payment whose money was taken (``lifecycle.MONEY_TAKEN``, as
the KPIs count it), else 0: a cancelled, failed or pending payment collected nothing. Text
that a spreadsheet would take for a formula (a consumer name or a note starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``; amounts are never
touched.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any
from zoneinfo import ZoneInfo

import attrs
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.queries import (
    CreditNoteFilters,
    PaymentFilters,
    filter_credit_notes,
    filter_payments,
)
from loket.core.models import Consumer, CreditNote, Payment
from loket.core.payments import lifecycle
from loket.core.settings import load_settings
from loket.money import Money

BATCH = 2000


class ExportFormat(enum.StrEnum):
    """The file formats of an export."""

    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        """The HTTP content type of this format."""
        return {"csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                }[self.value]


PAYMENT_COLUMNS = ("Payment Number", "Transaction Number", "Receipt Number", "Created At",
                   "Paid At", "Account Number", "Consumer Name", "Payment Type", "Channel",
                   "Method", "Status", "Verification", "Settlement Status", "Amount Due",
                   "Fee", "Amount Received", "Change Given", "Refunded", "Net Collected",
                   "Currency", "Created By", "Notes")

CREDIT_NOTE_COLUMNS = ("Credit Note Number", "Created At", "Account Number", "Consumer Name",
                       "Payment Number", "Receipt Number", "Reason", "Automatic", "Amount",
                       "Applied", "Reversed", "Remaining", "Currency", "Status", "Expires At",
                       "Created By", "Remarks")

# The columns holding amounts, written as they are (``-5.00`` is an amount, not a formula).
PAYMENT_AMOUNTS = frozenset(PAYMENT_COLUMNS.index(c) for c in (
    "Amount Due", "Fee", "Amount Received", "Change Given", "Refunded", "Net Collected"))
CREDIT_NOTE_AMOUNTS = frozenset(CREDIT_NOTE_COLUMNS.index(c) for c in (
    "Amount", "Applied", "Reversed", "Remaining"))

# How a cell a spreadsheet evaluates starts: a formula, or a command (DDE) after + - @.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it rather than runs it: prefixed with ``'`` when it
    starts with one of :data:`FORMULA_STARTS`, else unchanged."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _as_text(row: tuple[str, ...], amounts: frozenset[int]) -> tuple[str, ...]:
    return tuple(v if i in amounts else neutralise(v) for i, v in enumerate(row))


def _local(value: dt.datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone).isoformat(timespec="seconds")


def payment_rows(session: Session, tenant_id: int,
                 filters: PaymentFilters) -> Iterator[tuple[str, ...]]:
    """The payments matching the list's filters, oldest first, one tuple of text per row in
    :data:`PAYMENT_COLUMNS` order, the text columns through :func:`neutralise` (read in
    batches of :data:`BATCH`)."""
    zone = ZoneInfo(load_settings(session, tenant_id)["timezone"])
    query = filter_payments(session, tenant_id, select(
        Payment.number, Payment.transaction_number, Payment.receipt_number,
        Payment.created_at, Payment.paid_at, Consumer.account_number, Consumer.name,
        Payment.payment_type, Payment.channel, Payment.method, Payment.status,
        Payment.verification, Payment.settlement_status, Payment.amount, Payment.fee,
        Payment.amount_received, Payment.change_given, Payment.refunded, Payment.currency,
        Payment.created_by, Payment.notes).select_from(Payment).outerjoin(
        Consumer, Consumer.id == Payment.consumer_id), filters)
    query = query.order_by(Payment.created_at, Payment.id).execution_options(yield_per=BATCH)
    for r in session.execute(query):
        def d(value: int, currency: str = r.currency) -> str:
            return Money(int(value), currency).decimal_string()

        net = (r.amount_received - r.change_given - r.refunded
               if r.status in lifecycle.MONEY_TAKEN else 0)
        row = (r.number, r.transaction_number or "", r.receipt_number or "",
               _local(r.created_at, zone), _local(r.paid_at, zone), r.account_number or "",
               r.name or "", r.payment_type, r.channel, r.method, r.status, r.verification,
               r.settlement_status, d(r.amount), d(r.fee), d(r.amount_received),
               d(r.change_given), d(r.refunded), d(net), r.currency, r.created_by or "",
               r.notes or "")
        yield _as_text(row, PAYMENT_AMOUNTS)


def credit_note_rows(session: Session, tenant_id: int, filters: CreditNoteFilters,
                     now: dt.datetime) -> Iterator[tuple[str, ...]]:
    """The credit notes matching the list's filters, oldest first, one tuple of text per row
    in :data:`CREDIT_NOTE_COLUMNS` order, the text columns through :func:`neutralise` (read
    in batches of :data:`BATCH`)."""
    zone = ZoneInfo(load_settings(session, tenant_id)["timezone"])
    query = filter_credit_notes(session, tenant_id, select(
        CreditNote.number, CreditNote.created_at, Consumer.account_number, Consumer.name,
        Payment.number.label("payment_number"), Payment.receipt_number, CreditNote.reason,
        CreditNote.automatic, CreditNote.amount, CreditNote.applied, CreditNote.reversed,
        CreditNote.currency, CreditNote.status, CreditNote.expires_at, CreditNote.created_by,
        CreditNote.remarks).select_from(CreditNote).join(
        Consumer, Consumer.id == CreditNote.consumer_id).join(
        Payment, Payment.id == CreditNote.payment_id), filters, now)
    query = query.order_by(CreditNote.created_at, CreditNote.id).execution_options(
        yield_per=BATCH)
    for r in session.execute(query):
        c = r.currency
        expires = r.expires_at if r.expires_at.tzinfo else r.expires_at.replace(
            tzinfo=dt.UTC)
        status = "expired" if r.status == "active" and expires <= now else r.status
        remaining = max(r.amount - r.applied - r.reversed, 0)
        row = (r.number, _local(r.created_at, zone), r.account_number, r.name,
               r.payment_number, r.receipt_number or "", r.reason,
               "yes" if r.automatic else "no", Money(r.amount, c).decimal_string(),
               Money(r.applied, c).decimal_string(), Money(r.reversed, c).decimal_string(),
               Money(remaining, c).decimal_string(), c, status, _local(r.expires_at, zone),
               r.created_by or "", r.remarks or "")
        yield _as_text(row, CREDIT_NOTE_AMOUNTS)


def csv_chunks(header: Iterable[str], rows: Iterable[tuple[str, ...]],
               rows_per_chunk: int = 500) -> Iterator[bytes]:
    """CSV (UTF-8 with a BOM so spreadsheets read accents, CRLF line ends) in chunks of
    ``rows_per_chunk`` rows, as ``rows`` come."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode("utf-8")


def xlsx_file(header: Iterable[str], rows: Iterable[tuple[str, ...]],
              title: str) -> IO[bytes]:
    """An XLSX workbook of one sheet written in openpyxl's write-only mode (rows go to disk
    as they come), as a temporary file positioned at its start; the caller closes it. Every
    value is written as it is, text as text: never as a formula."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)

    def cells(values: Iterable[str]) -> list[Any]:
        out = []
        for value in values:
            if isinstance(value, str) and value.startswith("="):  # openpyxl's formula mark
                cell = WriteOnlyCell(sheet, value)
                cell.data_type = "s"
                out.append(cell)
            else:
                out.append(value)
        return out

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    out = tempfile.TemporaryFile()
    book.save(out)
    out.seek(0)
    return out


def file_chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """Read ``handle`` in chunks and close it at the end."""
    with handle:
        while chunk := handle.read(size):
            yield chunk


def record_export(session: Session, actor: audit.Actor, what: str, export_format: ExportFormat,
                  filters: Any) -> None:
    """Audit that ``actor`` exported ``what`` (payments, credit notes) with ``filters``."""
    criteria = {k: (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in attrs.asdict(filters).items() if v not in (None, [], False)}
    audit.record(session, actor, f"{what}.exported", "export", what,
                 after={"format": export_format.value, "filters": criteria})
