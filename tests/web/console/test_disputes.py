"""The dispute pages keep to the API's limits: a reason longer than its 200 characters or a
note longer than 2000 is named on the page and nothing is stored (no server error)."""

from __future__ import annotations

from support.console import counter_payment, signed_in, text_of


def test_a_reason_or_notes_past_the_apis_limits_are_named_and_nothing_is_opened(api):
    number = counter_payment(api)
    manager = signed_in(api, "billing_manager")
    manager.get("/console/disputes/new", query_string=f"payment={number}")
    long_reason = manager.post("/console/disputes/new", {"payment": number,
                                                         "reason": "r" * 201})
    assert long_reason.status_code == 422
    assert "reason must be at most 200 characters" in text_of(long_reason.text)
    long_notes = manager.post("/console/disputes/new", {"payment": number, "reason": "meter",
                                                        "notes": "n" * 2001})
    assert long_notes.status_code == 422
    assert "notes must be at most 2000 characters" in text_of(long_notes.text)
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
    for action, fields in (("notes", {"note": "n" * 2001}),
                           ("status", {"status": "under_review", "note": "n" * 2001})):
        refused = manager.post(f"{path}/{action}", fields)
        assert refused.status_code == 422
        assert "note must be at most 2000 characters" in text_of(refused.text)
    shown = api.get(f"/v1/disputes/{opened.json['id']}").json
    assert shown["status"] == "open" and len(shown["history"]) == 1
