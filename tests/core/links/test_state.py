"""On PostgreSQL, a link's state only moves forward: a page or list that read a link as
active just before it was cancelled or paid does not turn it into ``expired`` (nor pay it
again) when it checks the link after its expiry; each change is told to the host once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from support.engine import ACTOR, connect_sandbox, deliver, payer, seed

from loket.core.links import links, state
from loket.core.models import OutboxEvent, PaymentLink

pytestmark = pytest.mark.postgres
BILLS = [{"kind": "bill", "reference": "INV-2025-001234"}]


def _link(ctx, tenant_id: int, items) -> PaymentLink:
    with ctx.transaction() as session:
        return links.create_link(ctx, session, ACTOR, tenant_id, links.LinkRequest(
            account_number="WU-10001", items=items))


def _events(ctx) -> dict[str, int]:
    with ctx.transaction() as session:
        return dict(session.execute(select(OutboxEvent.type, func.count()).where(
            OutboxEvent.kind == "host_event", OutboxEvent.type.like("payment_link.%"))
            .group_by(OutboxEvent.type)).all())


def _checked_after_expiry(ctx, link: PaymentLink, meanwhile) -> state.LinkStatus:
    """A reader (the link's page, its detail, the console's list) reads the link as active;
    ``meanwhile`` commits; then the reader checks the link after its expiry."""
    later = link.expires_at.replace(tzinfo=link.expires_at.tzinfo or dt.UTC) + \
        dt.timedelta(minutes=1)
    with ctx.transaction() as reader:
        seen = links.get_link(reader, link.tenant_id, link.key)
        assert seen.status == "active"
        meanwhile()
        status = state.refresh(reader, seen, later)
        assert seen.status == status
    return status


def test_a_link_cancelled_meanwhile_stays_cancelled(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    link = _link(ctx, tenant_id, BILLS)

    def cancel():
        with ctx.transaction() as session:
            links.cancel_link(ctx, session, ACTOR, links.get_link(session, tenant_id, link.key))

    assert _checked_after_expiry(ctx, link, cancel) == "cancelled"
    with ctx.transaction() as session:
        assert session.get_one(PaymentLink, link.id).status == "cancelled"
    assert _events(ctx) == {"payment_link.created": 1, "payment_link.cancelled": 1}


@pytest.mark.parametrize("items", [BILLS, None], ids=["chosen items", "everything open"])
def test_a_link_paid_meanwhile_stays_paid_and_is_paid_once(pg_ctx, items):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    connect_sandbox(ctx, tenant_id)
    link = _link(ctx, tenant_id, items)
    with ctx.transaction() as session:
        payment = links.pay(ctx, session, links.get_link(session, tenant_id, link.key),
                            "sandbox", None)

    def pay():
        assert deliver(ctx, payer(ctx, payment, "pay")).status == 200

    assert _checked_after_expiry(ctx, link, pay) == "paid"
    with ctx.transaction() as session:
        assert session.get_one(PaymentLink, link.id).status == "paid"
    assert _events(ctx) == {"payment_link.created": 1, "payment_link.paid": 1}
