"""The tenant's locale chooses the language of what loket sends and prints: e-mails (read
from a real SMTP server), SMS texts (the Twilio emulator) and the receipt and credit-note
PDFs (their text read back with pypdf), money and dates formatted the Indonesian way."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from support.jobs import smtp  # noqa: F401 - a fixture
from support.messaging import messaging_api, twilio  # noqa: F401 - twilio is a fixture

from loket.core.outbox import wording

JOHN = "john.doe@example.com"


@pytest.fixture
def jakarta(ctx, tenant_id, smtp, twilio):  # noqa: F811
    api = messaging_api(ctx, tenant_id, smtp, twilio)
    changed = api.put("/v1/settings", {"locale": "id_ID", "timezone": "Asia/Jakarta"})
    assert changed.status_code == 200, changed.text
    return api


def pdf_text(result) -> str:
    assert result.status_code == 200, result.text
    assert result.headers["content-type"] == "application/pdf"
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(result.content)).pages)


def test_a_payment_link_is_mailed_and_texted_in_indonesian(jakarta, smtp, twilio):  # noqa: F811
    created = jakarta.post("/v1/payment-links", {
        "account_number": "WU-10001", "channels": ["email", "sms"],
        "items": [{"kind": "bill", "reference": "INV-2025-001234"},
                  {"kind": "bill", "reference": "INV-2025-001567"}]}, role="billing_manager")
    assert created.status_code == 201, created.text
    url = created.json["url"]
    (mail,) = smtp.to(JOHN)
    assert mail["subject"] == "Tagihan Anda siap dibayar"
    assert mail["body"].strip().replace("\xa0", " ") == (
        f"Halo John Doe, tagihan Anda sebesar US$297,75. Periksa dan bayar di sini: {url}")
    (sms,) = twilio.messages
    assert sms["body"].replace("\xa0", " ") == \
        f"John Doe, tagihan Anda US$297,75. Bayar di sini: {url}"


def test_a_recorded_payment_is_confirmed_by_mail_in_indonesian(jakarta, smtp):  # noqa: F811
    paid = jakarta.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "145.50", "references": ["INV-2025-001234"],
        "paid_on": "2025-01-15"})
    assert paid.status_code == 201, paid.text
    number = paid.json["information"]["number"]
    receipt = paid.json["information"]["receipt_number"]
    (mail,) = [m for m in smtp.to(JOHN) if m["kind"] == "payment.posted"]
    assert mail["subject"] == "Pembayaran diterima"
    link = f"{jakarta.ctx.config.base_url}/receipts/t1/{number}?sig="
    body, _sep, sig = mail["body"].strip().replace("\xa0", " ").replace(
        "\r\n", "\n").partition(link)
    assert body == (
        f"Kami telah menerima pembayaran Anda {number} sebesar US$145,50. "
        f"Kuitansi {receipt}.\n\nUnduh kuitansi (PDF; tautan berlaku 180 hari): ")
    pdf = jakarta.client.simulate_get(f"/receipts/t1/{number}", params={"sig": sig})
    assert "Kuitansi Pembayaran" in pdf_text(pdf)  # the link gives the receipt, in Indonesian


def test_the_receipt_and_credit_note_pdfs_are_in_indonesian(jakarta):
    paid = jakarta.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "150.00", "change_given": "4.50",
        "references": ["INV-2025-001234"], "paid_on": "2025-01-15"}).json
    number = paid["information"]["number"]
    text = pdf_text(jakarta.get(f"/v1/payments/{number}/receipt",
                                headers={"Accept": "application/pdf"}))
    for expected in ("Kuitansi Pembayaran", "Informasi Pelanggan", "Jumlah Diterima",
                     "US$150,00", "Uang Kembalian", "US$4,50", "Tanggal Pembayaran",
                     "15 Jan 2025", "Tunai", "Tagihan", "datang langsung",
                     "Kuitansi ini diterbitkan secara elektronik"):
        assert expected in text, (expected, text)
    assert "Payment Receipt" not in text and "$150.00" not in text
    note = jakarta.post(f"/v1/payments/{number}/credit-notes", {
        "amount": "20.00", "reason": "Billing Error"}, role="billing_manager")
    assert note.status_code == 201, note.text
    text = pdf_text(jakarta.get(f"/v1/credit-notes/{note.json['number']}",
                                headers={"Accept": "application/pdf"}))
    for expected in ("Nota Kredit", "Kesalahan Tagihan", "US$20,00", "Sisa", "Aktif"):
        assert expected in text, (expected, text)


def test_every_message_kind_has_its_indonesian_template():
    for kind in ("payment.initiated", "payment.succeeded", "payment.completed",
                 "payment.posted", "payment.failed", "payment.refunded",
                 "payment.partially_refunded", "payment_link.sent", "autopay.stopped",
                 "autopay.failed", "gateway.handshake_failed",
                 "gateway.handshake_still_failing"):
        english, indonesian = wording.template(kind, "en"), wording.template(kind, "id")
        assert english and indonesian and english != indonesian, kind
        placeholders = set(wording.re.findall(r"\{(\w+)\}", english.body + english.short))
        assert placeholders == set(wording.re.findall(
            r"\{(\w+)\}", indonesian.body + indonesian.short)), kind
    assert wording.template("payment.posted", "fr") == wording.template("payment.posted", "en")
