"""Online checkout through the sandbox gateway, and the gateway outcomes it leads to."""

import pytest
from sqlalchemy import select
from support.engine import connect_sandbox, deliver, outstanding, payer, reload, start, store

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import Allocation, AuditEntry, OutboxEvent, Payment, Todo
from loket.core.payments import returns, timeouts
from loket.core.webhooks import outcomes
from loket.errors import ValidationFailed
from loket.gateways import sandbox_page
from loket.plugin_api import GatewayError, hookimpl

BILLS = ("INV-2025-001234", "INV-2025-001567")


@pytest.fixture
def connected(ctx, tenant_id):
    return connect_sandbox(ctx, tenant_id)


def test_connect_marks_the_gateway_connected_and_refunds_the_test_payment(ctx, tenant_id):
    row = connect_sandbox(ctx, tenant_id)
    assert row.connected and row.active
    assert row.test_response["refund"]["status"] == "succeeded"
    with ctx.transaction() as session:
        test_payment = session.get(Payment, row.test_payment_id)
        assert (test_payment.amount, test_payment.status) == (100, "refunded")
        assert [g.kind for g in configs.usable_gateways(ctx, session, tenant_id)] == ["sandbox"]


def test_without_a_connected_gateway_checkout_is_refused(ctx, tenant_id):
    with pytest.raises(ValidationFailed, match="must be active and connected"):
        start(ctx, tenant_id, [("bill", BILLS[0])])
    with ctx.transaction() as session:
        assert configs.usable_gateways(ctx, session, tenant_id) == []


def test_paying_two_bills_clears_297_75_and_settlement_completes_it(ctx, tenant_id, connected):
    assert outstanding(ctx, tenant_id, *BILLS) == 29775
    payment = start(ctx, tenant_id, [("bill", BILLS[0]), ("bill", BILLS[1])])
    assert payment.status == "initiated" and payment.amount_received == 29775
    assert payment.redirect_url.startswith("http://testserver/sandbox/checkout/")
    assert outstanding(ctx, tenant_id, *BILLS) == 29775  # nothing moves before the gateway

    assert deliver(ctx, payer(ctx, payment, "pay")).status == 200
    paid = reload(ctx, payment)
    assert (paid.status, paid.settlement_status) == ("succeeded", "In Progress")
    assert outstanding(ctx, tenant_id, *BILLS) == 0
    assert paid.receipt_number is None  # the receipt waits for settlement

    for webhook in sandbox_page.settle(store(ctx)):
        deliver(ctx, webhook)
    done = reload(ctx, payment)
    assert done.status == "completed" and done.settlement_status == "Success"
    assert done.receipt_number == "R-1"
    assert (done.settled_fee, done.settled_net) == (893, 29775 - 893)  # 2.9 % + $0.30


def test_bills_and_services_in_one_checkout(ctx, tenant_id, connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0]), ("service", "SRV-RECON-0001")])
    assert (payment.payment_type, payment.amount) == ("mixed", 14550 + 7500)
    deliver(ctx, payer(ctx, payment, "pay"))
    assert outstanding(ctx, tenant_id, BILLS[0], "SRV-RECON-0001") == 0
    assert outstanding(ctx, tenant_id, BILLS[1]) == 15225


@pytest.mark.parametrize("items, field, message", [
    ([], "items", "at least one"),
    ([("bill", "BILL7890")], "items[0].reference", "unknown bill"),  # Isidro's bill
    ([("bill", "NOPE")], "items[0].reference", "unknown bill"),
    ([("car", "X")], "items[0].kind", "item kind"),
    ([("bill", BILLS[0]), ("bill", BILLS[0])], "items[1].reference", "chosen twice"),
])
def test_checkout_refuses_what_is_not_this_consumers_to_pay(ctx, tenant_id, connected, items,
                                                            field, message):
    with pytest.raises(ValidationFailed) as info:
        start(ctx, tenant_id, items)
    assert message in info.value.detail and info.value.errors[0]["field"] == field
    with ctx.transaction() as session:
        assert session.scalar(select(Payment).where(Payment.is_test.is_(False))) is None


def test_paid_and_cancelled_items_are_refused(ctx, tenant_id, connected):
    from loket.core.host import receivables
    deliver(ctx, payer(ctx, start(ctx, tenant_id, [("bill", BILLS[0])]), "pay"))
    with pytest.raises(ValidationFailed, match="already paid"):
        start(ctx, tenant_id, [("bill", BILLS[0])])
    with ctx.transaction() as session:
        receivables.upsert_receivable(session, audit.SYSTEM, tenant_id, {
            "account_number": "WU-10001", "kind": "bill", "reference": BILLS[1],
            "amount": "152.25", "status": "cancelled"})
    with pytest.raises(ValidationFailed, match="cancelled"):
        start(ctx, tenant_id, [("bill", BILLS[1])])


def test_a_decline_keeps_the_gateways_message_and_category(ctx, tenant_id, connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    deliver(ctx, payer(ctx, payment, "decline"))
    failed = reload(ctx, payment)
    assert failed.status == "failed" and failed.failure_category == "declined"
    assert failed.failure_message == "Your card has insufficient funds."
    assert outstanding(ctx, tenant_id, BILLS[0]) == 14550


class _Refusing:
    """A gateway that refuses every checkout, with its own words and code."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_gateway_charge(self, config, request):
        """Refuse."""
        raise GatewayError("the gateway refused", category="declined",
                           gateway_message="Do not honor", gateway_code="05")


def test_a_refused_checkout_is_recorded_initiated_then_failed(ctx, tenant_id, connected):
    ctx.plugins.register(_Refusing(), name="refusing")
    try:
        payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    finally:
        ctx.plugins.pm.unregister(name="refusing")
    failed = reload(ctx, payment)
    assert (failed.status, failed.failure_category) == ("failed", "declined")
    assert (failed.failure_message, failed.failure_code) == ("Do not honor", "05")
    assert failed.gateway_reference is None and failed.redirect_url is None
    assert outstanding(ctx, tenant_id, BILLS[0]) == 14550
    with ctx.transaction() as session:
        trail = session.scalars(select(AuditEntry).where(
            AuditEntry.entity_id == payment.number).order_by(AuditEntry.id)).all()
        events = session.scalars(select(OutboxEvent.kind + ":" + OutboxEvent.type).where(
            OutboxEvent.ordering_key == f"payment:{payment.number}")
            .order_by(OutboxEvent.id)).all()
        intended = session.scalars(select(Allocation.state).where(
            Allocation.payment_id == payment.id)).all()
    assert [(e.action, e.after["status"]) for e in trail] == [
        ("payment.initiated", "initiated"), ("payment.failed", "failed")]
    assert trail[1].before == {"status": "initiated"}
    assert events == ["host_event:payment.initiated", "message:payment.initiated",
                      "host_event:payment.failed", "message:payment.failed"]
    assert intended == ["intended"]


def test_a_late_failure_or_duplicate_success_never_moves_a_payment_back(ctx, tenant_id,
                                                                         connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    success = payer(ctx, payment, "pay")
    assert deliver(ctx, success).body["new"] == 1
    assert deliver(ctx, success).body == {"received": 1, "new": 0, "duplicates": 1}
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        late = outcomes.apply_event(ctx, session, row, outcomes.GatewayEvent(
            event_id="late-fail", type="payment.failed", payment_id=payment.number,
            failure_message="too late"))
    assert late == outcomes.NOTHING
    assert reload(ctx, payment).status == "succeeded"
    with ctx.transaction() as session:
        posted = session.scalars(select(Allocation).where(
            Allocation.payment_id == payment.id, Allocation.state == "posted")).all()
    assert [a.amount for a in posted] == [14550]


def test_a_payer_who_comes_back_without_paying_ends_failed(ctx, tenant_id, connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    with ctx.transaction() as session:
        returns.handle_return(ctx, session, payment, "cancel")
    back = reload(ctx, payment)
    assert (back.status, back.failure_category) == ("failed", "abandoned")


def test_a_cancel_return_the_gateway_cannot_confirm_leaves_the_payment_open(
        ctx, tenant_id, connected):
    from loket import hookimpl
    from loket.errors import GatewayError

    class Unreachable:
        LOKET_CONTRACT = "1.3"

        @hookimpl(tryfirst=True)
        def loket_gateway_fetch_status(self, config, payment_id, gateway_reference):
            raise GatewayError("the gateway did not answer", category="network")

    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    payer(ctx, payment, "pay")  # the payer paid in another tab; the webhook is late
    gateway = Unreachable()
    ctx.plugins.pm.register(gateway, name="unreachable")
    try:
        with ctx.transaction() as session:
            returns.handle_return(ctx, session, payment, "cancel")
    finally:
        ctx.plugins.pm.unregister(gateway)
    assert reload(ctx, payment).status == "initiated"  # not failed on the payer's word


def test_a_return_before_the_webhook_asks_the_gateway(ctx, tenant_id, connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    payer(ctx, payment, "pay")  # paid on the gateway; the webhook is lost
    with ctx.transaction() as session:
        returns.handle_return(ctx, session, payment, "success")
    assert reload(ctx, payment).status == "succeeded"
    assert outstanding(ctx, tenant_id, BILLS[0]) == 0


def test_an_expired_checkout_is_failed_by_the_timeout_sweep(ctx, tenant_id, connected):
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    with ctx.transaction() as session:
        assert timeouts.expire_overdue(ctx, session, payment) == "failed"
    assert reload(ctx, payment).failure_category == "timeout"


def test_the_same_idempotency_key_returns_the_first_checkout(ctx, tenant_id, connected):
    first = start(ctx, tenant_id, [("bill", BILLS[0])], key="k-1")
    again = start(ctx, tenant_id, [("bill", BILLS[0])], key="k-1")
    assert again.id == first.id and again.redirect_url == first.redirect_url
    from loket.errors import Conflict
    with pytest.raises(Conflict):
        start(ctx, tenant_id, [("bill", BILLS[1])], key="k-1")


def test_a_fee_passed_on_to_individuals_is_added_to_the_total(ctx, tenant_id, connected):
    from loket.core.settings import load_settings, save_settings
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["destinations"]["pay-a-bill"]["fee"] = {
            "card": {"percent": "2.9", "fixed": "0.30", "pass_to": ["individual"]}}
        save_settings(session, tenant_id, document)
    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    fee = (14550 * 29 + 500) // 1000 + 30  # 2.9 % half-up + $0.30
    assert (payment.fee, payment.amount_received) == (fee, 14550 + fee)
    deliver(ctx, payer(ctx, payment, "pay"))
    assert reload(ctx, payment).status == "succeeded"
    assert outstanding(ctx, tenant_id, BILLS[0]) == 0


@pytest.mark.parametrize("method", ["Card", "x", "va"])
def test_a_method_the_gateway_does_not_offer_is_refused_not_priced_without_fee(
        ctx, tenant_id, connected, method):
    from loket.core.settings import load_settings, save_settings
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["destinations"]["pay-a-bill"]["fee"] = {
            "card": {"percent": "2.9", "fixed": "0.30", "pass_to": ["individual"]}}
        save_settings(session, tenant_id, document)
    with pytest.raises(ValidationFailed) as refused:
        start(ctx, tenant_id, [("bill", BILLS[0])], method=method)
    assert refused.value.errors[0]["field"] == "method" and "card" in refused.value.detail
    assert outstanding(ctx, tenant_id, BILLS[0]) == 14550


def test_when_applying_fails_the_money_stays_taken_and_staff_get_a_todo(ctx, tenant_id,
                                                                        connected):
    from loket import hookimpl

    class Failing:
        LOKET_CONTRACT = "1"

        @hookimpl(tryfirst=True)
        def loket_destination_apply(self, processor, ledger, resolved, amount):
            raise RuntimeError("billing system offline")

    payment = start(ctx, tenant_id, [("bill", BILLS[0])])
    failing = Failing()
    ctx.plugins.pm.register(failing, name="failing-apply")
    try:
        deliver(ctx, payer(ctx, payment, "pay"))
    finally:
        ctx.plugins.pm.unregister(failing)
    taken = reload(ctx, payment)
    assert (taken.status, taken.application_state) == ("succeeded", "error")
    assert outstanding(ctx, tenant_id, BILLS[0]) == 14550
    with ctx.transaction() as session:
        todo = session.scalar(select(Todo).where(Todo.kind == "payment.apply_failed"))
    assert "billing system offline" in todo.detail and todo.entity_id == payment.number

    # The billing system is back: staff retry (OPC Error -> Error Resolved).
    from loket.core.backoffice import administration
    with ctx.transaction() as session:
        administration.retry_application(ctx, session, audit.SYSTEM,
                                        session.get(Payment, payment.id))
    assert reload(ctx, payment).application_state == "applied"
    assert outstanding(ctx, tenant_id, BILLS[0]) == 0
    with ctx.transaction() as session:
        todo = session.get(Todo, todo.id)
        assert (todo.status, todo.resolution) == ("resolved", "Error Resolved: applied on retry")
        with pytest.raises(ValidationFailed, match="no failed application"):
            administration.retry_application(ctx, session, audit.SYSTEM,
                                            session.get(Payment, payment.id))


def test_a_gateway_cannot_move_a_payment_made_through_another_gateway(ctx, tenant_id,
                                                                     connected):
    from support.engine import ACTOR

    from loket.core.payments.counter_payments import CounterPayment, record_counter_payment
    with ctx.transaction() as session:
        posted = record_counter_payment(ctx, session, ACTOR, tenant_id, CounterPayment(
            account_number="WU-10001", payment_type="bill", method="cash", paid_on="2025-01-15",
            amount_received="145.50", references=("INV-2025-001234",)))
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        refund = outcomes.GatewayEvent("evt-x", "payment.refunded", payment_id=posted.number,
                                       amount=outcomes.Money(14550, "USD"),
                                       refund_reference="re_x")
        assert outcomes.apply_event(ctx, session, row, refund) == outcomes.UNKNOWN_PAYMENT
    assert reload(ctx, posted).refunded == 0
