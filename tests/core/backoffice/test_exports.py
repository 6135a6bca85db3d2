"""Exports of the payments and credit notes lists over HTTP: the lists' filters, the seed's
columns, CSV and XLSX, audited, never cached, and no text a spreadsheet would run."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select
from support.api import api, connected_api, fields  # noqa: F401 - fixture
from support.engine import ACTOR

from loket.core.backoffice import exports
from loket.core.host import receivables
from loket.core.models import Payment


def counter(api, account, amount, kind="bill", method="cash", **more):
    paid = api.post("/v1/payments/counter", {
        "account_number": account, "payment_type": kind, "method": method,
        "paid_on": "2025-01-15", "amount_received": amount, **more})
    assert paid.status_code == 201, paid.text
    return paid.json["information"]["number"]


def rows_of(result) -> list[dict]:
    assert result.status_code == 200, result.text
    assert result.headers["content-type"].startswith("text/csv")
    text = result.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_payments_export_has_the_columns_and_the_lists_filters(api):
    cash = counter(api, "CRN29391", "100.00")
    card = counter(api, "WU-10001", "20.00", kind="service", method="card")
    every = rows_of(api.get("/v1/payments/export", role="billing_manager"))
    assert list(every[0]) == list(exports.PAYMENT_COLUMNS)
    assert [r["Payment Number"] for r in every] == [cash, card]
    assert every[0]["Amount Received"] == "100.00" and every[0]["Currency"] == "USD"
    assert every[0]["Created By"] == "test cso_admin"
    listed = api.get("/v1/payments?method=card").json["items"]
    exported = rows_of(api.get("/v1/payments/export?method=card", role="billing_manager"))
    assert [r["Payment Number"] for r in exported] == [p["number"] for p in listed] == [card]
    searched = rows_of(api.get("/v1/payments/export?q=crn29", role="billing_manager"))
    assert [r["Account Number"] for r in searched] == ["CRN29391"]
    download = api.get("/v1/payments/export", role="billing_manager")
    assert 'filename="payments.csv"' in download.headers["content-disposition"]


def test_payments_export_as_xlsx(api):
    number = counter(api, "CRN29391", "100.00")
    result = api.get("/v1/payments/export?format=xlsx", role="tenant_admin")
    assert result.status_code == 200
    assert result.headers["content-type"] == exports.ExportFormat.XLSX.media_type
    sheet = load_workbook(io.BytesIO(result.content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == exports.PAYMENT_COLUMNS
    assert values[1][0] == number and values[1][15] == "100.00"


def test_exports_write_formula_like_text_as_text_and_amounts_as_they_are(api, ctx):
    with ctx.transaction() as session:  # a name as the host sent it
        receivables.upsert_consumer(session, ACTOR, api.tenant_id, {
            "account_number": "WU-10001", "name": "@SUM(1)"})
    number = counter(api, "WU-10001", "150.00", kind="service", notes="=1+1")
    with ctx.transaction() as session:  # refunded past what it kept: a negative net
        session.scalar(select(Payment).where(Payment.number == number)).refunded = 15500
    result = api.get("/v1/payments/export", role="billing_manager")
    assert result.headers["cache-control"] == "no-store"
    row = rows_of(result)[0]
    assert (row["Consumer Name"], row["Notes"]) == ("'@SUM(1)", "'=1+1")
    assert row["Net Collected"] == "-5.00" and row["Refunded"] == "155.00"
    notes = rows_of(api.get("/v1/credit-notes/export", role="cso_admin"))
    assert notes[0]["Consumer Name"] == "'@SUM(1)" and notes[0]["Amount"] == "50.00"

    workbook = api.get("/v1/payments/export?format=xlsx", role="billing_manager")
    assert workbook.headers["cache-control"] == "no-store"
    sheet_xml = zipfile.ZipFile(io.BytesIO(workbook.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    values = list(load_workbook(io.BytesIO(workbook.content), read_only=True).active.values)
    columns = exports.PAYMENT_COLUMNS
    assert values[1][columns.index("Notes")] == "'=1+1"
    assert values[1][columns.index("Consumer Name")] == "'@SUM(1)"
    assert values[1][columns.index("Net Collected")] == "-5.00"


def test_an_xlsx_takes_no_text_for_a_formula():
    handle = exports.xlsx_file(("Notes", "Amount"), [("=HYPERLINK(1)", "-5.00")], "Sheet")
    with handle:
        content = handle.read()
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    assert list(sheet.values)[1] == ("=HYPERLINK(1)", "-5.00")


def test_credit_notes_export_follows_the_filters_and_is_audited(api):
    counter(api, "WU-10001", "150.00", kind="service")  # services owe 100.00: 50.00 over
    notes = rows_of(api.get("/v1/credit-notes/export?reason=Overpayment", role="cso_admin"))
    assert [(r["Account Number"], r["Amount"], r["Remaining"], r["Status"]) for r in notes] \
        == [("WU-10001", "50.00", "50.00", "active")]
    assert rows_of(api.get("/v1/credit-notes/export?reason=Billing%20Error",
                           role="cso_admin")) == []
    trail = api.get("/v1/audit/export/credit_notes", role="tenant_admin").json["items"]
    assert [(a["action"], a["after"]["filters"]) for a in trail] == [
        ("credit_notes.exported", {"reasons": ["Overpayment"]}),
        ("credit_notes.exported", {"reasons": ["Billing Error"]})]


def test_exports_refuse_bad_input_and_unauthorised_roles(api):
    assert fields(api.get("/v1/payments/export?format=pdf", role="tenant_admin")) == {
        "format"}
    for export in ("payments", "credit-notes"):  # refused before the answer starts
        reversed_range = api.get(f"/v1/{export}/export?date_from=2025-02-01&"
                                 f"date_to=2025-01-01", role="tenant_admin")
        assert reversed_range.status_code == 422 and fields(reversed_range) == {"date_from"}
    assert api.get("/v1/payments/export", role="cso_executive").status_code == 403
    assert api.get("/v1/credit-notes/export", role="consumer").status_code == 403


def test_net_collected_counts_only_money_that_was_taken_as_the_kpis_do(connected_api):
    api = connected_api
    kept = counter(api, "CRN29391", "100.00")
    voided = counter(api, "WU-10001", "145.50", references=["INV-2025-001234"])
    cancelled = api.post(f"/v1/payments/{voided}/cancel", {"reason": "recorded in error"},
                         role="tenant_admin")
    assert cancelled.status_code == 200, cancelled.text
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001567"}]}, role="consumer")
    assert started.status_code == 201, started.text
    waiting = started.json["payment"]["number"]  # initiated: the payer has not paid yet
    failed_checkout = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "service", "reference": "SRV-RECON-0001"}]}, role="consumer")
    failed = failed_checkout.json["payment"]["number"]
    api.payer_acts(failed_checkout.json["redirect_url"], "decline")
    rows = {r["Payment Number"]: r
            for r in rows_of(api.get("/v1/payments/export", role="billing_manager"))}
    assert {n: rows[n]["Status"] for n in (kept, voided, waiting, failed)} == {
        kept: "posted", voided: "cancelled", waiting: "initiated", failed: "failed"}
    assert [rows[n]["Net Collected"] for n in (kept, voided, waiting, failed)] == [
        "100.00", "0.00", "0.00", "0.00"]
    assert rows[voided]["Amount Received"] == "145.50"  # what was recorded stays visible
    kpis = api.get("/v1/kpis").json["total_collected"]["amount"]["decimal"]
    assert kpis == str(sum(Decimal(r["Net Collected"]) for r in rows.values())) == "100.00"
