"""Notifications and tracking: the consumer hears of every status change by e-mail (a real
SMTP server), other notifiers (SMS) run beside it, and behaviour events land in the
tracking table."""

from __future__ import annotations

from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    connect,
    deliver,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    seed,
    settle,
    smtp,
    start_checkout,
)

from loket import hookimpl
from loket.core.models import TrackingEventRow
from loket.core.payments import refunds
from loket.jobs.wiring import replace_plugin
from loket.notifiers import email as notify_email
from loket.types import Notification

JOHN = "john.doe@example.com"


def test_consumer_is_mailed_initiated_successful_completed_failed_and_refunded(
        jctx, jtenant, smtp):
    paid = start_checkout(jctx, jtenant, "INV-2025-001234")
    deliver(jctx, payer_acts(jctx, jtenant, paid))
    for webhook in settle(jctx, jtenant):
        deliver(jctx, webhook)
    declined = start_checkout(jctx, jtenant, "INV-2025-001567")
    deliver(jctx, payer_acts(jctx, jtenant, declined, "decline"))
    with jctx.transaction() as session:
        refunds.refund_payment(jctx, session, ACTOR, payment(jctx, paid.number), "145.50",
                               "requested_by_customer")

    mails = smtp.to(JOHN)
    assert [(m["kind"], m["subject"]) for m in mails] == [
        ("payment.initiated", "Payment started"),
        ("payment.succeeded", "Payment successful"),
        ("payment.completed", "Payment completed"),
        ("payment.initiated", "Payment started"),
        ("payment.failed", "Payment failed"),
        ("payment.refunded", "Payment refunded"),
    ]
    assert all(m["from"] == "loket@water.example" for m in mails)
    assert "$145.50" in mails[1]["body"] and paid.number in mails[1]["body"]
    assert payment(jctx, paid.number).receipt_number in mails[2]["body"]
    assert "Your card has insufficient funds." in mails[4]["body"]


def test_connection_test_payment_mails_nobody(jctx, smtp):
    tenant_id = seed(jctx)
    connect(jctx, tenant_id)
    assert smtp.messages == []


def test_a_failing_mail_server_does_not_stop_other_notifiers(jctx, kit):
    sms = []

    class Sms:
        """The documented SMS notifier example: phone numbers in ``recipients``."""

        LOKET_CONTRACT = "1"

        @hookimpl
        def loket_notify(self, notification):
            sms.extend(r for r in notification.recipients if r.startswith("+"))

    broken = notify_email.EmailNotifier(notify_email.SmtpSettings(port=1, timeout_seconds=1))
    replace_plugin(jctx.plugins, "email", broken)
    jctx.plugins.register(Sms(), name="sms-example")
    try:
        jctx.plugins.notify(Notification(tenant_id=1, kind="payment.failed", subject="s",
                                         body="b", recipients=("a@example.com", "+15550100")))
    finally:
        jctx.plugins.pm.unregister(name="sms-example")
    assert sms == ["+15550100"]
    assert kit.recorder.notifications[-1].kind == "payment.failed"


def test_behaviour_events_are_written_to_the_tracking_table(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    deliver(jctx, payer_acts(jctx, jtenant, paying))
    for webhook in settle(jctx, jtenant):
        deliver(jctx, webhook)
    with jctx.transaction() as session:
        rows = session.scalars(select(TrackingEventRow).order_by(TrackingEventRow.id)).all()
    names = [r.name for r in rows]
    assert names[:3] == ["gateway.activated", "gateway.configured", "gateway.test_transaction"]
    assert rows[0].properties == {"gateway": "sandbox"} and rows[0].actor == "tester"
    mine = [r for r in rows if r.properties.get("payment_id") == paying.number]
    assert [r.name for r in mine] == ["payment.initiated", "payment.succeeded",
                                      "payment.completed"]
    assert mine[0].properties["amount"] == 14550 and mine[0].properties["currency"] == "USD"
    assert all(r.tenant_id == jtenant for r in rows)
