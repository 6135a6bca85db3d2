"""Approval controls over HTTP: refunds and credit notes above the tenant's thresholds wait
for a second person with an approving role; the maker never decides their own."""

from __future__ import annotations

import pytest
from support.api import api, fields  # noqa: F401 - fixture


@pytest.fixture
def guarded(api):
    """Thresholds of 50.00 for refunds and credit notes; a 145.50 cash payment."""
    saved = api.put("/v1/settings", {"approvals": {"refund_above": "50.00",
                                                   "credit_note_above": "50.00"}})
    assert saved.status_code == 200, saved.text
    paid = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "145.50",
        "references": ["INV-2025-001234"]})
    assert paid.status_code == 201, paid.text
    return api, paid.json["information"]["number"]


def test_a_refund_above_the_threshold_waits_and_a_second_person_approves_it(guarded):
    api, number = guarded
    small = api.post(f"/v1/payments/{number}/refunds", {"amount": "10.00"},
                     role="billing_manager")
    assert small.status_code == 201  # at or below the threshold: at once
    asked = api.post(f"/v1/payments/{number}/refunds", {"amount": "60.00", "reason": "x"},
                     role="billing_manager")
    assert asked.status_code == 202, asked.text
    approval = asked.json["approval"]
    assert (approval["status"], approval["kind"], approval["maker"]) == (
        "pending", "refund", "test billing_manager")
    refunded = api.get(f"/v1/payments/{number}").json["information"]["refunded"]
    assert refunded["decimal"] == "10.00"  # nothing moved yet
    assert [a["id"] for a in api.get("/v1/approvals", role="tenant_admin").json["items"]] == [
        approval["id"]]
    path = f"/v1/approvals/{approval['id']}"
    assert api.post(f"{path}/approve", {}, role="billing_manager").status_code == 403  # role
    done = api.post(f"{path}/approve", {"note": "checked the receipt"}, role="cso_admin")
    assert done.status_code == 200, done.text
    assert (done.json["status"], done.json["checker"]) == ("approved", "test cso_admin")
    refunded = api.get(f"/v1/payments/{number}").json["information"]["refunded"]
    assert refunded["decimal"] == "70.00"
    assert api.post(f"{path}/approve", {}, role="tenant_admin").status_code == 409
    trail = api.get(f"/v1/audit/approval/{approval['id']}", role="tenant_admin").json["items"]
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("approval.requested", "test billing_manager"), ("approval.approved", "test cso_admin")]


def test_the_maker_cannot_approve_their_own_and_a_rejection_moves_nothing(guarded):
    api, number = guarded
    asked = api.post(f"/v1/payments/{number}/credit-notes", {
        "amount": "80.00", "reason": "Billing Error"}, role="cso_admin")
    assert asked.status_code == 202, asked.text
    path = f"/v1/approvals/{asked.json['approval']['id']}"
    own = api.post(f"{path}/approve", {}, role="cso_admin")
    assert own.status_code == 403 and "maker" in own.json["detail"]
    assert fields(api.post(f"{path}/reject", {}, role="tenant_admin")) == {"note"}
    rejected = api.post(f"{path}/reject", {"note": "no billing error"}, role="tenant_admin")
    assert rejected.json["status"] == "rejected"
    assert api.get(f"/v1/payments/{number}").json["credit_notes"] == []
    assert api.get("/v1/approvals").json["items"] == []
    assert api.get("/v1/approvals?status=rejected").json["total"] == 1


def test_an_approved_credit_note_is_issued(guarded):
    api, number = guarded
    asked = api.post(f"/v1/payments/{number}/credit-notes", {
        "amount": "80.00", "reason": "Billing Error", "remarks": "meter misread"},
        role="billing_manager")
    done = api.post(f"/v1/approvals/{asked.json['approval']['id']}/approve", {},
                    role="tenant_admin")
    assert done.status_code == 200, done.text
    note = done.json["result"]["credit_note"]
    detail = api.get(f"/v1/credit-notes/{note}").json
    assert (detail["amount"]["decimal"], detail["remarks"]) == ("80.00", "meter misread")
