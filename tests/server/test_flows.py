"""The mission's flows over HTTP (Falcon's test client): the admin connects the sandbox; a
consumer pays two bills and a service in one checkout; staff see it live; a counter cash
payment with change; an overpayment and its credit note; a credit note applied to a bill."""

from __future__ import annotations

from support.api import ACTOR, api, connected_api, make_api, problem  # noqa: F401 - fixtures

from loket.core.tenants import create_tenant


def test_admin_configures_and_connects_the_sandbox(api):
    listed = api.get("/v1/gateways", role="tenant_admin").json["items"]
    sandbox = next(g for g in listed if g["kind"] == "sandbox")
    assert (sandbox["active"], sandbox["configured"], sandbox["connected"]) == (False, False, False)
    assert "secret" in sandbox["credential_schema"]["properties"]
    assert api.get("/v1/me/gateways", role="consumer").json["items"] == []

    api.connect_sandbox()

    gateway = api.get("/v1/gateways/sandbox", role="tenant_admin").json
    assert gateway["active"] and gateway["configured"] and gateway["connected"]
    assert gateway["credentials"]["secret"] != "sbx_demo0123456789abcdef"  # masked
    assert gateway["webhook_url"].startswith("http://testserver/v1/webhooks/sandbox/")
    test = api.get("/v1/gateways/sandbox/test", role="tenant_admin").json
    assert test["connected"] is True
    assert test["test_payment"]["status"] == "refunded"
    assert test["test_payment"]["amount"]["decimal"] == "1.00"
    assert "charge" in test["response"] and "refund" in test["response"]
    usable = api.get("/v1/me/gateways", role="consumer").json["items"]
    assert [g["kind"] for g in usable] == ["sandbox"]


def test_consumer_pays_two_bills_and_a_service_in_one_checkout(connected_api):
    api = connected_api
    items = api.get("/v1/me/items?type=all", role="consumer").json
    assert {i["reference"] for i in items["items"]} >= {"INV-2025-001234", "INV-2025-001567",
                                                         "SRV-RECON-0001"}
    bills = api.get("/v1/me/items?type=bills&q=inv-2025-0012", role="consumer").json["items"]
    assert [b["reference"] for b in bills] == ["INV-2025-001234"]

    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"},
        {"kind": "bill", "reference": "INV-2025-001567"},
        {"kind": "service", "reference": "SRV-RECON-0001"}]}, role="consumer",
        headers={"Idempotency-Key": "cx-1"})
    assert started.status_code == 201, started.text
    payment = started.json["payment"]
    assert payment["amount"]["decimal"] == "372.75"  # 145.50 + 152.25 + 75.00
    assert payment["status"] == "initiated"
    number = payment["number"]

    staff_view = api.get(f"/v1/payments?q={number.lower()}").json
    assert staff_view["total"] == 1 and staff_view["items"][0]["display_status"] == "Pending"

    back = api.payer_acts(started.json["redirect_url"])
    assert "sig=" in back
    returned = api.client.simulate_get(back.split("testserver", 1)[1])
    assert returned.status_code == 200 and returned.json["status"] == "succeeded"
    assert "successful" in returned.json["message"]

    listed = api.get("/v1/payments?q=john&status=succeeded").json["items"]
    assert [p["number"] for p in listed] == [number]
    assert listed[0]["display_status"] == "Payment Successful"
    assert api.get(f"/v1/me/payments/{number}/receipt", role="consumer").status_code == 409

    api.settle()
    detail = api.get(f"/v1/payments/{number}").json
    assert detail["information"]["status"] == "completed"
    assert detail["amount_analysis"]["result"] == "exact"
    assert {d["reference"] for d in detail["destination_details"] if d["state"] == "posted"} == {
        "INV-2025-001234", "INV-2025-001567", "SRV-RECON-0001"}
    receipt = api.get(f"/v1/me/payments/{number}/receipt", role="consumer").json
    assert receipt["receipt_number"] and receipt["total"]["decimal"] == "372.75"
    assert len(receipt["lines"]) == 3
    remaining = api.get("/v1/me/items", role="consumer").json["items"]
    assert "INV-2025-001234" not in {i["reference"] for i in remaining}
    history = api.get("/v1/me/payments", role="consumer").json
    assert history["items"][0]["number"] == number


def test_a_forged_return_url_is_not_found(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    number = started.json["payment"]["number"]
    assert api.client.simulate_get(f"/v1/return/{number}?result=cancel").status_code == 404
    back = api.payer_acts(started.json["redirect_url"], "pay").split("testserver", 1)[1]
    tampered = back.replace("result=success", "result=cancel")
    assert api.client.simulate_get(tampered).status_code == 404


def test_counter_cash_payment_with_change(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "200.00", "change_given": "79.50",
        "references": ["BILL7890"]},
        role="cso_executive")
    assert paid.status_code == 201, paid.text
    detail = paid.json
    assert detail["information"]["status"] == "posted"
    assert detail["information"]["receipt_number"]
    assert detail["cash_details"]["change_given"]["decimal"] == "79.50"
    assert detail["cash_details"]["kept"]["decimal"] == "120.50"
    assert detail["amount_analysis"]["result"] == "exact"
    account = api.get("/v1/consumers/CRN29391").json
    assert account["balance"]["decimal"] == "0.00"


def test_overpayment_becomes_a_credit_note_which_pays_a_bill(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "service", "method": "card",
        "paid_on": "2025-01-15", "amount_received": "150.00", "references": ["SRV-RECON-0001"]})
    assert paid.status_code == 201, paid.text
    analysis = paid.json["amount_analysis"]
    assert analysis["result"] == "over_paid" and analysis["credited"]["decimal"] == "75.00"
    note = paid.json["credit_notes"][0]
    assert note["reason"] == "Overpayment" and note["remaining"]["decimal"] == "75.00"

    listed = api.get("/v1/credit-notes?q=john&remaining=full&reason=Overpayment").json
    assert [n["number"] for n in listed["items"]] == [note["number"]]
    receipt = paid.json["information"]["receipt_number"]
    assert api.get(f"/v1/credit-notes?receipt={receipt}").json["total"] == 1

    applied = api.post(f"/v1/credit-notes/{note['number']}/apply",
                       {"kind": "bill", "reference": "INV-2025-001234"}, role="cso_admin")
    assert applied.status_code == 201, applied.text
    assert applied.json["status"] == "applied"
    assert applied.json["applications"][0]["reference"] == "INV-2025-001234"
    bill = next(i for i in api.get("/v1/consumers/WU-10001/payables?type=bills").json["items"]
                if i["reference"] == "INV-2025-001234")
    assert bill["outstanding"]["decimal"] == "70.50"  # 145.50 - 75.00
    partial = api.get("/v1/credit-notes?remaining=fully_used").json
    assert partial["total"] == 1


def test_staff_search_details_kpis_and_audit_with_request_id(api):
    found = api.get("/v1/consumers?q=GARC").json
    assert [c["account_number"] for c in found["items"]] == ["CRN29391"]
    paid = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "100.00"},
        headers={"X-Request-ID": "req-abc-1"})
    assert paid.headers["x-request-id"] == "req-abc-1"
    number = paid.json["information"]["number"]
    assert paid.json["amount_analysis"]["result"] == "under_paid"
    assert paid.json["amount_analysis"]["still_owed"]["decimal"] == "20.50"
    trail = api.get(f"/v1/audit/payment/{number}").json["items"]
    assert trail and trail[0]["request_id"] == "req-abc-1"
    kpis = api.get("/v1/kpis", role="recovery_executive").json
    assert kpis["collected_today"]["total"]["decimal"] == "100.00"
    assert kpis["collected_today"]["by_method"]["cash"]["decimal"] == "100.00"
    assert kpis["payments_by_status"]["posted"] == 1
    assert kpis["outstanding"]["decimal"] == "620.75"  # 720.75 seeded - 100.00


def test_idempotency_key_replays_and_refuses_reuse(api):
    body = {"account_number": "CRN29391", "payment_type": "bill", "method": "cash",
            "paid_on": "2025-01-15", "amount_received": "20.00"}
    first = api.post("/v1/payments/counter", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/payments/counter", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json["information"]["number"] == first.json["information"]["number"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert api.get("/v1/payments").json["total"] == 1
    other = api.post("/v1/payments/counter", {**body, "amount_received": "21.00"},
                     headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert problem(other)["errors"][0]["field"] == "Idempotency-Key"


def test_admin_edits_notes_and_cancels_a_posted_payment(api):
    paid = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "120.50"}).json["information"]["number"]
    assert api.call("PATCH", f"/v1/payments/{paid}", "cso_executive",
                    json_body={"notes": "x"}).status_code == 403
    edited = api.call("PATCH", f"/v1/payments/{paid}", "cso_admin", json_body={"notes": "ok"})
    assert edited.json["information"]["notes"] == "ok"
    cancelled = api.post(f"/v1/payments/{paid}/cancel", {"reason": "wrong account"},
                         role="tenant_admin")
    assert cancelled.json["information"]["status"] == "cancelled"
    assert api.get("/v1/consumers/CRN29391").json["balance"]["decimal"] == "120.50"


def test_refund_and_verify_an_online_payment(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "service", "reference": "SRV-LATE-0001"}]}, role="consumer").json
    number = started["payment"]["number"]
    reference = started["redirect_url"].rsplit("/", 1)[-1]
    from loket.gateways import sandbox_page
    sandbox_page.payer_acts(api.sandbox_db(), reference, "pay")  # the webhook is lost
    verified = api.post(f"/v1/payments/{number}/verify", role="cso_executive").json
    assert verified["information"]["status"] == "succeeded"
    assert verified["information"]["verification"] == "verified"
    refunded = api.post(f"/v1/payments/{number}/refunds", {"amount": "10.00"},
                        role="billing_manager")
    assert refunded.status_code == 201, refunded.text
    assert refunded.json["information"]["status"] == "partially_refunded"
    assert refunded.json["information"]["refunded"]["decimal"] == "10.00"


def test_host_data_upserts_and_destination_services(api):
    one = api.post("/v1/host/consumers", {"account_number": "NEW-1", "name": "Ann Lee"},
                   role="billing_manager")
    assert one.status_code == 200, one.text
    bulk = api.post("/v1/host/receivables/bulk", {"items": [
        {"account_number": "NEW-1", "kind": "bill", "reference": "B-1", "amount": "10.00"},
        {"account_number": "NEW-1", "kind": "bill", "reference": "B-2", "amount": "5.25"}]},
        role="tenant_admin")
    assert bulk.json["upserted"] == 2
    bad = api.post("/v1/host/receivables/bulk", {"items": [
        {"account_number": "NEW-1", "kind": "bill", "reference": "B-3", "amount": "1.00"},
        {"account_number": "NOPE", "kind": "bill", "reference": "B-4", "amount": "1.00"}]},
        role="tenant_admin")
    assert bad.status_code == 422
    assert problem(bad)["errors"][0]["field"] == "items[1].account_number"
    assert api.get("/v1/consumers/NEW-1/payables").json["total"]["decimal"] == "15.25"

    names = {d["name"] for d in api.get("/v1/destinations").json["items"]}
    assert {"pay-a-bill", "pay-a-pay-plan"} <= names
    due = api.get("/v1/destinations/pay-a-bill/due?account_number=NEW-1").json
    assert due["total"]["decimal"] == "15.25"
    valid = api.post("/v1/destinations/pay-a-bill/validate",
                     {"account_number": "NEW-1", "fields": {"invoice": "B-2"}})
    assert valid.status_code == 200 and valid.json["total"]["decimal"] == "5.25"
    wrong = api.post("/v1/destinations/pay-a-bill/validate",
                     {"account_number": "NEW-1", "fields": {"invoice": "NOPE"}})
    assert wrong.status_code == 422
    prepared = api.post("/v1/destinations/pay-a-pay-plan/prepare",
                        {"fields": {"plan_id": "PP-2025-0034"}}, role="consumer")
    assert prepared.status_code == 200, prepared.text
    assert prepared.json["amount_to_charge"]["decimal"] == "202.50"  # three installments


def test_consumer_sees_only_their_own_account(api):
    other = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "120.50"}).json["information"]["number"]
    assert api.get(f"/v1/me/payments/{other}", role="consumer").status_code == 404
    assert api.get("/v1/destinations/pay-a-bill/due?account_number=CRN29391",
                   role="consumer").status_code == 404
    summary = api.get("/v1/me", role="consumer").json
    assert summary["consumer"]["account_number"] == "WU-10001"
    assert summary["outstanding"]["decimal"] == "600.25"


def test_tenant_admin_reads_and_updates_settings_with_paths_for_errors(api):
    settings = api.get("/v1/settings", role="tenant_admin")
    assert settings.status_code == 200 and settings.json["currency"] == "USD"
    bad = api.put("/v1/settings", {"credit_note_expiry_days": 0,
                                   "number_formats": {"receipt": {"format": "R"}}})
    assert bad.status_code == 422
    assert {"$.credit_note_expiry_days", "$.number_formats.receipt.format"} <= {
        e["field"] for e in problem(bad)["errors"]}
    good = api.put("/v1/settings", {"credit_note_expiry_days": 30})
    assert good.status_code == 200 and good.json["credit_note_expiry_days"] == 30
    assert api.put("/v1/settings", {"locale": "en_GB"}, role="cso_admin").status_code == 403
    trail = api.get(f"/v1/audit/tenant/{api.tenant_id}", role="tenant_admin").json["items"]
    assert "settings.updated" in [entry["action"] for entry in trail]


def test_an_idr_tenant_keeps_sen_whatever_babel_says(ctx):
    with ctx.transaction() as session:
        tenant = create_tenant(session, ACTOR, "pdam", "PDAM", {"currency": "IDR",
                                                                "locale": "id_ID"})
    idr = make_api(ctx, tenant.id)
    assert idr.post("/v1/host/consumers", {"account_number": "P-1", "name": "Siti"},
                    role="billing_manager").status_code == 200
    saved = idr.post("/v1/host/receivables", {"account_number": "P-1", "kind": "bill",
                                              "reference": "A-1", "amount": "150000.50"},
                     role="billing_manager")
    assert saved.status_code == 200, saved.text
    assert saved.json["amount"] == {"amount": 15_000_050, "currency": "IDR",
                                    "decimal": "150000.50"}
    too_fine = idr.post("/v1/host/receivables", {"account_number": "P-1", "kind": "bill",
                                                 "reference": "A-2", "amount": "1.505"},
                        role="billing_manager")
    assert too_fine.status_code == 422 and "more than 2 decimals" in too_fine.text
