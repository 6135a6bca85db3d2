"""The refundable 1-unit connection test: only the test the configuration is waiting for
connects it, even when the caller holds a copy of the configuration read earlier; every
test payment that took money is refunded."""

from __future__ import annotations

from support.engine import ADMIN, CREDENTIALS, deliver, store

from loket.core.gateway_configs import configs
from loket.core.gateway_configs.connection_test import finish_connection_test
from loket.core.models import Payment
from loket.gateways import sandbox_page


def test_an_earlier_test_paid_late_does_not_connect_newer_credentials(ctx, tenant_id):
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ADMIN, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
        first = configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")
    with ctx.transaction() as session:
        read_before = configs.get_row(session, tenant_id, "sandbox")  # e.g. a webhook's
    assert read_before.test_payment_id == first.id
    with ctx.transaction() as session:  # new credentials, tested again
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
        second = configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")
    with ctx.transaction() as session:
        finish_connection_test(ctx, session, session.merge(read_before, load=False), first)
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        assert (row.test_payment_id, row.connected) == (second.id, False)


def test_every_test_payment_paid_is_refunded_and_the_latest_connects(ctx, tenant_id):
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ADMIN, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
        first = configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")
    with ctx.transaction() as session:  # the admin connects again before paying the first
        second = configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")
    for test in (first, second):
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
    with ctx.transaction() as session:
        for test in (first, second):
            paid = session.get_one(Payment, test.id)
            assert (paid.status, paid.refunded) == ("refunded", paid.amount_received)
        row = configs.get_row(session, tenant_id, "sandbox")
        assert (row.test_payment_id, row.connected) == (second.id, True)
