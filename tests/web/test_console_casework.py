"""The back office's casework screens through their forms (disputes, approvals, payment
links, reconciliation, auto-pay, the trend chart and the PDF buttons), each checked against
what the API then reports."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from urllib.parse import urlsplit

from pypdf import PdfReader
from support.console import Person, text_of
from support.forms import field_message

from loket.gateways import sandbox_page


def signed_in(api, role: str) -> Person:
    person = Person(client=api.client)
    person.follow(person.sign_in(api.consumer_token if role == "consumer" else api.keys[role]))
    return person


def counter_payment(api, amount: str = "145.50") -> str:
    made = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": amount, "references": ["INV-2025-001234"], "paid_on": "2025-01-15"})
    assert made.status_code == 201, made.text
    return made.json["information"]["number"]


def test_a_dispute_is_opened_on_a_payment_reviewed_and_lost(api):
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    detail = manager.get(f"/console/payments/{number}")
    assert "Open a dispute" in text_of(detail.text)
    manager.get("/console/disputes/new", query_string=f"payment={number}")
    refused = manager.post("/console/disputes/new", {"payment": number, "reason": "",
                                                     "amount": "20.00"})
    assert refused.status_code == 422
    assert field_message(refused.text, "reason") == "This field is required."
    opened = manager.follow(manager.post("/console/disputes/new", {
        "payment": number, "reason": "Customer says the meter was misread",
        "amount": "20.00", "notes": "called on Monday"}))
    assert "Dispute opened." in text_of(opened.text)
    dispute_id = api.get("/v1/disputes").json["items"][0]["id"]
    path = f"/console/disputes/{dispute_id}"
    manager.follow(manager.post(f"{path}/notes", {"note": "meter photo received"}))
    manager.follow(manager.post(f"{path}/status", {"status": "under_review", "note": ""}))
    done = manager.follow(manager.post(f"{path}/status", {"status": "lost",
                                                          "note": "the bank sided with them"}))
    text = text_of(done.text)
    assert "Dispute updated." in text and "Lost" in text
    assert re.search(r'data-testid="taken-back">\$20\.00<', done.text)
    shown = api.get(f"/v1/disputes/{dispute_id}").json
    assert shown["status"] == "lost" and shown["amount_taken_back"]["decimal"] == "20.00"
    assert [h["note"] for h in shown["history"]][1] == "meter photo received"
    again = manager.post(f"{path}/status", {"status": "won"})
    assert again.status_code == 409  # a closed dispute moves no more
    listed = manager.get("/console/disputes", query_string="status=lost")
    assert f"Dispute {dispute_id}" in text_of(listed.text)


def test_a_credit_note_above_the_threshold_waits_and_the_maker_cannot_approve_it(api):
    assert api.put("/v1/settings", {"approvals": {"credit_note_above": "10.00"}}).status_code \
        == 200
    number = counter_payment(api)
    maker = signed_in(api, "cso_admin")
    maker.get(f"/console/payments/{number}")
    waiting = maker.follow(maker.post(f"/console/payments/{number}/credit-notes", {
        "amount": "20.00", "reason": "Billing Error", "remarks": ""}))
    assert "waits for a second person" in text_of(waiting.text)
    assert api.get("/v1/credit-notes").json["total"] == 0
    page = maker.get("/console/approvals")
    assert "You asked for this: a second person must decide it." in text_of(page.text)
    approval_id = api.get("/v1/approvals", role="tenant_admin").json["items"][0]["id"]
    refused = maker.post(f"/console/approvals/{approval_id}/approve", {"note": "mine"})
    assert refused.status_code == 403
    assert "the maker of a request cannot decide it" in text_of(refused.text)
    checker = signed_in(api, "tenant_admin")
    checker.get("/console/approvals")
    done = checker.follow(checker.post(f"/console/approvals/{approval_id}/approve",
                                       {"note": "checked the invoice"}))
    assert "Approved and carried out." in text_of(done.text)
    notes = api.get("/v1/credit-notes").json["items"]
    assert len(notes) == 1 and notes[0]["amount"]["decimal"] == "20.00"
    decided = checker.get("/console/approvals", query_string="status=approved")
    assert "checked the invoice" in text_of(decided.text)


def test_a_payment_link_is_created_for_chosen_items_sent_and_cancelled(api):
    clerk = signed_in(api, "cso_executive")
    clerk.get("/console/payment-links", query_string="account=WU-10001")
    assert "INV-2025-001567" in clerk.page
    created = clerk.follow(clerk.post("/console/payment-links", [
        ("account_number", "WU-10001"), ("item", "bill:INV-2025-001567"),
        ("amount_policy", "full"), ("description", "March water"), ("channel", "email")]))
    assert "Payment link created." in text_of(created.text)
    link = api.get("/v1/payment-links").json["items"][0]
    assert link["channels"] == ["email"] and link["description"] == "March water"
    assert link["url"] in created.text and link["last_sent_at"]
    sent = clerk.follow(clerk.post(f"/console/payment-links/{link['id']}/send", {}))
    assert "Payment link sent." in text_of(sent.text)
    bad = clerk.post("/console/payment-links", [("account_number", "WU-10001"),
                                                ("amount_policy", "full"),
                                                ("minimum", "5.00")])
    assert bad.status_code == 422
    assert field_message(bad.text, "minimum") == "A minimum applies to partial links only."
    gone = clerk.follow(clerk.post(f"/console/payment-links/{link['id']}/cancel", {}))
    assert "Payment link cancelled." in text_of(gone.text)
    assert api.get(f"/v1/payment-links/{link['id']}").json["status"] == "cancelled"


def test_reconciliation_fetches_settlements_and_a_bank_line_matching_nothing_is_a_todo(
        connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    api.payer_acts(started.json["redirect_url"])
    sandbox_page.settle(api.sandbox_db())
    manager = signed_in(api, "billing_manager")
    page = manager.get("/console/reconciliation")
    assert "1 payment" in text_of(page.text) and "$145.50" in text_of(page.text)
    today = dt.date.today().isoformat()
    fetched = manager.post("/console/reconciliation", {"action": "fetch", "gateway": "sandbox",
                                                       "from": today, "to": today})
    assert fetched.status_code == 200
    assert re.search(r'data-testid="matched">1<', fetched.text)
    assert api.get(f"/v1/payments/{started.json['payment']['number']}").json[
        "information"]["display_status"] == "Payment Completed"
    statement = f"date,reference,amount,description\n{today},BANK-77,99.00,unknown credit\n"
    uploaded = upload(manager, "statement", "statement.csv", statement.encode())
    assert uploaded.status_code == 303, text_of(uploaded.text)
    shown = _when_read(manager)  # the worker reads it; the page follows its progress
    assert re.search(r'data-testid="unmatched">1<', shown.text)
    assert "BANK-77" in text_of(shown.text) and "statement.csv" in text_of(shown.text)
    assert api.get("/v1/todos", role="billing_manager").json["total"] == 1
    wrong = upload(manager, "report", "report.csv", b"a,b\n1,2\n", gateway="sandbox")
    assert wrong.status_code == 303
    assert "failed: the sandbox settlement report lacks the column(s)" in text_of(
        _when_read(manager).text)
    refused = upload(manager, "report", "report.exe", b"a,b\n1,2\n", gateway="sandbox")
    assert refused.status_code == 422 and "filename must end in" in text_of(refused.text)


def _when_read(person: Person):
    """The reconciliation page once no run is under way (it offers to look again until
    then)."""
    deadline = time.monotonic() + 60
    while True:
        page = person.get("/console/reconciliation")
        if 'data-testid="check-again"' not in page.text or time.monotonic() > deadline:
            assert 'data-testid="check-again"' not in page.text, "the run never finished"
            return page
        time.sleep(0.05)


def upload(person: Person, action: str, filename: str, content: bytes, **fields: str):
    """Submit one of the reconciliation forms with a file, as a browser does."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', person.page).group(1)
    boundary = "loketfile"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in [("csrf", csrf), ("action", action), *fields.items()]]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
                 + content + b"\r\n")
    return person.client.simulate_post(
        "/console/reconciliation", body=b"".join(parts) + f"--{boundary}--\r\n".encode(),
        headers=person._headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}))


def test_staff_see_an_accounts_autopay_and_the_consumer_elects_it(live):
    api, _base = live  # over real HTTP: the sandbox's mandate page calls loket back
    api.connect_sandbox()
    consumer = signed_in(api, "consumer")
    page = consumer.get("/console/my-autopay")
    assert "No saved payment method." in text_of(page.text)
    setup = consumer.post("/console/my-autopay", {"action": "setup", "gateway": "sandbox"})
    assert setup.status_code == 303 and "/sandbox/mandate/" in setup.headers["location"]
    page_path = urlsplit(setup.headers["location"]).path
    back = api.client.simulate_post(page_path, body="card=ok", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert back.status_code == 303
    returned = urlsplit(back.headers["location"])
    api.client.simulate_get(returned.path, query_string=returned.query)
    mandates = api.get("/v1/me/mandates", role="consumer").json["items"]
    assert mandates[0]["status"] == "active"
    consumer.get("/console/my-autopay")
    done = consumer.follow(consumer.post("/console/my-autopay", [
        ("action", "elect"), ("mandate", mandates[0]["id"]), ("item_kinds", "bill"),
        ("max_amount", "200.00"), ("active", "1")]))
    assert "Auto-pay saved." in text_of(done.text)
    staff = signed_in(api, "cso_executive")
    shown = staff.get("/console/autopay", query_string="account=WU-10001")
    assert mandates[0]["id"] in shown.text and "$200.00" in text_of(shown.text)


def test_the_dashboard_draws_the_months_trend_and_pdfs_download(api):
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    page = manager.get("/console/dashboard")
    assert 'data-testid="trend-chart"' in page.text and "<rect" in page.text
    today = api.ctx.now().date().isoformat()
    assert re.search(rf'data-testid="trend-{today}">\$145\.50<', page.text)
    detail = manager.get(f"/console/payments/{number}")
    receipt = re.search(r'href="(/console/payments/[^"]+/receipt\.pdf)"', detail.text).group(1)
    pdf = manager.get(receipt)
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "145.50" in text
    manager.post(f"/console/payments/{number}/credit-notes", {
        "amount": "5.00", "reason": "Billing Error", "remarks": ""})
    note = api.get("/v1/credit-notes").json["items"][0]["number"]
    manager.get(f"/console/credit-notes/{note}")
    assert f"/console/credit-notes/{note}/pdf" in manager.page
    note_pdf = manager.get(f"/console/credit-notes/{note}/pdf")
    assert note in PdfReader(io.BytesIO(note_pdf.content)).pages[0].extract_text()
