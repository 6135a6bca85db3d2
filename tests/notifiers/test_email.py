"""Notifications and tracking: the consumer hears of every status change by e-mail (a real
SMTP server), other notifiers (SMS) run beside it, and behaviour events land in the
tracking table."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import attrs
import pytest
from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    SmtpServer,
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
from support.tls import self_signed, server_context

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


def _mail(*recipients: str) -> Notification:
    return Notification(tenant_id=1, kind="payment.initiated", subject="Payment started",
                        body="b", recipients=recipients)


@pytest.fixture
def tls_smtp(tmp_path):
    """An SMTP server offering STARTTLS with a self-signed certificate for 127.0.0.1 (its
    PEM file is ``server.certificate``)."""
    certificate, key = self_signed(tmp_path / "tls")
    server = SmtpServer(tls_context=server_context(certificate, key))
    server.certificate = certificate
    server.start()
    yield server
    server.stop()


def test_starttls_refuses_a_certificate_no_trusted_ca_signed(tls_smtp):
    settings = notify_email.SmtpSettings(port=tls_smtp.port, tls=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        notify_email.send(settings, _mail(JOHN))
    assert tls_smtp.messages == []


def test_starttls_trusts_the_ca_file_and_checks_the_servers_name(tls_smtp, tmp_path):
    trusted = notify_email.SmtpSettings(port=tls_smtp.port, tls=True,
                                        ca_file=str(tls_smtp.certificate))
    assert notify_email.send(trusted, _mail(JOHN))
    assert [m["to"] for m in tls_smtp.messages] == [[JOHN]]
    other, _ = self_signed(tmp_path / "other", ("mail.example.com",))
    misnamed = attrs.evolve(trusted, ca_file=str(other))
    with pytest.raises(ssl.SSLCertVerificationError):
        notify_email.send(misnamed, _mail(JOHN))


def test_a_recipient_holding_several_addresses_never_reaches_several_mailboxes(smtp):
    smtp.clear()
    settings = notify_email.SmtpSettings(port=smtp.port)
    notify_email.send(settings, _mail("ned@example.com, victim1@example.org, "
                                      "victim2@example.net"))
    notify_email.send(settings, _mail("a@example.com", "b@example.org"))
    assert [m["to"] for m in smtp.messages] == [["ned@example.com"],
                                                ["a@example.com", "b@example.org"]]


def test_a_mail_server_that_trickles_is_cut_off_at_the_deadline():
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def greet_slowly():
        peer, _ = server.accept()
        with peer:
            while not stop.wait(0.1):
                try:
                    peer.sendall(b"2")  # "220-" never completes
                except OSError:
                    return

    threading.Thread(target=greet_slowly, daemon=True).start()
    settings = notify_email.SmtpSettings(port=server.getsockname()[1], timeout_seconds=5,
                                         deadline_seconds=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        notify_email.send(settings, _mail(JOHN))
    stop.set()
    server.close()
    assert time.monotonic() - started < 3
