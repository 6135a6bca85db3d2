"""End to end with Stripe, through loket's real HTTP API and the Stripe emulator on loopback:
the tenant admin configures and connects Stripe, a consumer pays two bills in one Checkout
Session, the emulator delivers signed webhooks (a duplicate and a late failure among them),
and a payout completes the payment and makes its receipt available."""

from __future__ import annotations

from support.stripe import (  # noqa: F401 - fixtures
    BILLS,
    connect_stripe,
    live,
    pay_on_hosted_page,
    session_events,
    stripe_emu,
)


def test_admin_connects_stripe_and_a_consumer_pays_two_bills_until_the_payout(live,
                                                                             stripe_emu):
    emulator = stripe_emu
    assert live.get("/v1/me/gateways", as_="WU-10001").json()["items"] == []
    webhook_url = connect_stripe(live, emulator)["webhook_url"]
    assert [g["kind"] for g in live.get("/v1/me/gateways", as_="WU-10001").json()["items"]] \
        == ["stripe"]

    bills = live.get("/v1/me/items?type=bills", as_="WU-10001").json()
    assert bills["total_outstanding"]["decimal"] == "297.75"
    body = {"gateway": "stripe", "items": [{"kind": "bill", "reference": r} for r in BILLS]}
    started = live.post("/v1/me/checkout", body, "WU-10001", headers={"Idempotency-Key": "e2e-1"})
    assert started.status_code == 201, started.text
    again = live.post("/v1/me/checkout", body, "WU-10001", headers={"Idempotency-Key": "e2e-1"})
    assert again.json()["payment"]["number"] == started.json()["payment"]["number"]
    payment = started.json()["payment"]
    number = payment["number"]
    assert payment["amount"]["decimal"] == "297.75" and payment["status"] == "initiated"
    session_id = started.json()["redirect_url"].rsplit("/", 1)[-1]
    stripe_session = emulator.session(session_id)
    assert (stripe_session["amount_total"], stripe_session["currency"]) == (29775, "usd")
    assert stripe_session["client_reference_id"] == number
    assert len(emulator.sessions()) == 2  # the test payment's and this one: no duplicate

    # A first card is declined (Stripe keeps the session open), then the payer pays.
    [declined] = emulator.decline(session_id, message="Your card has insufficient funds.",
                                  decline_code="insufficient_funds")
    back = pay_on_hosted_page(live, started.json()["redirect_url"])
    [completed] = session_events(emulator, "checkout.session.completed", session_id)
    assert [r.status_code for r in emulator.deliver(completed, webhook_url, times=2)] \
        == [200, 200]
    late = emulator.deliver(declined, webhook_url)[0]  # the old failure arrives last
    assert late.status_code == 200

    returned = live.get(back.replace(live.url, ""))
    assert returned.status_code == 200 and returned.json()["status"] == "succeeded"

    listed = live.get(f"/v1/payments?q={number}", as_="cso_admin").json()
    assert listed["total"] == 1
    row = listed["items"][0]
    assert (row["status"], row["display_status"], row["gateway"]) == (
        "succeeded", "Payment Successful", "stripe")
    assert row["failure"] is None
    assert live.get("/v1/me/items?type=bills", as_="WU-10001").json()[
        "total_outstanding"]["decimal"] == "0.00"
    assert live.get(f"/v1/me/payments/{number}/receipt", as_="WU-10001").status_code == 409
    events = [e for e in live.get("/v1/webhook-events?limit=100", as_="tenant_admin").json()[
        "items"] if e["payment_number"] == number]
    assert sorted(e["type"] for e in events) == ["payment.pending", "payment.succeeded"]
    assert {e["status"] for e in events} == {"processed"}, events  # stored once each
    trail = live.get(f"/v1/audit/payment/{number}", as_="cso_admin").json()["items"]
    assert sum(1 for e in trail if "succeeded" in e["action"]) == 1, trail

    for event in emulator.payout():  # payout.created, payout.paid
        assert emulator.deliver(event, webhook_url)[0].status_code == 200

    detail = live.get(f"/v1/payments/{number}", as_="cso_admin").json()
    assert detail["information"]["display_status"] == "Payment Completed"
    assert detail["information"]["settlement_status"] == "Success"
    assert detail["transaction"]["webhook_status"] == "Settled"
    charge_fee = (29775 * 290 + 5000) // 10000 + 30  # the emulator's 2.9% + 0.30
    assert detail["transaction"]["settled_fee"]["amount"] == charge_fee
    assert detail["transaction"]["settled_net"]["amount"] == 29775 - charge_fee
    assert detail["transaction"]["payout_reference"].startswith("po_")
    assert sorted((d["reference"], d["amount"]["decimal"]) for d in detail["destination_details"]
                  if d["state"] == "posted") == [(BILLS[0], "145.50"), (BILLS[1], "152.25")]
    receipt = live.get(f"/v1/me/payments/{number}/receipt", as_="WU-10001")
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["receipt_number"] == detail["information"]["receipt_number"]
    assert receipt.json()["total"]["decimal"] == "297.75"
    assert {line["reference"] for line in receipt.json()["lines"]} == set(BILLS)
    assert live.get("/v1/todos", as_="cso_admin").json()["total"] == 0  # nothing by hand
