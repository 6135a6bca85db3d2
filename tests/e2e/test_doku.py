"""End to end with DOKU, through loket's real HTTP API and the DOKU emulator on loopback: an
IDR tenant's admin configures and connects DOKU (its minimum charge applies to the test
payment), a consumer pays a bill by virtual account, DOKU's signed notification arrives
(retried and re-sent, applied once), and the settlement report a billing manager uploads
completes the payment.
"""

from __future__ import annotations

import base64

import pytest
from support.e2e import SETUP, start_loket

from loket.core import tenants
from loket.core.host import receivables
from loket_doku.testing.emulator import DokuEmulator
from loket_doku.testing.kit import GOOD_CREDENTIALS

ACCOUNT = "ACC-1001"
BILL = "INV-2024-05-001"


def seed_idr_tenant(ctx) -> int:
    """An IDR tenant with one consumer owing one water bill of Rp 150,000."""
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, SETUP, "kota", "PDAM Kota",
                                       {"currency": "IDR", "locale": "id_ID"})
        receivables.upsert_consumer(session, SETUP, tenant.id, {
            "account_number": ACCOUNT, "name": "Siti Rahma", "email": "siti@example.com",
            "phone": "+6281234567890"})
        receivables.upsert_receivable(session, SETUP, tenant.id, {
            "account_number": ACCOUNT, "kind": "bill", "reference": BILL,
            "amount": "150000.00", "description": "Water bill", "period": "May 2024",
            "due_date": "2024-06-15"})
        return tenant.id


@pytest.fixture
def doku_emu():
    """A fresh DOKU emulator on a loopback port."""
    with DokuEmulator() as emulator:
        yield emulator


@pytest.fixture
def live(tmp_path, plugins, request, doku_emu):
    """loket served over HTTP, its DOKU pointed at the emulator, an IDR tenant seeded."""
    loket = start_loket(tmp_path, plugins, request, {"doku": {"api_base": doku_emu.url}})
    loket.authorize(seed_idr_tenant(loket.ctx),
                    roles=("tenant_admin", "cso_admin", "billing_manager"), accounts=[ACCOUNT])
    yield loket
    loket.stop()


def connect_doku(live, emulator) -> dict:
    """The tenant admin configures and connects DOKU over the API; returns the gateway."""
    admin = "tenant_admin"
    assert live.put("/v1/gateways/doku/active", {"active": True}, admin).status_code == 200
    wrong = live.put("/v1/gateways/doku/credentials", {"credentials": {
        **GOOD_CREDENTIALS, "mall_id": "1234"}}, admin)
    assert wrong.status_code in (400, 422), wrong.text
    assert "mall_id" in wrong.text
    saved = live.put("/v1/gateways/doku/credentials", {"credentials": GOOD_CREDENTIALS}, admin)
    assert saved.status_code == 200, saved.text
    assert GOOD_CREDENTIALS["secret_key"] not in saved.text  # answered masked
    assert any(e["path"].startswith("/orders/v1/status/") for e in emulator.log)  # live check
    webhook_url = saved.json()["webhook_url"]
    assert webhook_url.startswith(live.url + "/v1/webhooks/doku/")

    started = live.post("/v1/gateways/doku/connect", as_=admin)
    assert started.status_code == 201, started.text
    number = started.json()["payment_number"]
    # 1 rupiah is below DOKU's minimum charge: the test payment is Rp 10,000, and it says so.
    assert started.json()["amount"]["decimal"] == "10000.00"
    assert "minimum" in started.json()["note"]
    assert emulator.orders[number]["amount"] == 10_000
    page = live.http.get(started.json()["redirect_url"], timeout=10)
    assert page.status_code == 200 and number in page.text

    emulator.pay_card(number)  # the admin pays by card, which DOKU refunds online
    assert emulator.deliver(number) == [200]
    assert emulator.deliveries[-1]["url"] == webhook_url  # notified at loket's own URL

    gateway = live.get("/v1/gateways/doku", as_=admin).json()
    assert (gateway["active"], gateway["configured"], gateway["connected"]) == (True, True, True)
    test = live.get("/v1/gateways/doku/test", as_=admin).json()
    assert test["test_payment"]["status"] == "refunded"
    assert test["response"]["refund"]["status"] == "succeeded"
    assert emulator.orders[number]["status"] == "REFUNDED"
    return gateway


def upload_report(live, content: bytes, filename: str = "settlement.csv") -> dict:
    """A billing manager uploads the settlement report file DOKU delivered (CSV as text,
    XLSX as base64)."""
    body = ({"filename": filename, "content": content.decode()} if filename.endswith(".csv")
            else {"filename": filename, "content_base64": base64.b64encode(content).decode()})
    answer = live.post("/v1/gateways/doku/settlement-reports", body, as_="billing_manager")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_admin_connects_doku_and_a_virtual_account_payment_is_settled(live, doku_emu):
    emulator = doku_emu
    webhook_url = connect_doku(live, emulator)["webhook_url"]
    assert [g["kind"] for g in live.get("/v1/me/gateways", as_=ACCOUNT).json()["items"]] \
        == ["doku"]

    started = live.post("/v1/me/checkout", {
        "gateway": "doku", "method": "bank_transfer",
        "items": [{"kind": "bill", "reference": BILL}]}, ACCOUNT)
    assert started.status_code == 201, started.text
    number = started.json()["payment"]["number"]
    assert started.json()["payment"]["amount"]["decimal"] == "150000.00"
    order = emulator.orders[number]
    assert (order["amount"], order["notify_url"]) == (150_000, webhook_url)  # whole rupiah

    emulator.pay_va(number, bank="BCA")
    live.unreachable_for(3)  # loket cannot be reached at the first three attempts
    statuses = emulator.deliver(number, duplicates=2)
    # DOKU retried three times (the last got through), then re-sent it twice more
    assert statuses == [503, 503, 503, 200, 200, 200]
    assert [d["retry"] for d in emulator.deliveries[-6:]] == [
        "", "+30m", "+6h", "+12h", "duplicate", "duplicate"]

    listed = live.get(f"/v1/payments?q={number}", as_="cso_admin").json()
    assert listed["total"] == 1
    row = listed["items"][0]
    assert (row["display_status"], row["gateway"], row["method"]) == (
        "Payment Successful", "doku", "bank_transfer")
    assert row["amount_received"]["decimal"] == "150000.00"
    detail = live.get(f"/v1/payments/{number}", as_="cso_admin").json()
    va_number = order["channel"]["virtual_account_info"]["virtual_account_number"]
    assert detail["transaction"]["gateway_details"]["va_number"] == va_number
    posted = [d for d in detail["destination_details"] if d["state"] == "posted"]
    assert [(d["reference"], d["amount"]["decimal"]) for d in posted] == [
        (BILL, "150000.00")]  # applied once
    assert detail["amount_analysis"]["result"] == "exact"
    trail = live.get(f"/v1/audit/payment/{number}", as_="cso_admin").json()["items"]
    assert sum(1 for e in trail if "succeeded" in e["action"]) == 1, trail
    me = live.get("/v1/me", as_=ACCOUNT).json()
    assert me["outstanding"]["decimal"] == "0.00"
    assert live.get(f"/v1/me/payments/{number}/receipt", as_=ACCOUNT).status_code == 409

    report = emulator.settlement_report_csv([number], batch_id="STL-0001", fee=4000)
    assert upload_report(live, report) == {"matched": 1, "already_settled": 0, "unmatched": []}
    assert upload_report(live, report) == {"matched": 0, "already_settled": 1, "unmatched": []}
    xlsx = emulator.settlement_report_xlsx([number], batch_id="STL-0001", fee=4000)
    assert upload_report(live, xlsx, "settlement.xlsx") == {  # the same report as XLSX
        "matched": 0, "already_settled": 1, "unmatched": []}

    detail = live.get(f"/v1/payments/{number}", as_="cso_admin").json()
    assert detail["information"]["display_status"] == "Payment Completed"
    assert detail["information"]["settlement_status"] == "Success"
    assert detail["transaction"]["payout_reference"] == "STL-0001"
    assert detail["transaction"]["settled_fee"]["decimal"] == "4440.00"  # fee + 11% tax
    assert detail["transaction"]["settled_net"]["decimal"] == "145560.00"
    receipt = live.get(f"/v1/me/payments/{number}/receipt", as_=ACCOUNT)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["total"]["decimal"] == "150000.00"
    assert [line["reference"] for line in receipt.json()["lines"]] == [BILL]
    assert live.get("/v1/todos", as_="cso_admin").json()["total"] == 0  # nothing by hand
