"""A plugin that fails while hearing of one payment a report settled silences nothing else:
the other payments' status changes, every tracking event and every notification still go
out, as when each payment settles on its own; the log names the plugin."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from support.engine import connect_sandbox, deliver, payer, start, store

from loket import hookimpl
from loket.core.reconciliation import settlements, settling
from loket.gateways import sandbox_page


class Picky:
    """Fails to hear of one payment's status change; records all it hears."""

    def __init__(self):
        self.fail_for: str | None = None
        self.changed: list[str] = []
        self.tracked: list[tuple[str, str]] = []
        self.notified: list[str] = []

    @hookimpl
    def loket_payment_status_changed(self, payment, old_status, new_status):
        if payment.payment_id == self.fail_for:
            raise RuntimeError("listener down for this one")
        self.changed.append(payment.payment_id)

    @hookimpl
    def loket_track(self, event):
        self.tracked.append((event.name, event.properties.get("payment_id")))

    @hookimpl
    def loket_notify(self, notification):
        self.notified.append(notification.data.get("payment_id"))


@pytest.fixture
def picky(ctx):
    plugin = Picky()
    ctx.plugins.register(plugin, name="picky")
    yield plugin
    ctx.plugins.pm.unregister(name="picky")


@pytest.mark.parametrize("held", [settling.HELD_LIMIT, 0],
                         ids=["views held to the commit", "views read after it"])
def test_one_failing_listener_silences_nothing_else_a_block_settled(ctx, tenant_id, picky,
                                                                   held, monkeypatch,
                                                                   caplog):
    monkeypatch.setattr(settling, "HELD_LIMIT", held)
    connect_sandbox(ctx, tenant_id)
    first = start(ctx, tenant_id, [("bill", "INV-2025-001234")])
    second = start(ctx, tenant_id, [("service", "SRV-LATE-0001")])
    for payment in (first, second):
        deliver(ctx, payer(ctx, payment, "pay"))
    sandbox_page.settle(store(ctx))  # paid out; the settlement webhooks are lost
    picky.fail_for = first.number
    for heard in (picky.changed, picky.tracked, picky.notified):
        heard.clear()

    with caplog.at_level(logging.ERROR, logger=settling.__name__), \
            ctx.transaction() as session:
        result = settlements.fetch_and_reconcile(
            ctx, session, tenant_id, "sandbox", ctx.now() - dt.timedelta(hours=1),
            ctx.now() + dt.timedelta(hours=1))

    assert result.matched == 2
    assert picky.changed == [second.number]
    assert sorted(picky.tracked) == sorted([("payment.completed", first.number),
                                            ("payment.completed", second.number)])
    assert sorted(picky.notified) == sorted([first.number, second.number])
    [failure] = [r for r in caplog.records if r.name == settling.__name__]
    assert first.number in failure.getMessage() and failure.exc_info is not None
