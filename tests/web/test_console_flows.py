"""Each console screen's main flow through its forms, checked against what the API then
reports (the console and the API share the core)."""

from __future__ import annotations

from urllib.parse import urlsplit

from support.console import Person, text_of
from support.forms import field_message

from loket.core import todos
from loket.demo import SANDBOX_CREDENTIALS


def signed_in(api, role: str) -> Person:
    person = Person(client=api.client)
    person.follow(person.sign_in(api.consumer_token if role == "consumer" else api.keys[role]))
    return person


def sandbox(api) -> dict:
    return next(g for g in api.get("/v1/gateways", role="tenant_admin").json["items"]
                if g["kind"] == "sandbox")


def test_tenant_admin_activates_configures_and_connects_the_sandbox(api):
    admin = signed_in(api, "tenant_admin")
    admin.get("/console/gateways")
    assert "Not configured" in text_of(admin.page)
    admin.follow(admin.post("/console/gateways/sandbox/active", {"active": "on"}))
    assert "Gateway activated." in text_of(admin.page) and sandbox(api)["active"]

    refused = admin.post("/console/gateways/sandbox/credentials",
                         {"merchant_name": "Springfield", "secret": "wrong"})
    assert refused.status_code == 422
    assert "sbx_ followed by 16-64 letters or digits" in text_of(refused.text)
    assert not sandbox(api)["configured"]

    saved = admin.follow(admin.post("/console/gateways/sandbox/credentials",
                                    SANDBOX_CREDENTIALS))
    text = text_of(saved.text)
    assert "Credentials saved and checked with the gateway." in text
    assert SANDBOX_CREDENTIALS["secret"] not in saved.text  # shown masked only
    assert "/v1/webhooks/sandbox/" in saved.text  # the URL to paste

    posted = admin.post("/console/gateways/sandbox/connect", {})
    assert posted.status_code == 303  # reloading the page that follows starts no second test
    started = admin.follow(posted)
    assert "Open the test payment" in text_of(started.text)
    redirect = sandbox_link(started.text)
    api.payer_acts(redirect)
    page = admin.get("/console/gateways")
    assert "Connected" in text_of(page.text) and sandbox(api)["connected"]


def sandbox_link(html: str) -> str:
    import re
    return re.search(r'href="([^"]+)" target="_blank"', html).group(1).replace("&amp;", "&")


def test_cashier_records_a_cash_payment_with_change(connected_api):
    api = connected_api
    cashier = signed_in(api, "cso_executive")
    found = cashier.get("/console/payments/new", query_string="q=john")
    assert "John Doe" in text_of(found.text) and "WU-10001" in found.text
    form = cashier.get("/console/payments/new", query_string="account=WU-10001")
    assert 'value="walk-in" selected' in form.text  # the channel defaults to walk-in
    result = cashier.post("/console/payments/new", [
        ("account_number", "WU-10001"), ("channel", "walk-in"), ("payment_type", "bill"),
        ("reference", "INV-2025-001234"), ("method", "cash"), ("amount_received", "150.00"),
        ("paid_on", "2025-01-15"),
        ("change_given", "4.50"), ("notes", "paid at the counter")])
    assert result.status_code == 303, text_of(result.text)
    done = cashier.follow(result)
    text = text_of(done.text)
    assert "Payment recorded" in text and "Record Another Payment" in text
    assert "$145.50" in text and "$4.50" in text
    payment = api.get("/v1/payments").json["items"][0]
    assert payment["status"] == "posted" and payment["change_given"]["decimal"] == "4.50"
    assert payment["amount"]["decimal"] == "145.50"
    items = api.get("/v1/consumers/WU-10001/payables").json["items"]
    assert "INV-2025-001234" not in {i["reference"] for i in items}


def test_a_refused_counter_payment_names_the_field_and_records_nothing(connected_api):
    api = connected_api
    cashier = signed_in(api, "cso_executive")
    cashier.get("/console/payments/new", query_string="account=WU-10001")
    result = cashier.post("/console/payments/new", [
        ("account_number", "WU-10001"), ("payment_type", "bill"), ("method", "card"),
        ("amount_received", "150.00"), ("change_given", "4.50")])
    assert result.status_code == 422
    assert field_message(result.text, "change_given") == "Change is given only for cash."
    assert 'value="150.00"' in result.text  # what was typed stays
    assert api.get("/v1/payments").json["total"] == 0


def test_a_double_submitted_record_form_records_once(connected_api):
    api = connected_api
    cashier = signed_in(api, "cso_admin")
    cashier.get("/console/payments/new", query_string="account=WU-10001")
    page = cashier.page
    fields = [("account_number", "WU-10001"), ("payment_type", "service"), ("method", "cash"),
              ("amount_received", "25.00"), ("paid_on", "2025-01-15")]
    assert cashier.post("/console/payments/new", fields).status_code == 303
    cashier.page = page
    assert cashier.post("/console/payments/new", fields).status_code == 303
    assert api.get("/v1/payments").json["total"] == 1


def record(api, amount: str = "145.50") -> str:
    body = {"account_number": "WU-10001", "payment_type": "bill", "method": "cash",
            "amount_received": amount, "references": ["INV-2025-001234"],
            "paid_on": "2025-01-15"}
    return api.post("/v1/payments/counter", body).json["information"]["number"]


def test_payments_list_searches_and_filters_and_opens_the_details(connected_api):
    api = connected_api
    number = record(api)
    staff = signed_in(api, "cso_executive")
    listed = staff.get("/console/payments", query_string="q=john&method=cash&status=posted")
    assert "1 payment" in text_of(listed.text) and number in listed.text
    empty = staff.get("/console/payments", query_string="q=john&method=card")
    assert "No payments match." in text_of(empty.text)
    details = text_of(staff.get(f"/console/payments/{number}").text)
    for section in ("Payment information", "Destination details", "Amount analysis",
                    "Cash details", "Credit notes", "Transaction", "Processing", "Consumer"):
        assert section in details
    assert "INV-2025-001234" in details


def test_a_double_submitted_credit_note_awaiting_approval_is_one_request(connected_api):
    """Approving two copies of one request would issue the note twice."""
    api = connected_api
    assert api.put("/v1/settings", {"approvals": {"credit_note_above": "50.00"}}
                   ).status_code == 200
    number = record(api, "145.50")
    manager = signed_in(api, "billing_manager")
    manager.get(f"/console/payments/{number}")
    page = manager.page
    fields = {"amount": "80.00", "reason": "Billing Error", "remarks": ""}
    assert manager.post(f"/console/payments/{number}/credit-notes", fields).status_code == 303
    manager.page = page  # the browser's back button, then submit again
    assert manager.post(f"/console/payments/{number}/credit-notes", fields).status_code == 303
    pending = api.get("/v1/approvals", role="tenant_admin").json["items"]
    assert [(a["kind"], a["status"]) for a in pending] == [("credit_note", "pending")]


def test_billing_manager_issues_and_applies_a_credit_note(connected_api):
    api = connected_api
    number = record(api, "145.50")
    manager = signed_in(api, "billing_manager")
    manager.get(f"/console/payments/{number}")
    issued = manager.follow(manager.post(f"/console/payments/{number}/credit-notes",
                                         {"amount": "20.00", "reason": "Billing Error",
                                          "remarks": "meter misread"}))
    assert "Credit note issued." in text_of(issued.text)
    note = api.get("/v1/credit-notes").json["items"][0]
    assert note["amount"]["decimal"] == "20.00"
    listed = manager.get("/console/credit-notes", query_string="status=active")
    assert note["number"] in listed.text
    manager.get(f"/console/credit-notes/{note['number']}")
    applied = manager.follow(manager.post(f"/console/credit-notes/{note['number']}/apply",
                                          {"item": "service:SRV-LATE-0001", "amount": "5.00"}))
    assert "Credit applied." in text_of(applied.text)
    after = api.get(f"/v1/credit-notes/{note['number']}").json
    assert after["remaining"]["decimal"] == "15.00"
    assert after["applications"][0]["reference"] == "SRV-LATE-0001"


def test_consumer_pays_two_bills_through_the_sandbox_and_sees_the_receipt(connected_api):
    api = connected_api
    consumer = signed_in(api, "consumer")
    consumer.get("/console/bills")
    result = consumer.post("/console/bills/pay", [
        ("item", "bill:INV-2025-001234"), ("item", "bill:INV-2025-001567"),
        ("gateway", "sandbox")])
    assert result.status_code == 303
    back = api.payer_acts(result.headers["location"])  # pays on the sandbox's page
    parts = urlsplit(back)
    landing = consumer.client.simulate_get(parts.path, query_string=parts.query,
                                           headers={"Accept": "text/html"})
    assert "Payment successful" in text_of(landing.text)
    assert "$297.75" in text_of(landing.text)
    mine = api.get("/v1/me/payments", role="consumer").json["items"][0]
    assert mine["amount"]["decimal"] == "297.75"
    pending = consumer.get(f"/console/my-payments/{mine['number']}")
    assert "Payment Successful" in text_of(pending.text) and "Receipt" not in pending.text
    api.settle()  # the gateway pays out: completed, the receipt is ready
    receipt = text_of(consumer.get(f"/console/my-payments/{mine['number']}").text)
    assert "Payment Completed" in receipt and "Receipt R-" in receipt
    assert "INV-2025-001567" in receipt and "Total $297.75" in receipt


def test_paying_nothing_is_refused_on_the_page(connected_api):
    consumer = signed_in(connected_api, "consumer")
    consumer.get("/console/bills")
    result = consumer.post("/console/bills/pay", [("gateway", "sandbox")])
    assert result.status_code == 422
    assert "Select at least one item to pay." in text_of(result.text)


def test_dashboard_shows_todays_collections_and_todos_resolve(connected_api, ctx):
    api = connected_api
    record(api, "150.00")
    with ctx.transaction() as session:  # a to-do as the worker raises them
        todos.raise_todo(session, api.tenant_id, "settlement.mismatch",
                           "Settlement differs", "the bank paid 1.00 less", "payment", "PAY-9")
    manager = signed_in(api, "billing_manager")
    page = text_of(manager.get("/console/dashboard").text)
    assert "Collected today $150.00" in page and "Open to-dos 1" in page
    manager.get("/console/todos")
    assert "Settlement differs" in text_of(manager.page)
    todo_id = api.get("/v1/todos").json["items"][0]["id"]
    resolved = manager.follow(manager.post(f"/console/todos/{todo_id}/resolve",
                                           {"resolution": "bank fee, booked"}))
    assert "To-do resolved." in text_of(resolved.text)
    assert api.get("/v1/todos", query_string="status=resolved").json["items"][0][
        "resolution"] == "bank fee, booked"


def test_verify_asks_the_gateway_about_an_online_payment(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer").json
    api.payer_acts(started["redirect_url"])
    number = started["payment"]["number"]
    staff = signed_in(api, "cso_executive")
    staff.get(f"/console/payments/{number}")
    assert "Verify" in staff.page
    checked = staff.follow(staff.post(f"/console/payments/{number}/verify", {}))
    assert "Checked with the gateway." in text_of(checked.text)
    assert api.get(f"/v1/payments/{number}").json["processing"]["verification"] == "verified"
