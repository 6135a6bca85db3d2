"""Receipts and credit notes as PDF (fpdf2), for print and download.

Labels are in the tenant's language (the ``documents`` gettext catalog in
``loket/core/locale``, ``make catalogs``); money and dates are formatted with babel in the
tenant's locale; the header carries the
tenant's name, and the address and logo of its ``documents`` settings. The text is set in
DejaVu Sans Condensed (``fonts/``, embedded as the subset a document uses), which shows the
currency symbols beyond Latin-1 (€, ₹, ₱, ₫, ₩, ₦ ...) with Helvetica's widths; an amount
whose symbol the font lacks shows the ISO code instead (``GEL``), any other such character
becomes ``?`` (a date the font cannot write in the tenant's language is written
``2025-01-15``), and spaces of any width become plain spaces.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import get_currency_symbol
from babel.support import NullTranslations, Translations
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fpdf2 needs it
from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy.orm import Session

from loket.core.backoffice import queries
from loket.core.models import Consumer, CreditNote, Payment, Tenant
from loket.core.payments import credit_notes, lifecycle
from loket.core.settings import load_settings
from loket.core.states import CreditNoteStatus
from loket.money import Money


def N_(message: str) -> str:
    """Mark ``message`` for the catalog; it is translated where it is written."""
    return message


# Words the documents show for values stored in English.
WORDS = [N_("Bill"), N_("Service"), N_("Installment"), N_("Cash"), N_("Card"), N_("Cheque"),
         N_("Bank Transfer"), N_("Online"), N_("Pending"), N_("Payment Successful"),
         N_("Payment Completed"), N_("Posted"), N_("Failed"), N_("Refund"),
         N_("Partial Refund"), N_("Cancelled"), N_("Active"), N_("Used"), N_("Expired"),
         # credit note states (loket.core.states.CreditNoteStatus, as note_status().title())
         N_("Applied"), N_("Refunded"),
         N_("walk-in"), N_("online"), N_("kiosk"), N_("bank"),
         # credit note reasons (loket.core.payments.credit_notes.REASONS)
         N_("Overpayment"), N_("Duplicate Payment"), N_("Billing Error"),
         N_("Billing Adjustment"), N_("Refund Request"), N_("Customer Request"), N_("Other")]


@cache
def translations(locale: str) -> NullTranslations:
    """The documents' catalog for ``locale`` (English, the message ids, when there is none)."""
    directory = str(files("loket.core") / "locale")
    return Translations.load(directory, [locale, locale.split("_")[0]], domain="documents")


_SPACES = {"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "}

FONT = "DejaVu"
# The files of the regular, bold and italic styles, beside their licence in ``fonts/``.
FONT_FILES = {"": "DejaVuSansCondensed.ttf", "B": "DejaVuSansCondensed-Bold.ttf",
              "I": "DejaVuSansCondensed-Oblique.ttf"}


# A section's title bar, and the height kept on its page below it (a table's column titles
# and a one-line row), so that a title does not end a page.
_TITLE_HEIGHT = 8
_KEEP_WITH_TITLE = 12


def _font_path(style: str) -> str:
    return str(files("loket.core.documents") / "fonts" / FONT_FILES[style])


@cache
def _shown() -> frozenset[int]:
    """The code points every style of :data:`FONT` has a glyph for."""
    covered = [frozenset(TTFont(_font_path(style), lazy=True).getBestCmap())
               for style in FONT_FILES]
    return frozenset.intersection(*covered)


def _shows(text: str) -> bool:
    """Whether the font has a glyph for every character of ``text``."""
    shown = _shown()
    return all(ord(c) in shown or c in _SPACES for c in text)


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    for wide, plain in _SPACES.items():
        text = text.replace(wide, plain)
    shown = _shown()
    return "".join(c if ord(c) in shown or c in "\n\t" else "?" for c in text)


def _money_text(amount: int, currency: str, locale: str) -> str:
    """``amount`` as people of ``locale`` write it; with the ISO code in place of a currency
    symbol the font cannot show (``1 500,50 GEL`` rather than ``1 500,50 ?``)."""
    written = Money(int(amount), currency).format(locale)
    symbol = get_currency_symbol(currency, locale)
    if _shows(symbol):
        return _text(written)
    return _text(" ".join(written.replace(symbol, f" {currency} ").split()))


class _Document:
    """A one-column document: header, titled sections of label/value rows, a table."""

    def __init__(self, session: Session, tenant_id: int, title: str, number: str):
        settings = load_settings(session, tenant_id)
        self.locale = settings["locale"]
        self.gettext: Callable[[str], str] = translations(self.locale).gettext
        title = self.gettext(title)
        self.zone = ZoneInfo(settings["timezone"])
        self.currency = settings.currency
        branding = settings.document.get("documents", {})
        tenant = session.get(Tenant, tenant_id)
        self.pdf = FPDF(format="A4")
        for style in FONT_FILES:
            self.pdf.add_font(FONT, style, _font_path(style))
        self.pdf.set_title(f"{title} {number}")
        self.pdf.set_author(tenant.name if tenant else "loket")
        self.pdf.set_creator("loket")
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()
        self._header(tenant.name if tenant else "", branding, title, number)

    def _header(self, name: str, branding: dict, title: str, number: str) -> None:
        pdf = self.pdf
        logo = branding.get("logo")
        if logo:
            try:
                pdf.image(io.BytesIO(base64.b64decode(logo, validate=True)), x=pdf.l_margin,
                          y=pdf.t_margin, h=18)
                pdf.set_x(pdf.l_margin + 40)
            except (binascii.Error, ValueError, OSError, RuntimeError):
                pass  # a broken logo must not cost the receipt
        pdf.set_font(FONT, "B", 14)
        pdf.multi_cell(0, 7, _text(name), align="L", new_x="LEFT", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        address = "\n".join(str(branding.get("address") or "").splitlines()).strip()
        if address:
            pdf.multi_cell(0, 4.5, _text(address), align="L", new_x="LEFT", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), pdf.t_margin + 20) + 4)
        pdf.set_draw_color(40, 40, 40)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(4)
        pdf.set_font(FONT, "B", 18)
        pdf.cell(0, 9, _text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 11)
        pdf.cell(0, 6, _text(number), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    def money(self, amount: int) -> str:
        return _money_text(amount, self.currency, self.locale)

    def when(self, value: dt.datetime | None) -> str:
        if value is None:
            return "-"
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        local = value.astimezone(self.zone)
        written = format_datetime(local, "medium", tzinfo=self.zone, locale=self.locale)
        return written if _shows(written) else local.strftime("%Y-%m-%d %H:%M:%S")

    def day(self, value: dt.datetime | dt.date | None) -> str:
        if value is None:
            return "-"
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            value = value.astimezone(self.zone).date()
        written = format_date(value, "medium", locale=self.locale)
        return written if _shows(written) else value.isoformat()

    def section(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Write a titled section of label/value rows, called by :func:`receipt_pdf` and
        :func:`credit_note_pdf` for each part of the document (``rows`` may be empty when a
        :meth:`table` follows). Labels and values wrap within their columns; a row that
        would cross the page's end moves whole to the next page, and the title stays with
        what follows it."""
        pdf = self.pdf
        pdf.set_font(FONT, "B", 11)
        if pdf.will_page_break(_TITLE_HEIGHT + _KEEP_WITH_TITLE):
            pdf.add_page()
        with pdf.local_context(fill_color=(235, 235, 235)):  # the table cells stay unfilled
            pdf.multi_cell(0, 7, _text(title), fill=True, align="L", new_x="LMARGIN",
                           new_y="NEXT")
        pdf.ln(1)
        if rows:
            pdf.set_font(FONT, "", 10)
            with pdf.table(width=pdf.epw, col_widths=(55, pdf.epw - 55), align="LEFT",
                           first_row_as_headings=False, borders_layout="NONE",
                           text_align=("LEFT", "LEFT"), v_align="TOP", line_height=5,
                           padding=(0.5, 0)) as table:
                for label, value in rows:
                    row = table.row()
                    row.cell(_text(label))
                    row.cell(_text(value), style=FontFace(emphasis="BOLD"))
        pdf.ln(3)

    def table(self, head: tuple[str, ...], rows: Sequence[tuple[str, ...]],
              widths: tuple[int, ...]) -> None:
        """Write a table with the column titles ``head`` and ``rows`` in columns ``widths``
        mm wide (their sum at most the page's width), the last column (the amount) to the
        right; called after a :meth:`section` title. Texts wrap within their columns, a row
        that would cross the page's end moves whole to the next page under the column
        titles again."""
        pdf = self.pdf
        pdf.set_font(FONT, "", 9)
        align = tuple("RIGHT" if i == len(head) - 1 else "LEFT" for i in range(len(head)))
        with pdf.table(width=sum(widths), col_widths=widths, align="LEFT",
                       borders_layout="SINGLE_TOP_LINE", text_align=align, v_align="TOP",
                       line_height=4.5, padding=(0.75, 0), repeat_headings=1,
                       headings_style=FontFace(emphasis="BOLD")) as table:
            for row in (head, *rows):
                table.row([_text(text) for text in row])
        pdf.ln(3)

    def footer(self, text: str) -> bytes:
        pdf = self.pdf
        pdf.set_font(FONT, "I", 8)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(0, 4, _text(text), new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())


def _paid_on(payment: Payment) -> dt.date | dt.datetime:
    """The payment date: the one the cashier entered at the counter, else when the money
    was taken."""
    entered = (payment.gateway_details or {}).get("paid_on")
    if entered:
        return dt.date.fromisoformat(entered)
    return payment.paid_at or payment.created_at


def _paid_by(payment: Payment, consumer: Consumer | None) -> list[tuple[str, str]]:
    """The payer's name, e-mail and phone as label ids and values, leaving out any address
    that is the holder's own (a payment made without a payer records the holder's)."""
    rows = [(N_("Name"), payment.payer_name or "")]
    if payment.payer_email and payment.payer_email != (consumer and consumer.email):
        rows.append((N_("Email"), payment.payer_email))
    if payment.payer_phone and payment.payer_phone != (consumer and consumer.phone):
        rows.append((N_("Phone"), payment.payer_phone))
    return rows


def _credit_notes(doc: _Document, session: Session, payment: Payment) -> None:
    """The credit notes issued from ``payment`` (an overpayment's, or by staff), unless
    voided: number, reason, expiry and amount."""
    _ = doc.gettext
    notes = [(n.number, _(n.reason), doc.day(n.expires_at), doc.money(n.amount))
             for n in queries.credit_notes_of(session, payment)
             if n.status != CreditNoteStatus.CANCELLED]
    if notes:
        doc.section(_("Credit Notes"), [])
        doc.table((_("Credit Note"), _("Reason"), _("Expires"), _("Amount")), notes,
                  (45, 75, 35, 35))


def receipt_pdf(session: Session, payment: Payment, *, for_guest: bool = False) -> bytes:
    """The receipt of a posted or completed payment as PDF bytes, in the tenant's language:
    consumer information, the payment summary (what each item received, totals, change), the
    credit notes issued from it and processing information. Called by the receipt resources
    when the client accepts ``application/pdf``, and by the guest pages with ``for_guest``: a
    guest knows only the account number, so its receipt names the holder and the account and
    then who paid, never the holder's address, e-mail or phone."""
    doc = _Document(session, payment.tenant_id, N_("Payment Receipt"),
                    payment.receipt_number or payment.number)
    _ = doc.gettext
    consumer = payment.consumer
    if consumer is not None:
        holder = [(_("Name"), consumer.name), (_("Account Number"), consumer.account_number)]
        if not for_guest:
            holder += [(_("Service Address"), consumer.service_address or "-"),
                       (_("Email"), consumer.email or "-"), (_("Phone"), consumer.phone or "-")]
        doc.section(_("Consumer Information"), holder)
    if for_guest and payment.payer_name is not None:
        doc.section(_("Paid By"), [(_(label), value)
                                   for label, value in _paid_by(payment, consumer)])
    lines = [(_(r.kind.title()), r.reference, r.description or "", r.period or "",
              doc.money(a.amount - a.reversed))
             for a, r in queries.allocations(session, payment) if a.state == "posted"]
    doc.section(_("Payment Summary"), [])
    doc.table((_("Item"), _("Reference"), _("Description"), _("Period"), _("Amount")), lines,
              (25, 35, 65, 25, 40))
    fee = payment.fee if payment.fee_passed_on else 0
    summary = [(_("Amount Received"), doc.money(payment.amount_received))]
    if payment.change_given:
        summary.append((_("Change Given"), doc.money(payment.change_given)))
    if fee:
        summary.append((_("Convenience Fee"), doc.money(fee)))
    summary.append((_("Amount Paid"),
                    doc.money(payment.amount_received - payment.change_given)))
    if payment.refunded:
        summary.append((_("Refunded"), doc.money(payment.refunded)))
    doc.section(_("Totals"), summary)
    _credit_notes(doc, session, payment)
    doc.section(_("Processing Information"), [
        (_("Receipt Number"), payment.receipt_number or "-"),
        (_("Payment Number"), payment.number),
        (_("Transaction Number"), payment.transaction_number or "-"),
        (_("Payment Date"), doc.day(_paid_on(payment))),
        (_("Recorded At"), doc.when(payment.paid_at or payment.created_at)),
        (_("Payment Method"), _(payment.method.replace("_", " ").title())),
        (_("Channel"), _(payment.channel)),
        (_("Status"), _(lifecycle.DISPLAY.get(payment.status, payment.status))),
        (_("Processed By"), payment.created_by or "-")])
    return doc.footer(_("This receipt was issued electronically and is valid without a "
                        "signature."))


def credit_note_pdf(session: Session, note: CreditNote, now: dt.datetime) -> bytes:
    """A credit note as PDF bytes, in the tenant's language: consumer, original payment and
    its date, reason, amount, used and remaining credit, usage, expiry and status. Called by
    the credit note resource when the client accepts ``application/pdf``."""
    doc = _Document(session, note.tenant_id, N_("Credit Note"), note.number)
    _ = doc.gettext
    consumer = note.consumer
    doc.section(_("Consumer Information"), [
        (_("Name"), consumer.name), (_("Account Number"), consumer.account_number),
        (_("Service Address"), consumer.service_address or "-")])
    payment = note.payment
    doc.section(_("Original Payment"), [
        (_("Payment Number"), payment.number),
        (_("Receipt Number"), payment.receipt_number or "-"),
        (_("Payment Date"), doc.day(_paid_on(payment))),
        (_("Amount Received"), doc.money(payment.amount_received))])
    doc.section(_("Credit"), [
        (_("Reason"), _(note.reason)), (_("Remarks"), note.remarks or "-"),
        (_("Amount"), doc.money(note.amount)), (_("Used"), doc.money(note.applied)),
        (_("Reversed"), doc.money(note.reversed)),
        (_("Remaining"), doc.money(credit_notes.remaining(note))),
        (_("Usage"), f"{credit_notes.usage_percent(note)}%"),
        (_("Issued"), doc.day(note.created_at)), (_("Expires"), doc.day(note.expires_at)),
        (_("Status"), _(credit_notes.note_status(note, now).title()))])
    uses = [(doc.day(a.created_at), _(r.kind.title()), r.reference, doc.money(a.amount))
            for a, r in queries.applications(session, note)]
    if uses:
        doc.section(_("Usage"), [])
        doc.table((_("Date"), _("Item"), _("Reference"), _("Amount")), uses, (40, 30, 70, 50))
    return doc.footer(_("Credit can be applied to the account's open bills and services "
                        "until it expires."))
