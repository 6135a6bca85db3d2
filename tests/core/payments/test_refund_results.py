"""What each refund result of the gateway does to the payment: ``succeeded`` shows it
refunded at once; ``pending`` holds the amount (nothing refunded, no bill reopened) until
the gateway's ``payment.refunded`` event confirms it or ``refund.failed`` says it failed;
``failed`` is a refusal: a to-do for a manual refund, nothing recorded."""

import pytest
from sqlalchemy import select
from support.engine import ACTOR, connect_sandbox, deliver, outstanding, payer, reload, start

from loket import hookimpl
from loket.core.models import GatewayConfiguration, Payment, Refund, Todo
from loket.core.payments import refunds
from loket.core.webhooks import outcomes
from loket.errors import RefundNotPossible, ValidationFailed
from loket.money import Money
from loket.types import GatewayEvent, RefundResult


class Answers:
    """The sandbox, except that its refunds answer ``status``."""

    LOKET_CONTRACT = "1.3"

    def __init__(self, status):
        self.status = status

    @hookimpl(tryfirst=True)
    def loket_gateway_refund(self, config, request):
        return RefundResult(refund_reference=f"rf-{request.refund_id}", status=self.status,
                            raw={"message": "Refund rejected by the issuer"})


@pytest.fixture
def paid(ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    payment = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    deliver(ctx, payer(ctx, payment, "pay"))
    return payment


def refund_with(ctx, payment, status, amount="145.50"):
    plugin = Answers(status)
    ctx.plugins.pm.register(plugin, name=f"answers-{status}")
    try:
        with ctx.transaction() as session:
            return refunds.refund_payment(ctx, session, ACTOR, session.get(Payment, payment.id),
                                          amount, "requested_by_customer")
    finally:
        ctx.plugins.pm.unregister(plugin)


PAID = Money(14550, "USD")


def gateway_says(ctx, payment, event_type, reference, amount=PAID):
    with ctx.transaction() as session:
        row = session.get(Payment, payment.id)
        config = session.get(GatewayConfiguration, row.gateway_configuration_id)
        return outcomes.apply_event(ctx, session, config, GatewayEvent(
            event_id=f"evt-{event_type}-{reference}", type=event_type, raw_status="refunded",
            payment_id=row.number, amount=amount, refund_reference=reference,
            failure_message="The bank returned the refund"))


def the_refund(ctx, payment):
    with ctx.transaction() as session:
        return session.scalar(select(Refund).where(Refund.payment_id == payment.id))


def test_a_pending_refund_shows_nothing_refunded_until_the_gateway_confirms(ctx, tenant_id,
                                                                           paid):
    refund_with(ctx, paid, "pending")
    held = reload(ctx, paid)
    assert (held.status, held.refunded) == ("succeeded", 0)
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 0  # the bill stays paid
    assert the_refund(ctx, paid).status == "pending"
    with pytest.raises(ValidationFailed, match="at most"):  # the held amount is not free
        refund_with(ctx, paid, "succeeded", "1.00")
    reference = the_refund(ctx, paid).gateway_reference
    assert gateway_says(ctx, paid, "payment.refunded", reference) == "applied"
    done = reload(ctx, paid)
    assert (done.status, done.refunded) == ("refunded", 14550)
    assert the_refund(ctx, paid).status == "succeeded"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 14550  # reopened now
    assert gateway_says(ctx, paid, "payment.refunded", reference) == "nothing"  # once


def test_a_pending_refund_that_fails_leaves_the_payment_paid(ctx, tenant_id, paid):
    refund_with(ctx, paid, "pending")
    reference = the_refund(ctx, paid).gateway_reference
    gateway_says(ctx, paid, "refund.failed", reference)
    after = reload(ctx, paid)
    assert (after.status, after.refunded) == ("succeeded", 0)
    assert the_refund(ctx, paid).status == "failed"
    assert outstanding(ctx, tenant_id, "INV-2025-001234") == 0
    with ctx.transaction() as session:
        assert session.scalar(select(Todo).where(Todo.kind == "payment.refund_failed"))
    refund_with(ctx, paid, "succeeded")  # the held amount is free again
    assert reload(ctx, paid).status == "refunded"


def test_a_failed_refund_result_is_a_manual_refund_and_records_nothing(ctx, tenant_id, paid):
    with pytest.raises(RefundNotPossible, match="refused the refund"):
        refund_with(ctx, paid, "failed")
    assert reload(ctx, paid).refunded == 0
    assert the_refund(ctx, paid) is None
    with ctx.transaction() as session:
        todo = session.scalar(select(Todo).where(Todo.kind == "payment.manual_refund"))
    assert "Refund rejected by the issuer" in todo.detail


def test_a_refund_reported_in_another_currency_is_a_to_do_not_a_refund(ctx, tenant_id, paid):
    gateway_says(ctx, paid, "payment.refunded", "re_jpy", Money(14550, "JPY"))
    assert reload(ctx, paid).refunded == 0 and the_refund(ctx, paid) is None
    with ctx.transaction() as session:
        todo = session.scalar(select(Todo).where(Todo.kind == "payment.refund_mismatch"))
    assert "JPY" in todo.detail and "USD" in todo.detail
