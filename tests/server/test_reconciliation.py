"""Reconciliation over HTTP: the gateway's settlements complete payments; a report line that
matches nothing is kept and becomes a to-do."""

import datetime as dt

from support.api import api, connected_api  # noqa: F401 - fixtures

from loket.gateways import sandbox_page


def test_fetch_settlements_completes_payments_and_the_summary_shows_them(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    number = started.json["payment"]["number"]
    api.payer_acts(started.json["redirect_url"])
    sandbox_page.settle(api.sandbox_db())  # paid out; the settlement webhooks never arrive
    summary = api.get("/v1/reconciliation", role="billing_manager").json
    assert summary["awaiting_settlement"] == [{"currency": "USD", "count": 1, "amount": 14550}]

    today = dt.date.today().isoformat()
    fetched = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                    "to": today}, role="billing_manager")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json == {"matched": 1, "already_settled": 0, "unmatched": []}
    detail = api.get(f"/v1/payments/{number}").json
    assert detail["information"]["display_status"] == "Payment Completed"
    summary = api.get("/v1/reconciliation", role="billing_manager").json
    assert summary["awaiting_settlement"] == []
    assert summary["settled"][0]["count"] == 1 and summary["settled"][0]["matched"] is True

    again = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                  "to": today}, role="billing_manager")
    assert again.json == {"matched": 0, "already_settled": 1, "unmatched": []}
    backwards = api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                      "to": "2000-01-01"},
                         role="billing_manager")
    assert backwards.status_code == 422 and "to" in backwards.text
    assert api.post("/v1/reconciliation/fetch", {"gateway": "sandbox", "from": today,
                                                 "to": today},
                    role="cso_executive").status_code == 403


def test_a_bank_statement_confirms_the_payout(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "service", "reference": "SRV-LATE-0001"}]}, role="consumer")
    api.payer_acts(started.json["redirect_url"])
    api.settle()
    waiting = api.get("/v1/reconciliation", role="billing_manager").json["payouts_awaiting_bank"]
    assert len(waiting) == 1 and waiting[0]["net"] == 2500 - (2500 * 29 + 500) // 1000 - 30
    payout = waiting[0]["payout_reference"]
    statement = ("date,reference,amount,description\n"
                 f"{dt.date.today().isoformat()},BANK-1,23.97,payout {payout}\n")
    imported = api.post("/v1/reconciliation/bank-statements",
                        {"filename": "statement.csv", "content": statement},
                        role="billing_manager")
    assert imported.status_code == 200, imported.text
    assert imported.json == {"matched_payouts": [payout], "unmatched_lines": [],
                             "already_imported": 0}
    assert api.get("/v1/reconciliation",
                   role="billing_manager").json["payouts_awaiting_bank"] == []
    assert api.get("/v1/todos", role="billing_manager").json["total"] == 0
    bad = api.post("/v1/reconciliation/bank-statements",
                   {"filename": "s.csv", "content": "date,amount\n"}, role="billing_manager")
    assert bad.status_code == 422
