"""Receipts and credit notes as PDF, read back with pypdf: the numbers, the consumer and the
amounts as people of the tenant's locale write them."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from pypdf import PdfReader
from support.api import make_api
from support.engine import ACTOR

from loket.core import tenants
from loket.core.backoffice import queries
from loket.core.documents import pdf
from loket.core.host import receivables
from loket.core.payments import credit_notes
from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
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
