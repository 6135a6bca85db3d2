"""The same money never goes out twice, and what does not match is not completed.

Regression tests for defects a review found: refunds and manual credit notes sharing one
limit, retries after an amount mismatch, settlement amounts, return URLs across tenants,
currency changes, refund events without a refund id, payouts and refunds failing later.
"""

import pytest
from sqlalchemy import select
from support.engine import ACTOR, connect_sandbox, deliver, payer, post, reload, seed, start

from loket.core.backoffice import administration
from loket.core.gateway_configs import configs
from loket.core.models import CreditNote, Payment, Refund, Todo
from loket.core.payments import checkout, credit_notes, refunds, returns
from loket.core.settings import load_settings, save_settings
from loket.core.webhooks import outcomes
from loket.errors import NotFound, ValidationFailed
from loket.money import Money
from loket.types import GatewayEvent


def _refund(ctx, payment, amount):
    with ctx.transaction() as session:
        return refunds.refund_payment(ctx, session, ACTOR, session.get(Payment, payment.id),
                                      amount, "test")


def _note(ctx, payment, amount):
    with ctx.transaction() as session:
        return credit_notes.issue_credit_note(ctx, session, ACTOR,
                                              session.get(Payment, payment.id), amount, "Other")


def _apply(ctx, tenant_id, event):
    with ctx.transaction() as session:
        return outcomes.apply_event(ctx, session, configs.get_row(session, tenant_id, "sandbox"),
                                    event)


def _todos(ctx, kind):
    with ctx.transaction() as session:
        return session.scalars(select(Todo).where(Todo.kind == kind)).all()


def test_a_manual_credit_note_and_a_refund_share_one_limit(ctx, tenant_id):
    payment = post(ctx, tenant_id, amount_received="145.50", references=("INV-2025-001234",))
    _note(ctx, payment, "145.50")
    with pytest.raises(ValidationFailed, match="at most \\$0.00"):
        _refund(ctx, payment, "145.50")
    other = post(ctx, tenant_id, amount_received="152.25", references=("INV-2025-001567",))
    _refund(ctx, other, "145.00")
    with pytest.raises(ValidationFailed, match="at most \\$7.25"):
        _note(ctx, other, "145.50")
    assert _note(ctx, other, "7.25").amount == 725


def test_a_refund_cannot_take_back_credit_already_spent_elsewhere(ctx, tenant_id):
    payment = post(ctx, tenant_id, method="card", amount_received="225.50",
                   references=("INV-2025-001234",))  # 80.00 becomes an automatic credit note
    with ctx.transaction() as session:
        note = session.scalar(select(CreditNote).where(CreditNote.payment_id == payment.id))
        credit_notes.apply_credit_note(ctx, session, ACTOR, note, "bill", "INV-2025-001567")
    with pytest.raises(ValidationFailed, match="at most \\$145.50"):
        _refund(ctx, payment, "225.50")  # a clear 422, not an invariant failure
    assert _refund(ctx, payment, "145.50").status == "partially_refunded"


def test_no_retry_applies_money_the_gateway_did_not_take(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    _apply(ctx, tenant_id, GatewayEvent("evt-short", "payment.succeeded", "paid",
                                        payment_id=payment.number, amount=Money(1000, "USD")))
    assert reload(ctx, payment).application_state == "error"
    with pytest.raises(ValidationFailed, match="took \\$10.00, not \\$145.50"):
        with ctx.transaction() as session:
            administration.retry_application(ctx, session, ACTOR, session.get(Payment,
                                                                              payment.id))
    assert len(_todos(ctx, "payment.amount_mismatch")) == 1


def test_a_settlement_for_another_amount_completes_nothing(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    result = _apply(ctx, tenant_id, GatewayEvent(
        "evt-settle", "payment.settled", "settled", payment_id=payment.number,
        amount=Money(100, "USD"), payout_reference="po_1", details={"fee": 3, "net": 97}))
    assert result == outcomes.MISMATCH
    assert reload(ctx, payment).status == "succeeded"
    assert len(_todos(ctx, "settlement.amount_mismatch")) == 1


def test_a_return_url_only_reaches_its_own_tenants_payment(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    ours = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    other_tenant = seed(ctx, slug="t2")
    connect_sandbox(ctx, other_tenant)
    theirs = start(ctx, other_tenant, [("bill", "INV-2025-001234")])
    assert ours.number == theirs.number  # numbers are unique per tenant only
    _, cancel_url = configs.return_urls(ctx, other_tenant, theirs.number, theirs.created_at)
    sig = cancel_url.split("sig=")[1]
    tid = configs.verify_return(ctx, theirs.number, "cancel", sig)
    with ctx.transaction() as session:
        found = checkout.payment_for_return(session, tid, theirs.number)
        returns.handle_return(ctx, session, found, "cancel")
    assert reload(ctx, theirs).status == "failed" and reload(ctx, ours).status == "initiated"
    with pytest.raises(NotFound):
        configs.verify_return(ctx, theirs.number, "success", sig)


def test_the_currency_cannot_change_once_money_exists(ctx, tenant_id):
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        with pytest.raises(ValidationFailed) as info:
            save_settings(session, tenant_id, {**document, "currency": "JPY"})
    assert info.value.errors[0]["field"] == "$.currency"


def test_a_refund_event_without_a_refund_id_counts_once(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    event = GatewayEvent("evt-r", "payment.refunded", "refunded", payment_id=payment.number,
                         amount=Money(1000, "USD"))
    assert _apply(ctx, tenant_id, event) == outcomes.APPLIED
    assert _apply(ctx, tenant_id, event) == outcomes.NOTHING
    assert reload(ctx, payment).refunded == 1000


def test_a_failed_payout_named_by_reference_marks_its_payments(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    _apply(ctx, tenant_id, GatewayEvent("evt-s", "payment.settled", "settled",
                                        payment_id=payment.number, amount=Money(14550, "USD"),
                                        payout_reference="po_9"))
    assert reload(ctx, payment).settlement_status == "Success"
    assert _apply(ctx, tenant_id, GatewayEvent("evt-f", "settlement.failed", "payout failed",
                                               payout_reference="po_9")) == outcomes.APPLIED
    assert reload(ctx, payment).settlement_status == "Failed"
    assert len(_todos(ctx, "settlement.failed")) == 1


def test_a_refund_that_fails_later_and_a_declined_attempt(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    _apply(ctx, tenant_id, GatewayEvent("evt-d", "payment.pending", "open",
                                        payment_id=payment.number,
                                        failure_message="Your card was declined.",
                                        failure_code="card_declined"))
    declined = reload(ctx, payment)
    assert declined.status == "initiated"
    assert declined.gateway_details["last_declined_attempt"]["message"] == \
        "Your card was declined."
    deliver(ctx, payer(ctx, payment, "pay"))
    refunded = _refund(ctx, payment, "10.00")
    with ctx.transaction() as session:
        reference = session.scalars(select(Refund).where(
            Refund.payment_id == payment.id)).one().gateway_reference
    _apply(ctx, tenant_id, GatewayEvent("evt-rf", "refund.failed", "refund failed",
                                        payment_id=payment.number, refund_reference=reference))
    assert len(_todos(ctx, "payment.refund_failed")) == 1
    assert refunded.refunded == 1000


def test_an_item_chosen_twice_at_the_counter_is_refused(ctx, tenant_id):
    with pytest.raises(ValidationFailed) as info:
        post(ctx, tenant_id, amount_received="291.00",
             references=("INV-2025-001234", "INV-2025-001234"))
    assert info.value.errors[0]["field"] == "references"
