"""The dispute pages keep to the API's limits: a reason longer than its 200 characters or a
note longer than 2000 is named on the page and nothing is stored (no server error). A
dispute the gateway reported offers no move that closes it, and a loss above the refund
threshold waits for a second person."""

from __future__ import annotations

from support.console import counter_payment, signed_in, text_of
from support.forms import field_message

from loket.core import audit
from loket.core.backoffice import queries
from loket.core.payments import disputes
from loket.types import EventType, GatewayEvent


def test_a_reason_or_notes_past_the_apis_limits_are_named_and_nothing_is_opened(api):
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    manager.get("/console/disputes/new", query_string=f"payment={number}")
    long_reason = manager.post("/console/disputes/new", {"payment": number,
                                                         "reason": "r" * 201})
    assert long_reason.status_code == 422
    assert field_message(long_reason.text, "reason") == "Too long: at most 200 characters."
    long_notes = manager.post("/console/disputes/new", {"payment": number, "reason": "meter",
                                                        "notes": "n" * 2001})
    assert long_notes.status_code == 422
    assert field_message(long_notes.text, "notes") == "Too long: at most 2000 characters."
    assert api.get("/v1/disputes").json["total"] == 0
    opened = manager.post("/console/disputes/new", {"payment": number, "reason": "r" * 200})
    assert opened.status_code == 303, text_of(opened.text)
    assert api.get("/v1/disputes").json["items"][0]["reason"] == "r" * 200


def test_a_note_past_the_apis_limit_is_named_and_not_kept(api):
    number = counter_payment(api)
    opened = api.post(f"/v1/payments/{number}/disputes", {"reason": "meter misread"})
    path = f"/console/disputes/{opened.json['id']}"
    manager = signed_in(api, "billing_manager")
    manager.get(path)
    for action, fields, field in (("notes", {"note": "n" * 2001}, "note"),
                                  ("status", {"status": "under_review", "note": "n" * 2001},
                                   "move-note")):
        refused = manager.post(f"{path}/{action}", fields)
        assert refused.status_code == 422
        assert field_message(refused.text, field) == "Too long: at most 2000 characters."
    shown = api.get(f"/v1/disputes/{opened.json['id']}").json
    assert shown["status"] == "open" and len(shown["history"]) == 1


def test_a_dispute_the_gateway_reported_is_not_closed_at_the_console(api):
    number = counter_payment(api)
    with api.ctx.transaction() as session:
        disputes.apply_gateway_event(api.ctx, session, audit.SYSTEM, queries.payment(
            session, api.tenant_id, number), GatewayEvent(
            event_id="ev-1", type=EventType.DISPUTE_UNDER_REVIEW, dispute_reference="dp_1"))
    (dispute,) = api.get("/v1/disputes").json["items"]
    path = f"/console/disputes/{dispute['id']}"
    manager = signed_in(api, "billing_manager")
    page = manager.get(path)
    assert 'name="note"' in page.text and 'value="lost"' not in page.text
    assert f'action="{path}/status"' not in page.text  # nothing it may move to
    refused = manager.post(f"{path}/status", {"status": "lost"})
    assert refused.status_code == 409
    assert "decided by the gateway" in text_of(refused.text)
    assert api.get(f"/v1/disputes/{dispute['id']}").json["status"] == "under_review"


def test_a_loss_above_the_refund_threshold_waits_for_approval(api):
    assert api.put("/v1/settings", {"approvals": {"refund_above": "50.00"}}).status_code == 200
    number = counter_payment(api)
    opened = api.post(f"/v1/payments/{number}/disputes", {"reason": "chargeback"}).json
    api.post(f"/v1/disputes/{opened['id']}/status", {"status": "under_review"})
    path = f"/console/disputes/{opened['id']}"
    manager = signed_in(api, "billing_manager")
    manager.get(path)
    moved = manager.post(f"{path}/status", {"status": "lost"})
    assert moved.status_code == 303 and moved.headers["location"].endswith("done=waiting")
    assert "waits for a second person" in text_of(manager.follow(moved).text)
    (waiting,) = api.get("/v1/approvals", role="tenant_admin").json["items"]
    assert (waiting["kind"], waiting["amount"]["decimal"]) == ("dispute_loss", "145.50")
    assert api.get(f"/v1/disputes/{opened['id']}").json["status"] == "under_review"


def test_the_disputed_amount_is_read_as_the_console_writes_it(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    form = manager.get("/console/disputes/new", query_string=f"payment={number}")
    assert 'placeholder="mis. 1.500,00"' in form.text
    refused = manager.post("/console/disputes/new", {"payment": number, "reason": "meter",
                                                     "amount": "45.50.0"})
    assert refused.status_code == 422
    assert field_message(refused.text, "amount") == ("Jumlah yang disengketakan: ini bukan "
                                                     "jumlah uang. Tulis seperti 1.500,00 "
                                                     "atau 1500.")
    assert api.get("/v1/disputes").json["total"] == 0
    opened = manager.post("/console/disputes/new", {"payment": number, "reason": "meter",
                                                    "amount": "45,50"})
    assert opened.status_code == 303, text_of(opened.text)
    assert api.get("/v1/disputes").json["items"][0]["amount"]["amount"] == 4550
