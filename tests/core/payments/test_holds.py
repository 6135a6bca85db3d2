"""A held payment (a tax form paid before its DLN exists) refunded while it waits: its
release applies what was received less what was refunded; one refunded in full has its hold
ended with nothing posted and raises no overdue-hold to-do."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from support.api import api, connected_api  # noqa: F401 - fixtures
from support.engine import ACTOR
from support.jobs import Clock

from loket.core.host import receivables
from loket.core.models import PaymentHold, Todo
from loket.core.payments import holds
from loket.core.payments.application import apply_intended
from loket.core.payments.posting import lock_payment
from loket.core.states import HoldState

DLN = "20269999999999"


@pytest.fixture
def held(connected_api):
    """The connected API with ``pay-a-tax-form`` routed, a clock the test moves, and a
    125.00 payment held for a form the host has not sent; returns (api, clock, number)."""
    api = connected_api
    clock = Clock()
    api.ctx.clock = clock
    routes = api.get("/v1/settings", role="tenant_admin").json["destinations"]
    routes["pay-a-tax-form"] = {"processor": "tax_form",
                                "fields": {"dln": "dln", "amount": "amount"}}
    assert api.put("/v1/settings", {"destinations": routes}).status_code == 200
    started = api.post("/v1/destinations/pay-a-tax-form/payments", {
        "account_number": "WU-10001", "gateway": "sandbox",
        "fields": {"dln": DLN, "amount": "125.00"}})
    assert started.status_code == 201, started.text
    api.payer_acts(started.json["redirect_url"])
    number = started.json["payment"]["number"]
    assert _detail(api, number)["processing"]["application_state"] == "held"
    return api, clock, number


def _detail(api, number) -> dict:
    return api.get(f"/v1/payments/{number}").json


def _refund(api, number, amount) -> None:
    refunded = api.post(f"/v1/payments/{number}/refunds", {"amount": amount},
                        role="billing_manager")
    assert refunded.status_code == 201, refunded.text


def _form_arrives(api):
    """The host sends the form (the API's upsert releases the payments held for it)."""
    arrived = api.post("/v1/host/receivables", {
        "account_number": "WU-10001", "kind": "tax_form", "reference": "F-LATE",
        "amount": "125.00", "attributes": {"dln": DLN}}, role="billing_manager")
    assert arrived.status_code == 200, arrived.text
    return arrived.json


def _posted(detail) -> dict[str, int]:
    return {d["reference"]: d["amount"]["amount"] for d in detail["destination_details"]
            if d["state"] == "posted"}


def _todos(api, kind) -> list[str]:
    with api.ctx.transaction() as session:
        return list(session.scalars(select(Todo.entity_id).where(Todo.kind == kind)))


def _hold_state(api) -> str:
    with api.ctx.transaction() as session:
        return session.scalars(select(PaymentHold.state)).one()


def test_a_partly_refunded_held_payment_applies_what_was_kept_when_its_form_arrives(held):
    api, _clock, number = held
    _refund(api, number, "25.00")
    arrived = _form_arrives(api)
    assert arrived["held_payments_applied"] == [number]
    assert arrived["status"] == "open"  # the form still owes what was given back
    after = _detail(api, number)
    assert after["processing"]["application_state"] == "applied"
    assert _posted(after) == {"F-LATE": 10000}
    assert _hold_state(api) == HoldState.APPLIED
    assert _todos(api, "payment.apply_failed") == []


def test_a_partly_refunded_held_payment_applied_later_posts_what_was_kept(held):
    """What a deferred payment's service task and a retry of a failed application do:
    apply the payment once its form exists."""
    api, _clock, number = held
    _refund(api, number, "25.00")
    with api.ctx.transaction() as session:  # the form exists; nothing has released it yet
        receivables.upsert_receivable(session, ACTOR, api.tenant_id, {
            "account_number": "WU-10001", "kind": "tax_form", "reference": "F-LATE",
            "amount": "125.00", "attributes": {"dln": DLN}},
            api.ctx.plugins.attribute_schemas())
    with api.ctx.transaction() as session:
        row = session.scalars(select(PaymentHold)).one()
        apply_intended(api.ctx, session, lock_payment(session, row.payment_id))
    after = _detail(api, number)
    assert after["processing"]["application_state"] == "applied"
    assert _posted(after) == {"F-LATE": 10000}
    assert _todos(api, "payment.apply_failed") == []


def test_a_held_payment_refunded_in_full_raises_no_overdue_todo(held):
    api, clock, number = held
    _refund(api, number, "125.00")
    clock.advance(days=4)  # past the default 3 days
    assert holds.overdue_holds(api.ctx) == 0
    assert _todos(api, "payment.hold_timeout") == []
    assert _hold_state(api) == HoldState.APPLIED  # ended: nothing is held any more
    after = _detail(api, number)
    assert after["information"]["status"] == "refunded"
    assert after["processing"]["application_state"] == "applied"
    # the form arriving later takes nothing of it
    arrived = _form_arrives(api)
    assert arrived["held_payments_applied"] == [] and arrived["status"] == "open"
    assert _posted(_detail(api, number)) == {}


def test_a_held_payment_refunded_in_full_ends_its_hold_when_its_form_arrives(held):
    api, clock, number = held
    _refund(api, number, "125.00")
    arrived = _form_arrives(api)
    assert arrived["held_payments_applied"] == [] and arrived["status"] == "open"
    assert _hold_state(api) == HoldState.APPLIED
    assert _posted(_detail(api, number)) == {}
    assert _todos(api, "payment.apply_failed") == []
    clock.advance(days=4)
    assert holds.overdue_holds(api.ctx) == 0


def test_a_partly_refunded_held_payment_still_waiting_raises_the_overdue_todo(held):
    api, clock, number = held
    _refund(api, number, "25.00")
    clock.advance(days=4)
    assert holds.overdue_holds(api.ctx) == 1
    assert _todos(api, "payment.hold_timeout") == [number]
