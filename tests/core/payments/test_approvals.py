"""Approval controls over HTTP: refunds and credit notes above the tenant's thresholds wait
for a second person with an approving role; the maker never decides their own (one key is
one person, two unnamed keys of one role are two); a request retried after its answer was
lost waits once; a request that could never be carried out, alone or after the requests
already waiting on its payment, is refused, not kept; one that no longer fits when it is
approved moves nothing and stays pending."""

from __future__ import annotations

import datetime as dt

import pytest
from support.api import api, fields  # noqa: F401 - fixture

from loket.core import audit, tenants


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


class _Died(BaseException):
    """The process serving the request is gone (nothing after this point runs)."""


class _DiesAfterItsCommit:
    """Kills the first request after its work committed, before its answer was stored."""

    def __init__(self):
        self.armed = True

    def process_response(self, req, resp, resource, req_succeeded):
        if self.armed:
            self.armed = False
            raise _Died()


@pytest.mark.parametrize("path, body", [
    ("refunds", {"amount": "60.00"}),
    ("credit-notes", {"amount": "60.00", "reason": "Billing Error"})])
def test_a_request_retried_after_its_answer_was_lost_waits_once(guarded, path, body):
    api, number = guarded
    api.client.app.add_middleware(_DiesAfterItsCommit())
    headers = {"Idempotency-Key": "asked-1"}
    with pytest.raises(_Died):
        api.post(f"/v1/payments/{number}/{path}", body, role="billing_manager",
                 headers=headers)
    start = api.ctx.now()  # the first request's claim lapses: a retry takes it over
    api.ctx.clock = lambda: start + dt.timedelta(
        seconds=api.ctx.config.idempotency_lease_seconds + 1)
    retry = api.post(f"/v1/payments/{number}/{path}", body, role="billing_manager",
                     headers=headers)
    assert retry.status_code == 202, retry.text
    pending = api.get("/v1/approvals", role="tenant_admin").json["items"]
    assert [p["id"] for p in pending] == [retry.json["approval"]["id"]]


@pytest.mark.parametrize("path, body", [
    ("refunds", {"amount": "145.51"}),
    ("credit-notes", {"amount": "145.51", "reason": "Billing Error"})])
def test_a_request_that_could_never_be_carried_out_is_refused_not_kept(guarded, path, body):
    api, number = guarded
    refused = api.post(f"/v1/payments/{number}/{path}", body, role="billing_manager")
    assert refused.status_code == 422 and fields(refused) == {"amount"}, refused.text
    assert "145.50" in refused.json["detail"]
    assert api.get("/v1/approvals", role="tenant_admin").json["items"] == []


def test_one_key_is_one_person_and_two_unnamed_keys_of_a_role_are_two(guarded):
    api, number = guarded
    with api.ctx.transaction() as session:
        first, second = (tenants.create_api_key(session, audit.SYSTEM, api.tenant_id,
                                                "tenant_admin") for _ in range(2))
        alice, alices_other = (tenants.create_api_key(session, audit.SYSTEM, api.tenant_id,
                                                      "tenant_admin", "Alice")
                               for _ in range(2))

    def post(key, path, body):
        return api.client.simulate_post(path, json=body,
                                         headers={"Authorization": f"Bearer {key}"})

    for maker, other, decided in ((first, second, 200), (alice, alices_other, 403)):
        asked = post(maker, f"/v1/payments/{number}/refunds", {"amount": "60.00"})
        assert asked.status_code == 202, asked.text
        path = f"/v1/approvals/{asked.json['approval']['id']}/approve"
        assert post(maker, path, {}).status_code == 403
        assert post(other, path, {}).status_code == decided  # Alice's other key is Alice


@pytest.mark.parametrize("path, body", [
    ("refunds", {"amount": "100.00"}),
    ("credit-notes", {"amount": "100.00", "reason": "Billing Error"})])
def test_a_request_the_ones_waiting_leave_no_room_for_is_refused(guarded, path, body):
    api, number = guarded
    first = api.post(f"/v1/payments/{number}/refunds", {"amount": "60.00"},
                     role="billing_manager")
    assert first.status_code == 202, first.text
    refused = api.post(f"/v1/payments/{number}/{path}", body, role="billing_manager")
    assert refused.status_code == 422 and fields(refused) == {"amount"}, refused.text
    assert "at most $85.50" in refused.json["detail"]
    room = api.post(f"/v1/payments/{number}/{path}", {**body, "amount": "85.50"},
                    role="billing_manager")
    assert room.status_code == 202, room.text
    for asked in (first, room):  # both fit: both are carried out
        done = api.post(f"/v1/approvals/{asked.json['approval']['id']}/approve", {},
                        role="cso_admin")
        assert done.status_code == 200, done.text
    detail = api.get(f"/v1/payments/{number}").json
    given_back = detail["information"]["refunded"]["amount"] + sum(
        n["amount"]["amount"] for n in detail["credit_notes"])
    assert given_back == 14550


def test_a_rejected_request_makes_room_again(guarded):
    api, number = guarded
    first = api.post(f"/v1/payments/{number}/refunds", {"amount": "100.00"},
                     role="billing_manager")
    assert api.post(f"/v1/payments/{number}/refunds", {"amount": "100.00"},
                    role="billing_manager").status_code == 422
    assert api.post(f"/v1/approvals/{first.json['approval']['id']}/reject",
                    {"note": "wrong payment"}, role="cso_admin").status_code == 200
    assert api.post(f"/v1/payments/{number}/refunds", {"amount": "100.00"},
                    role="billing_manager").status_code == 202


def test_a_request_that_no_longer_fits_is_refused_when_approved_and_moves_nothing(guarded):
    api, number = guarded
    asked = api.post(f"/v1/payments/{number}/refunds", {"amount": "100.00"},
                     role="billing_manager")
    assert asked.status_code == 202, asked.text
    at_once = api.post(f"/v1/payments/{number}/refunds", {"amount": "50.00"},
                       role="billing_manager")  # not above the threshold: not held back
    assert at_once.status_code == 201, at_once.text
    path = f"/v1/approvals/{asked.json['approval']['id']}"
    refused = api.post(f"{path}/approve", {}, role="cso_admin")
    assert refused.status_code == 422 and fields(refused) == {"amount"}, refused.text
    assert "at most $95.50" in refused.json["detail"]
    assert api.get(f"/v1/payments/{number}").json["information"]["refunded"][
        "decimal"] == "50.00"
    (waiting,) = api.get("/v1/approvals", role="tenant_admin").json["items"]
    assert (waiting["id"], waiting["status"], waiting["result"]) == (
        asked.json["approval"]["id"], "pending", None)
    assert api.post(f"{path}/reject", {"note": "refunded in part already"},
                    role="cso_admin").json["status"] == "rejected"


def test_a_disputes_loss_waits_whatever_waits_and_counts_against_later_requests(guarded):
    api, number = guarded
    refund = api.post(f"/v1/payments/{number}/refunds", {"amount": "100.00"},
                      role="billing_manager")
    dispute = api.post(f"/v1/payments/{number}/disputes", {"reason": "chargeback"}).json
    assert api.post(f"/v1/disputes/{dispute['id']}/status",
                    {"status": "under_review"}).status_code == 200
    loss = api.post(f"/v1/disputes/{dispute['id']}/status", {"status": "lost"})
    assert loss.status_code == 202, loss.text  # the bank decided: never refused
    later = api.post(f"/v1/payments/{number}/refunds", {"amount": "60.00"},
                     role="billing_manager")
    assert later.status_code == 422 and fields(later) == {"amount"}, later.text
    for asked in (refund, loss):
        done = api.post(f"/v1/approvals/{asked.json['approval']['id']}/approve", {},
                        role="tenant_admin")
        assert done.status_code == 200, done.text
    lost = api.get(f"/v1/disputes/{dispute['id']}").json
    assert lost["amount_taken_back"]["decimal"] == "45.50"  # what the refund left
    assert api.get(f"/v1/payments/{number}").json["information"]["refunded"][
        "decimal"] == "145.50"
