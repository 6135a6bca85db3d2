"""What each refund result of the gateway does to the payment: ``succeeded`` shows it
refunded at once; ``pending`` holds the amount (nothing refunded, no bill reopened) until
the gateway's ``payment.refunded`` event confirms it or ``refund.failed`` says it failed;
``failed`` is a refusal: a to-do for a manual refund, nothing recorded."""

import pytest
from sqlalchemy import select
from support.engine import ACTOR, ADMIN, connect_sandbox, deliver, outstanding, payer, reload, start

from loket import hookimpl
from loket.core.models import Approval, GatewayConfiguration, Payment, Refund, Todo
from loket.core.payments import approvals, refunds
from loket.core.webhooks import outcomes
from loket.errors import GatewayError, RefundNotPossible, ValidationFailed
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


class Lossy:
    """A gateway that refunds once per refund id (as Stripe and DOKU do) and whose first
    answer is lost on the way back (a timeout)."""

    LOKET_CONTRACT = "1.3"

    def __init__(self):
        self.made: dict[str, int] = {}
        self.asked: list[str] = []
        self.lose_next, self.refuse_next = True, False

    @hookimpl(tryfirst=True)
    def loket_gateway_refund(self, config, request):
        self.asked.append(request.refund_id)
        if self.refuse_next:
            self.refuse_next = False
            return RefundResult(refund_reference=None, status="failed", raw={})
        self.made.setdefault(request.refund_id, request.amount.amount)
        if self.lose_next:
            self.lose_next = False
            raise GatewayError("the gateway did not answer", category="network")
        return RefundResult(refund_reference=f"re-{request.refund_id}", status="succeeded",
                            raw={})


def refund_keyed(ctx, payment, key, amount="50.00"):
    with ctx.transaction() as session:
        return refunds.refund_payment(ctx, session, ACTOR, session.get(Payment, payment.id),
                                      amount, "requested_by_customer", idempotency_key=key)


def test_a_refund_retried_after_a_lost_answer_is_made_once(ctx, tenant_id, paid):
    gateway = Lossy()
    ctx.plugins.pm.register(gateway, name="lossy")
    try:
        with pytest.raises(GatewayError):
            refund_keyed(ctx, paid, "k-1")
        [(made_id, _)] = gateway.made.items()
        # The gateway's own event reports the refund it made meanwhile.
        gateway_says(ctx, paid, "payment.refunded", f"re-{made_id}", Money(5000, "USD"))
        refund_keyed(ctx, paid, "k-1")  # the client retries with its Idempotency-Key
    finally:
        ctx.plugins.pm.unregister(gateway)
    assert list(gateway.made.values()) == [5000]
    assert reload(ctx, paid).refunded == 5000


def test_each_refund_request_gets_an_id_of_its_own(ctx, tenant_id, paid):
    gateway = Lossy()
    gateway.lose_next, gateway.refuse_next = False, True
    ctx.plugins.pm.register(gateway, name="lossy")
    try:
        with pytest.raises(RefundNotPossible):
            refund_keyed(ctx, paid, "k-1", "10.00")  # refused: nothing recorded
        refund_keyed(ctx, paid, "k-1", "20.00")  # the refused key, used for another amount
        refund_keyed(ctx, paid, None, "30.00")
        refund_keyed(ctx, paid, None, "30.00")  # no key: another refund
    finally:
        ctx.plugins.pm.unregister(gateway)
    # A refused request's id is never asked for again with another refund.
    assert len(set(gateway.asked)) == 4
    assert sorted(gateway.made.values()) == [2000, 3000, 3000]
    assert reload(ctx, paid).refunded == 8000


def test_an_approved_refund_approved_again_after_a_lost_answer_is_made_once(ctx, tenant_id,
                                                                             paid):
    with ctx.transaction() as session:
        approval = approvals.request_approval(
            ctx, session, ACTOR, approvals.ApprovalKind.REFUND,
            session.get(Payment, paid.id), {"amount": "50.00", "reason": "duplicate"}).id
    gateway = Lossy()
    ctx.plugins.pm.register(gateway, name="lossy")
    try:
        for _ in range(2):  # the first answer is lost: the approval stays pending
            try:
                with ctx.transaction() as session:
                    approvals.approve(ctx, session, ADMIN, session.get(Approval, approval))
            except GatewayError:
                pass
    finally:
        ctx.plugins.pm.unregister(gateway)
    assert len(set(gateway.asked)) == 1 and list(gateway.made.values()) == [5000]
    assert reload(ctx, paid).refunded == 5000
