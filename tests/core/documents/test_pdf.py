"""Receipts and credit notes as PDF, read back with pypdf: the numbers, the consumer and the
amounts as people of the tenant's locale write them."""

from __future__ import annotations

import base64
import io
import itertools
import struct
import zlib
from decimal import Decimal
from functools import cache
from importlib.resources import files

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from pypdf import PdfReader
from support.api import make_api
from support.engine import ACTOR

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.core.host import receivables
from loket.core.payments import credit_notes
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
from loket.core.payments.payers import Payer
from loket.core.settings import load_settings, save_settings


def text_of(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def tiny_png() -> str:
    """A 2x2 blue PNG, base64 (the tenant's logo)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x20\x40\xc0" * 2 for _ in range(2))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def tenant_paying(ctx, currency: str, locale: str, received: str, amount: str) -> tuple:
    slug = f"t-{locale.lower()}".replace("_", "-")  # a slug is lowercase, no underscore
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, ACTOR, slug, "Tirta Sejahtera", {
            "currency": currency, "locale": locale, "timezone": "Asia/Jakarta",
            "overpayment_threshold": "1000000000",
            "documents": {"address": "Jl. Merdeka 1\nJakarta 10110", "logo": tiny_png()}})
        receivables.upsert_consumer(session, ACTOR, tenant.id, {
            "account_number": "ACC-77", "name": "Siti Rahayu",
            "service_address": "Jl. Mawar 7", "email": "siti@example.com",
            "phone": "+62 811 7777"})
        receivables.upsert_receivable(session, ACTOR, tenant.id, {
            "account_number": "ACC-77", "kind": "bill", "reference": "INV-9", "amount": amount,
            "description": "Water April"})
        payment = record_counter_payment(ctx, session, ACTOR, tenant.id, CounterPayment(
            account_number="ACC-77", payment_type="bill", method="cash",
            amount_received=received, paid_on="2025-01-15", references=("INV-9",)))
        return tenant.id, payment.number


# The labels are in the tenant's language too.
@pytest.mark.parametrize("currency,locale,received,amount,shown,words", [
    ("USD", "en_US", "1500.50", "1200.25", ["$1,500.50", "$1,200.25", "$300.25"],
     ["Payment Summary", "Processing Information", "Overpayment", "Active"]),
    ("IDR", "id_ID", "150000.50", "120000", ["Rp150.000,50", "Rp120.000", "Rp30.000,50"],
     ["Ringkasan Pembayaran", "Informasi Pemrosesan", "Kelebihan Bayar", "Aktif"]),
])
def test_receipt_pdf_shows_number_consumer_and_amounts_in_the_locale(
        ctx, currency, locale, received, amount, shown, words):
    tenant_id, number = tenant_paying(ctx, currency, locale, received, amount)
    with ctx.transaction() as session:
        payment = queries.payment(session, tenant_id, number)
        text = text_of(pdf.receipt_pdf(session, payment))
        receipt_number = payment.receipt_number
    for expected in [receipt_number, number, "Siti Rahayu", "ACC-77", "Jl. Mawar 7",
                     "Tirta Sejahtera", "Jl. Merdeka 1", "INV-9", *words[:2], *shown[:2]]:
        assert expected in text, (expected, text)
    with ctx.transaction() as session:
        note = queries.credit_notes_of(session, queries.payment(session, tenant_id, number))[0]
        note_text = text_of(pdf.credit_note_pdf(session, note, ctx.now()))
    for expected in [note.number, number, words[2], shown[2], "Siti Rahayu", words[3]]:
        assert expected in note_text, (expected, note_text)
    # the receipt names the credit note the overpayment became, and its amount
    assert note.number in text and shown[2] in text, text


def test_a_guest_receipt_names_the_holder_and_who_paid_but_not_the_holders_addresses(ctx):
    tenant_id, number = tenant_paying(ctx, "USD", "en_US", "10.00", "10.00")
    with ctx.transaction() as session:
        payment = queries.payment(session, tenant_id, number)  # the holder paid: no payer
        staff = text_of(pdf.receipt_pdf(session, payment))
        guest = text_of(pdf.receipt_pdf(session, payment, for_guest=True))
    personal = ["Jl. Mawar 7", "siti@example.com", "+62 811 7777"]
    for expected in ["Siti Rahayu", "ACC-77", *personal]:
        assert expected in staff, (expected, staff)
    assert "Paid By" not in staff
    for expected in ["Siti Rahayu", "ACC-77", "Paid By", "$10.00", payment.receipt_number]:
        assert expected in guest, (expected, guest)
    for private in personal:
        assert private not in guest, (private, guest)


def test_a_broken_logo_does_not_cost_the_receipt(ctx):
    tenant_id, number = tenant_paying(ctx, "USD", "en_US", "10.00", "10.00")
    with ctx.transaction() as session:
        document = dict(load_settings(session, tenant_id).document)
        document["documents"] = {"logo": base64.b64encode(b"not an image").decode()}
        save_settings(session, tenant_id, document)
        text = text_of(pdf.receipt_pdf(session, queries.payment(session, tenant_id, number)))
    assert "Siti Rahayu" in text


def test_pdfs_are_served_by_content_negotiation_with_a_file_name_and_no_cache(ctx):
    tenant_id, number = tenant_paying(ctx, "USD", "en_US", "1500.50", "1200.25")
    api = make_api(ctx, tenant_id)
    accept = {"Accept": "application/pdf"}
    receipt = api.get(f"/v1/payments/{number}/receipt", headers=accept)
    assert receipt.status_code == 200, receipt.text
    assert receipt.headers["content-type"] == "application/pdf"
    disposition = receipt.headers["content-disposition"]
    assert "attachment" in disposition and ".pdf" in disposition
    assert receipt.headers["cache-control"] == "no-store"  # personal data: no cache keeps it
    assert "$1,500.50" in text_of(receipt.content)
    as_json = api.get(f"/v1/payments/{number}/receipt")
    assert as_json.json["payment_number"] == number
    note_number = api.get(f"/v1/payments/{number}").json["credit_notes"][0]["number"]
    note = api.get(f"/v1/credit-notes/{note_number}", headers=accept)
    assert note.headers["content-type"] == "application/pdf"
    assert note.headers["cache-control"] == "no-store"
    assert note_number in text_of(note.content)
    token = api.post("/v1/consumers/ACC-77/token", {}).json["token"]
    mine = api.call("GET", f"/v1/me/payments/{number}/receipt", role=None,
                    headers={"Authorization": f"Bearer {token}", **accept})
    assert mine.status_code == 200 and "Siti Rahayu" in text_of(mine.content)
    assert mine.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("currency,locale,received,amount,shown", [
    ("EUR", "de_DE", "1500.50", "1200.25", ["1.500,50 €", "1.200,25 €", "300,25 €"]),
    ("INR", "en_IN", "1500.50", "1200.25", ["₹1,500.50", "₹1,200.25", "₹300.25"]),
    ("PHP", "en_PH", "1500.50", "1200.25", ["₱1,500.50", "₱1,200.25", "₱300.25"]),
    ("VND", "vi_VN", "1500000", "1200000", ["1.500.000 ₫", "1.200.000 ₫", "300.000 ₫"]),
    ("KRW", "ko_KR", "1500", "1200", ["₩1,500", "₩1,200", "₩300"]),
    ("NGN", "en_NG", "1500.50", "1200.25", ["₦1,500.50", "₦1,200.25", "₦300.25"]),
    # a symbol the embedded font has no glyph for: the ISO code, never "?"
    ("GEL", "ka_GE", "1500.50", "1200.25", ["1 500,50 GEL", "1 200,25 GEL", "300,25 GEL"]),
])
def test_receipts_and_credit_notes_show_the_currency_symbol_people_write(
        ctx, currency, locale, received, amount, shown):
    tenant_id, number = tenant_paying(ctx, currency, locale, received, amount)
    with ctx.transaction() as session:
        payment = queries.payment(session, tenant_id, number)
        receipt = text_of(pdf.receipt_pdf(session, payment))
        note = queries.credit_notes_of(session, payment)[0]
        note_text = text_of(pdf.credit_note_pdf(session, note, ctx.now()))
    for expected in shown[:2]:
        assert expected in receipt, (expected, receipt)
    assert shown[2] in note_text, (shown[2], note_text)
    assert "?" not in receipt + note_text


def test_a_used_credit_note_says_so_in_the_tenants_language(ctx):
    tenant_id, number = tenant_paying(ctx, "IDR", "id_ID", "150000.50", "120000")
    with ctx.transaction() as session:
        receivables.upsert_receivable(session, ACTOR, tenant_id, {
            "account_number": "ACC-77", "kind": "bill", "reference": "INV-10",
            "amount": "50000", "description": "Water May"})
        note = queries.credit_notes_of(session, queries.payment(session, tenant_id, number))[0]
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "INV-10")
    with ctx.transaction() as session:
        note = queries.credit_notes_of(session, queries.payment(session, tenant_id, number))[0]
        assert note.status == "applied"
        text = text_of(pdf.credit_note_pdf(session, note, ctx.now()))
    assert "Status Diterapkan" in text and "Applied" not in text, text


@cache
def font_widths(base_font: str) -> tuple[dict[int, int], int]:
    """The advance width of each character in the embedded font named ``base_font``
    (``ABCDEF+DejaVuSansCondensedBold``), and the font's units per em."""
    style = base_font.split("+")[-1].removeprefix("DejaVuSansCondensed")
    font = TTFont(files("loket.core.documents") / "fonts"
                  / f"DejaVuSansCondensed{'-' if style else ''}{style}.ttf")
    metrics = font["hmtx"].metrics
    return ({code: metrics[glyph][0] for code, glyph in font.getBestCmap().items()},
            font["head"].unitsPerEm)


def text_boxes(content: bytes) -> list[tuple[int, str, float, float, float, float]]:
    """Each line of text the PDF shows: its page, the text and the box it covers (left,
    bottom, right, top, in points), from where the PDF draws it and the font's widths."""
    boxes = []
    for number, page in enumerate(PdfReader(io.BytesIO(content)).pages):
        def visit(text, cm, tm, font, size, number=number):
            text = text.strip()
            if not text or font is None:
                return
            assert "\n" not in text, text  # one line of text, from one position
            widths, em = font_widths(font["/BaseFont"])
            width = sum(widths.get(ord(c), 0) for c in text) * size / em
            x, y = tm[4] + cm[4], tm[5] + cm[5]
            boxes.append((number, text, x, y - 0.2 * size, x + width, y + 0.8 * size))
        page.extract_text(visitor_text=visit)
    return boxes


def assert_no_text_overlaps(content: bytes) -> None:
    """No two lines of text of the PDF cover each other, and each stays within the page's
    margins (10 mm)."""
    boxes = text_boxes(content)
    width = float(PdfReader(io.BytesIO(content)).pages[0].mediabox.width)
    margin = 10 * 72 / 25.4
    for page, text, left, _, right, _ in boxes:
        assert margin - 1 <= left and right <= width - margin + 1, (page, text, left, right)
    for a, b in itertools.combinations(boxes, 2):
        apart = (a[0] != b[0] or a[4] <= b[2] + 0.5 or b[4] <= a[2] + 0.5
                 or a[5] <= b[3] + 0.5 or b[5] <= a[3] + 0.5)
        assert apart, f"{a[1]!r} runs into {b[1]!r}"


def flat(text: str) -> str:
    return " ".join(text.split())


LONG_NAME = ("Maria Fernanda Rodrigues da Silva Albuquerque de Oliveira Santos, trading as "
             "Fazenda Boa Esperanca Agricultural and Livestock Cooperative Society Limited")
LONG_ADDRESS = ("Rua Professor Doutor Antonio de Almeida Campos Junior 1234, Bloco C, "
                "Apartamento 1502, Condominio Residencial Jardim das Palmeiras, Vila Mariana, "
                "Sao Paulo SP 04117-040")
# 64 characters without a space (the longest reference) and a 40-character period
LONG_REFERENCE = "INV-2025-" + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMN"[:55]
LONG_PERIOD = "01 September 2025 to 30 September 2025"


def long_description(number: int) -> str:
    """A 200-character description of item ``number``."""
    text = (f"Item {number}: water and sewerage charges for 12 Water Lane, meter WM-88421, "
            "estimated read after the meter could not be reached; includes the standing "
            "charge, the drought levy and the late fee")
    return (text + " and more" * 20)[:200].strip()


def tenant_with_long_texts(ctx, items: int) -> tuple[int, str]:
    """A tenant whose consumer has a long name and address and ``items`` bills with long
    descriptions, paid at the counter by a payer with a long name; the payment's number."""
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, ACTOR, "t-long", "Companhia de Saneamento", {
            "currency": "USD", "locale": "en_US", "timezone": "America/Sao_Paulo",
            "overpayment_threshold": "1000000000",
            "documents": {"address": LONG_ADDRESS + "\nBrazil", "logo": tiny_png()}})
        receivables.upsert_consumer(session, ACTOR, tenant.id, {
            "account_number": "ACC-88", "name": LONG_NAME, "service_address": LONG_ADDRESS})
        references = [LONG_REFERENCE[:-2] + f"{i:02d}" for i in range(items)]
        for i, reference in enumerate(references):
            receivables.upsert_receivable(session, ACTOR, tenant.id, {
                "account_number": "ACC-88", "kind": "bill", "reference": reference,
                "amount": "1234567.89", "description": long_description(i),
                "period": LONG_PERIOD})
        payment = record_counter_payment(ctx, session, ACTOR, tenant.id, CounterPayment(
            account_number="ACC-88", payment_type="bill", method="cash",
            amount_received=str(Decimal("1234567.89") * items + 100), paid_on="2025-01-15",
            references=tuple(references), payer=Payer(name=LONG_NAME)))
        return tenant.id, payment.number


def test_long_texts_wrap_within_their_columns_and_amounts_stay_readable(ctx):
    tenant_id, number = tenant_with_long_texts(ctx, 1)
    with ctx.transaction() as session:
        payment = queries.payment(session, tenant_id, number)
        receipt = pdf.receipt_pdf(session, payment)
        guest = pdf.receipt_pdf(session, payment, for_guest=True)
        note = queries.credit_notes_of(session, payment)[0]
        note.remarks = ("Issued because the consumer paid the May bill twice, once at the "
                        "counter and once by bank transfer; " * 6)[:500]
        receivables.upsert_receivable(session, ACTOR, tenant_id, {
            "account_number": "ACC-88", "kind": "bill", "reference": LONG_REFERENCE,
            "amount": "50", "description": "Water May"})
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", LONG_REFERENCE)
        credit_note = pdf.credit_note_pdf(session, note, ctx.now())
        remarks = note.remarks
    text = flat(text_of(receipt))
    for expected in [long_description(0), LONG_NAME, LONG_ADDRESS, LONG_PERIOD,
                     "$1,234,567.89", "$100.00"]:
        assert expected in text, (expected, text)
    assert LONG_REFERENCE[:-2] + "00" in text.replace(" ", "")
    assert LONG_NAME in flat(text_of(guest))
    note_text = flat(text_of(credit_note))
    for expected in [LONG_NAME, LONG_ADDRESS, remarks.strip(), "$50.00"]:
        assert expected in note_text, (expected, note_text)
    assert LONG_REFERENCE in note_text.replace(" ", "")
    for content in (receipt, guest, credit_note):
        assert_no_text_overlaps(content)
    # the amount ends where its column's title does: at the table's right edge
    boxes = {text: right for _, text, _, _, right, _ in text_boxes(receipt)}
    assert abs(boxes["$1,234,567.89"] - boxes["Amount"]) < 1


def test_rows_that_would_cross_a_page_break_move_whole_under_the_column_titles(ctx):
    tenant_id, number = tenant_with_long_texts(ctx, 14)
    with ctx.transaction() as session:
        receipt = pdf.receipt_pdf(session, queries.payment(session, tenant_id, number))
    pages = [flat(page.extract_text()) for page in PdfReader(io.BytesIO(receipt)).pages]
    assert len(pages) >= 2
    for i in range(14):
        assert any(long_description(i) in page for page in pages), (i, pages)
    table_pages = [page for page in pages if "Item 13:" in page or "Item 0:" in page]
    for page in table_pages:
        assert "Item Reference Description Period Amount" in page, page
    assert_no_text_overlaps(receipt)
