"""The refundable 1-unit connection test: only the test the configuration is waiting for
connects it, even when the caller holds a copy of the configuration read earlier, and new
credentials need a test of their own; every test payment that took money is refunded, and
one the gateway refuses to refund is one to-do for staff, closed when a retry succeeds or
when the payment is refunded in full otherwise (staff, the gateway's report); a retry
refunds only what staff left, never the payment a second time. A refund the gateway leaves
unanswered (a timeout, an error of its own) may have been made: it is no refund by hand,
but asked again under the same refund id."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.engine import ADMIN, CREDENTIALS, deliver, seed, store

from loket import hookimpl
from loket.core.gateway_configs import configs
from loket.core.gateway_configs.connection_test import (
    finish_connection_test,
    retry_unanswered_refunds,
)
from loket.core.models import AuditEntry, Payment, Refund, Todo
from loket.core.payments.refunds import refund_payment
from loket.core.webhooks import outcomes
from loket.errors import GatewayError, RefundNotPossible
from loket.gateways import sandbox_page
from loket.money import Money
from loket.types import GatewayEvent, RefundResult


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


def _connect_started(ctx, tenant_id) -> Payment:
    """Activate and configure the sandbox and start its connection test (not yet paid)."""
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ADMIN, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
        return configs.connect(ctx, session, ADMIN, tenant_id, "sandbox")


def test_a_test_paid_after_new_credentials_were_saved_refunds_but_does_not_connect(
        ctx, tenant_id):
    first = _connect_started(ctx, tenant_id)
    with ctx.transaction() as session:  # other credentials, not tested yet
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox",
                                 {**CREDENTIALS, "merchant_name": "Another account"})
    webhook, _ = sandbox_page.payer_acts(store(ctx), first.gateway_reference, "pay")
    assert deliver(ctx, webhook).status == 200
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        assert (row.connected, row.test_payment_id) == (False, None)
        paid = session.get_one(Payment, first.id)
        assert (paid.status, paid.refunded) == ("refunded", paid.amount_received)


class RefusingRefunds:
    """A gateway that refuses refunds (``failed``, or not before settlement) until told;
    told ``accept``, it takes any refund asked, never checking what it refunded before (a
    gateway loket must not count on to stop a second refund). It keeps what it was asked."""

    LOKET_CONTRACT = "1.3"

    def __init__(self, how: str):
        self.how = how
        self.asked: list[int] = []  # the amounts of the refunds asked for
        self.refund_ids: list[str] = []

    @hookimpl(tryfirst=True)
    def loket_gateway_refund(self, config, request):
        self.asked.append(request.amount.amount)
        self.refund_ids.append(request.refund_id)
        if self.how in ("timeout", "technical", "declined"):  # no answer, a 5xx; a no
            raise GatewayError("the gateway did not answer", category=self.how)
        if self.how == "accept":
            return RefundResult(refund_reference=f"re_{request.refund_id}",
                                status="succeeded", raw={})
        if self.how == "failed":
            return RefundResult(refund_reference=f"re_failed_{request.payment_id}",
                                status="failed", raw={"message": "card closed"})
        if self.how == "not settled":
            raise RefundNotPossible("the payment is not settled yet",
                                    gateway_message="not settled yet")
        return None


@contextlib.contextmanager
def refunds(ctx, how: str) -> Iterator[RefusingRefunds]:
    plugin = RefusingRefunds(how)
    ctx.plugins.pm.register(plugin, name="refusing-refunds")
    try:
        yield plugin
    finally:
        ctx.plugins.pm.unregister(plugin)


def _refund_todos(ctx, tenant_id) -> list[tuple[str, str]]:
    with ctx.transaction() as session:
        return [(t.status, t.detail) for t in session.scalars(select(Todo).where(
            Todo.tenant_id == tenant_id, Todo.kind == "gateway.test_refund_failed"))]


def test_a_test_refund_the_gateway_answers_failed_is_a_refund_by_hand(ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "failed"):
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
    assert _refund_todos(ctx, tenant_id) == [("open", "card closed")]
    with ctx.transaction() as session:
        paid = session.get_one(Payment, test.id)
        assert (paid.status, paid.refunded) == ("succeeded", 0)
        row = configs.get_row(session, tenant_id, "sandbox")
        assert row.connected and row.test_response["refund_error"] == "card closed"


def test_a_refused_test_refund_asks_for_one_refund_by_hand_per_tenant(ctx, tenant_id):
    tenants = (tenant_id, seed(ctx, slug="t2"))  # the same payment numbers in both
    tests = [_connect_started(ctx, tenant) for tenant in tenants]
    with refunds(ctx, "not settled"):
        for test in tests:
            webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
            assert deliver(ctx, webhook).status == 200
        for hook in sandbox_page.settle(store(ctx)):  # each retries the refund: refused
            assert deliver(ctx, hook).status == 200
    assert {tests[0].number} == {tests[1].number}
    for tenant in tenants:
        assert _refund_todos(ctx, tenant) == [("open", "not settled yet")]


def test_a_test_refund_refused_then_taken_on_a_retry_closes_its_todo(ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "not settled") as gateway:
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        assert [s for s, _ in _refund_todos(ctx, tenant_id)] == ["open"]
        gateway.how = "settled"
        for hook in sandbox_page.settle(store(ctx)):
            assert deliver(ctx, hook).status == 200
    assert [s for s, _ in _refund_todos(ctx, tenant_id)] == ["resolved"]
    with ctx.transaction() as session:
        paid = session.get_one(Payment, test.id)
        assert paid.refunded == paid.amount_received
        assert "refund_error" not in configs.get_row(session, tenant_id, "sandbox").test_response


def _retry_the_test_refund(ctx, tenant_id, test: Payment) -> None:
    """What a later event of the test payment does while its refund was refused."""
    with ctx.transaction() as session:
        finish_connection_test(ctx, session, configs.get_row(session, tenant_id, "sandbox"),
                               session.get_one(Payment, test.id))


@pytest.mark.parametrize("by_staff, retried", [("1.00", []), ("0.40", [60])])
def test_a_test_payment_staff_refunded_meanwhile_is_never_refunded_twice(
        ctx, tenant_id, by_staff, retried):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "not settled") as gateway:
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        gateway.how = "accept"
        with ctx.transaction() as session:  # staff do what the to-do asks, in loket
            refund_payment(ctx, session, ADMIN, session.get_one(Payment, test.id), by_staff,
                           "connection test refunded by hand")
        asked = len(gateway.asked)
        _retry_the_test_refund(ctx, tenant_id, test)
        _retry_the_test_refund(ctx, tenant_id, test)
    assert gateway.asked[asked:] == retried  # only what staff left, once
    assert [s for s, _ in _refund_todos(ctx, tenant_id)] == ["resolved"]
    with ctx.transaction() as session:
        paid = session.get_one(Payment, test.id)
        assert (paid.status, paid.refunded) == ("refunded", paid.amount_received)
        assert sum(session.scalars(select(Refund.amount).where(
            Refund.payment_id == test.id))) == paid.amount_received


def test_a_test_payment_refunded_in_full_by_staff_closes_its_todo_at_once(ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "not settled") as gateway:
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        gateway.how = "accept"
        with ctx.transaction() as session:
            refund_payment(ctx, session, ADMIN, session.get_one(Payment, test.id), "1.00", "")
    assert [s for s, _ in _refund_todos(ctx, tenant_id)] == ["resolved"]


def test_a_refund_made_at_the_gateway_and_reported_closes_the_test_refund_todo(
        ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "not settled") as gateway:
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        gateway.how = "accept"
        asked = len(gateway.asked)
        for event in (  # staff refunded at the gateway's dashboard; it reports, then settles
                GatewayEvent("evt-refund", "payment.refunded", payment_id=test.number,
                             amount=Money(test.amount_received, test.currency),
                             refund_reference="re_dashboard"),
                GatewayEvent("evt-settle", "payment.settled", payment_id=test.number)):
            with ctx.transaction() as session:
                row = configs.get_row(session, tenant_id, "sandbox")
                assert outcomes.apply_event(ctx, session, row, event) == "applied"
    assert gateway.asked[asked:] == []
    assert [s for s, _ in _refund_todos(ctx, tenant_id)] == ["resolved"]


@pytest.mark.parametrize("how", ["timeout", "technical"])
def test_an_unanswered_test_refund_is_asked_again_once_never_left_to_staff(
        ctx, tenant_id, how):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, how) as gateway:
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        assert _refund_todos(ctx, tenant_id) == []  # it may have refunded: no refund by hand
        with ctx.transaction() as session:
            response = configs.get_row(session, tenant_id, "sandbox").test_response
            assert "unknown" in response["refund_pending"] and "refund_error" not in response
        assert retry_unanswered_refunds(ctx) == {"unanswered": 1}
        gateway.how = "accept"
        assert retry_unanswered_refunds(ctx) == {"answered": 1}
        assert retry_unanswered_refunds(ctx) == {}  # refunded: nothing left to ask
    assert gateway.refund_ids == [f"{test.number}-R"] * 3  # the gateway makes it once
    assert _refund_todos(ctx, tenant_id) == []
    with ctx.transaction() as session:
        paid = session.get_one(Payment, test.id)
        assert (paid.status, paid.refunded) == ("refunded", paid.amount_received)
        assert len(session.scalars(select(Refund).where(Refund.payment_id == test.id)).all()) == 1
        assert "refund_pending" not in configs.get_row(session, tenant_id, "sandbox").test_response
        # Connected once, by the test's own webhook; the retries say what they did once.
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("gateway.%"))).all()
        assert actions.count("gateway.connected") == 1
        assert actions.count("gateway.test_refund_retried") == 1


def test_a_test_refund_unanswered_for_a_day_is_left_to_staff_to_check(ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "timeout"):
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        assert retry_unanswered_refunds(ctx) == {"unanswered": 1}
        clock, ctx.clock = ctx.clock, lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
        try:
            assert retry_unanswered_refunds(ctx) == {"answered": 1}
        finally:
            ctx.clock = clock
        assert retry_unanswered_refunds(ctx) == {}
    [(status, detail)] = _refund_todos(ctx, tenant_id)
    assert status == "open" and "check at the gateway whether it refunded" in detail


def test_a_test_refund_the_gateway_declines_is_still_a_refund_by_hand(ctx, tenant_id):
    test = _connect_started(ctx, tenant_id)
    with refunds(ctx, "declined"):
        webhook, _ = sandbox_page.payer_acts(store(ctx), test.gateway_reference, "pay")
        assert deliver(ctx, webhook).status == 200
        assert retry_unanswered_refunds(ctx) == {}
    assert _refund_todos(ctx, tenant_id) == [("open", "the gateway did not answer")]
