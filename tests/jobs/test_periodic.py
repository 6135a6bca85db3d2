"""The periodic jobs: handshake (mail once, remind weekly), payment timeout, pending
reconciliation, payment-plan compliance and credit-note expiry — each idempotent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    deliver,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    smtp,
    start_checkout,
    todos,
)

from loket import hookimpl
from loket.core.gateway_configs import handshake
from loket.core.host import plans
from loket.core.models import (
    CreditNote,
    GatewayConfiguration,
    OutboxDelivery,
    OutboxEvent,
    Payment,
    PaymentPlan,
)
from loket.core.payments import credit_notes, timeouts
from loket.core.reconciliation import timeouts as settlement_timeouts
from loket.core.settings import load_settings, save_settings
from loket.errors import GatewayError

ADMINS = ["ops@water.example", "it@water.example"]
RECOVERY = ["recovery@water.example"]


def _notify_settings(ctx, tenant_id):
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["notifications"] = {"tenant_admins": ADMINS, "recovery_executives": RECOVERY}
        save_settings(session, tenant_id, document)


def _revoke_secret(ctx, tenant_id, secret="sbx_revoked0123456789ab"):
    with ctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration).where(
            GatewayConfiguration.tenant_id == tenant_id))
        credentials = ctx.secrets.decrypt(row.credentials_encrypted)
        row.credentials_encrypted = ctx.secrets.encrypt({**credentials, "secret": secret})
        return credentials


def test_handshake_failure_mails_admins_once_then_weekly_and_recovery_clears_it(
        jctx, jtenant, smtp):
    _notify_settings(jctx, jtenant)
    assert handshake.handshake_sweep(jctx) == {"ok": 1, "failed": 0, "alerted": 0}
    good = _revoke_secret(jctx, jtenant)
    assert handshake.handshake_sweep(jctx) == {"ok": 0, "failed": 0, "alerted": 0}  # daily

    jctx.clock.advance(days=1)
    assert handshake.handshake_sweep(jctx) == {"ok": 0, "failed": 1, "alerted": 1}
    for admin in ADMINS:  # one e-mail each, through the outbox (retried on its own)
        (mail,) = smtp.to(admin)
        assert mail["to"] == [admin] and mail["kind"] == "gateway.handshake_failed"
        assert "Invalid API key: this secret has been revoked" in mail["body"]
    with jctx.transaction() as session:  # written with the failure: retried until sent
        sent = session.execute(select(OutboxDelivery.recipient, OutboxDelivery.status).join(
            OutboxEvent).where(OutboxEvent.type == "gateway.handshake_failed")).all()
    assert sorted(sent) == sorted((admin, "delivered") for admin in ADMINS)
    assert len(todos(jctx, "gateway.handshake_failed")) == 1
    with jctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration))
        assert row.last_handshake_error == "Invalid API key: this secret has been revoked"

    for _ in range(5):  # still failing: not mailed every day
        jctx.clock.advance(days=1)
        assert handshake.handshake_sweep(jctx)["alerted"] == 0
    assert len(smtp.to("ops@water.example")) == 1
    jctx.clock.advance(days=2)
    assert handshake.handshake_sweep(jctx)["alerted"] == 1  # a weekly reminder
    reminder = smtp.to("ops@water.example")[-1]
    assert "again" in reminder["body"] and "7 checks in a row" in reminder["body"]
    assert len(todos(jctx, "gateway.handshake_failed")) == 1

    _revoke_secret(jctx, jtenant, good["secret"])
    jctx.clock.advance(days=1)
    assert handshake.handshake_sweep(jctx) == {"ok": 1, "failed": 0, "alerted": 0}
    with jctx.transaction() as session:
        row = session.scalar(select(GatewayConfiguration))
        assert (row.last_handshake_error, row.handshake_failures) == (None, 0)


def test_timeout_sweep_fails_abandoned_payment_once_and_tells_the_payer(jctx, jtenant, smtp):
    paying = start_checkout(jctx, jtenant)
    assert timeouts.payment_timeout_sweep(jctx) == {}
    jctx.clock.advance(minutes=61)
    assert timeouts.payment_timeout_sweep(jctx) == {"failed": 1}
    failed = payment(jctx, paying.number)
    assert (failed.status, failed.failure_category) == ("failed", "timeout")
    assert timeouts.payment_timeout_sweep(jctx) == {}
    (mail,) = [m for m in smtp.to("john.doe@example.com") if m["kind"] == "payment.failed"]
    assert "The payment was not completed in time" in mail["body"]


def test_timeout_sweep_asks_the_gateway_before_failing(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    payer_acts(jctx, jtenant, paying)  # paid at the gateway; its webhook never arrives
    jctx.clock.advance(minutes=61)
    assert timeouts.payment_timeout_sweep(jctx) == {"succeeded": 1}
    assert payment(jctx, paying.number).status == "succeeded"


def test_unsettled_payment_raises_one_reconciliation_todo_after_timeout_days(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))
    jctx.clock.advance(days=1)
    assert settlement_timeouts.reconciliation_timeouts(jctx) == 0
    jctx.clock.advance(days=1, minutes=1)  # pay-a-bill: timeout_days 2
    assert settlement_timeouts.reconciliation_timeouts(jctx) == 1
    assert settlement_timeouts.reconciliation_timeouts(jctx) == 0
    (todo,) = todos(jctx, "payment.reconciliation_timeout")
    assert todo.entity_id == paying.number


def test_missed_installments_alert_recovery_and_default_the_plan_once(jctx, jtenant, kit,
                                                                      smtp):
    _notify_settings(jctx, jtenant)  # plan_default_after_misses: 2 (default)
    jctx.clock.now = dt.datetime(2025, 4, 2, 3, 0, tzinfo=dt.UTC)
    assert plans.plan_compliance(jctx) == {"missed": 1, "defaulted": 0}
    assert plans.plan_compliance(jctx) == {"missed": 0, "defaulted": 0}
    (mail,) = smtp.to("recovery@water.example")
    assert "PP-2025-0034-1" in mail["body"] and "John Doe" in mail["body"]
    assert kit.recorder.defaulted == []

    jctx.clock.now = dt.datetime(2025, 5, 2, 3, 0, tzinfo=dt.UTC)
    assert plans.plan_compliance(jctx) == {"missed": 1, "defaulted": 1}
    jctx.clock.now = dt.datetime(2025, 6, 2, 3, 0, tzinfo=dt.UTC)
    assert plans.plan_compliance(jctx) == {"missed": 0, "defaulted": 0}
    (plan,) = kit.recorder.defaulted
    assert (plan.reference, plan.account_number, plan.missed_installments) == (
        "PP-2025-0034", "WU-10001", 2)
    with jctx.transaction() as session:
        row = session.scalar(select(PaymentPlan))
        assert (row.status, row.missed_installments) == ("defaulted", 2)
    assert [m["kind"] for m in smtp.to("recovery@water.example")] == [
        "plan.installment_missed", "plan.installment_missed", "plan.defaulted"]
    assert len(todos(jctx, "plan.installment_missed")) == 2


def test_credit_notes_expire_once(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))
    with jctx.transaction() as session:
        credit_notes.issue_credit_note(jctx, session, ACTOR, payment(jctx, paying.number),
                                       "10.00", "Billing Error")
    jctx.clock.advance(days=364)
    assert credit_notes.expire_due(jctx) == 0
    jctx.clock.advance(days=2)
    assert credit_notes.expire_due(jctx) == 1
    assert credit_notes.expire_due(jctx) == 0
    with jctx.transaction() as session:
        assert session.scalar(select(CreditNote.status)) == "expired"



class Unreachable:
    """The gateway, except that it gives no status (down, or an answer that cannot be read)."""

    LOKET_CONTRACT = "1.3"

    def __init__(self):
        self.asked = 0

    @hookimpl(tryfirst=True)
    def loket_gateway_fetch_status(self, config, payment_id, gateway_reference):
        self.asked += 1
        raise GatewayError("the gateway did not answer", category="network")


def test_a_payment_whose_status_the_gateway_does_not_give_is_not_failed_at_once(jctx, jtenant):
    paying = [start_checkout(jctx, jtenant) for _ in range(5)]
    gateway = Unreachable()
    jctx.plugins.pm.register(gateway, name="unreachable")
    try:
        jctx.clock.advance(minutes=61)
        # Three unanswered checks, then the gateway is not asked for the others this time.
        assert timeouts.payment_timeout_sweep(jctx) == {"unanswered": 3, "deferred": 2}
        assert gateway.asked == 3
        assert {payment(jctx, p.number).status for p in paying} == {"initiated"}
        jctx.clock.advance(hours=23)
        assert timeouts.payment_timeout_sweep(jctx)["unanswered"] == 3
        jctx.clock.advance(hours=1)  # a day after the expiry: failed, and staff told
        assert timeouts.payment_timeout_sweep(jctx) == {"failed": 5}
    finally:
        jctx.plugins.pm.unregister(gateway)
    assert {payment(jctx, p.number).failure_category for p in paying} == {"timeout"}
    assert len(todos(jctx, "payment.status_unknown")) == 5


def test_a_payment_paid_while_the_gateway_gave_no_status_succeeds(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    payer_acts(jctx, jtenant, paying)  # paid at the gateway; its webhook never arrives
    gateway = Unreachable()
    jctx.plugins.pm.register(gateway, name="unreachable")
    try:
        jctx.clock.advance(minutes=61)
        assert timeouts.payment_timeout_sweep(jctx) == {"unanswered": 1}
    finally:
        jctx.plugins.pm.unregister(gateway)
    jctx.clock.advance(minutes=5)  # the gateway answers again
    assert timeouts.payment_timeout_sweep(jctx) == {"succeeded": 1}


class Unreadable(Unreachable):
    """The gateway answers, but with something the plugin cannot use."""

    @hookimpl(tryfirst=True)
    def loket_gateway_fetch_status(self, config, payment_id, gateway_reference):
        self.asked += 1
        raise GatewayError("the answer cannot be read", category="technical")


def test_an_unreadable_status_keeps_the_payment_but_does_not_hold_back_the_others(jctx,
                                                                                  jtenant):
    paying = [start_checkout(jctx, jtenant) for _ in range(5)]
    gateway = Unreadable()
    jctx.plugins.pm.register(gateway, name="unreadable")
    try:
        jctx.clock.advance(minutes=61)
        assert timeouts.payment_timeout_sweep(jctx) == {"unreadable": 5}
    finally:
        jctx.plugins.pm.unregister(gateway)
    assert {payment(jctx, p.number).status for p in paying} == {"initiated"}


def test_a_payment_that_never_reached_the_gateway_is_failed_at_once(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    with jctx.transaction() as session:  # its process died before the gateway answered
        session.get_one(Payment, payment(jctx, paying.number).id).gateway_reference = None
    gateway = Unreadable()
    jctx.plugins.pm.register(gateway, name="unreadable")
    try:
        jctx.clock.advance(minutes=61)
        assert timeouts.payment_timeout_sweep(jctx) == {"failed": 1}
    finally:
        jctx.plugins.pm.unregister(gateway)
