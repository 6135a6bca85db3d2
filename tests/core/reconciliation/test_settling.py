"""Settling a report in blocks writes exactly what settling its lines one by one writes."""

import datetime as dt
import re

import pytest
from sqlalchemy import select
from support.engine import connect_sandbox, deliver, payer, seed, start

from loket import hookimpl
from loket.core.gateway_configs import configs
from loket.core.models import (
    AuditEntry,
    GatewayConfiguration,
    OutboxEvent,
    Payment,
    SettlementRecord,
    Todo,
)
from loket.core.reconciliation import settlements, settling, unmatched
from loket.core.webhooks import outcomes
from loket.money import Money
from loket.types import SettlementLine

ITEMS = [("bill", "INV-2025-001234"), ("bill", "INV-2025-001567"),
         ("service", "SRV-RECON-0001"), ("service", "SRV-LATE-0001")]


def _report(ctx, tenant_id: int) -> list[SettlementLine]:
    """Four payments (three paid, one still open) and a report naming them in every way:
    settled, twice, for another amount, before its money was taken, and unknown twice."""
    connect_sandbox(ctx, tenant_id)
    payments = [start(ctx, tenant_id, [item]) for item in ITEMS]
    for payment in payments[:3]:
        deliver(ctx, payer(ctx, payment, "pay"))
    settled_at = dt.datetime.combine(ctx.now().date() + dt.timedelta(days=2), dt.time(12),
                                     dt.UTC)

    def line(payment, amount=None, by_reference=False, payout="po_1"):
        amount = Money(payment.amount_received if amount is None else amount, "USD")
        fee = Money(300, "USD")
        return SettlementLine(
            gateway_reference=payment.gateway_reference, amount=amount, fee=fee,
            net=amount - fee, settled_at=settled_at,
            payment_id=None if by_reference else payment.number, payout_reference=payout)
    unknown = SettlementLine(gateway_reference="sbx_cs_unknown", amount=Money(999, "USD"),
                             fee=Money(30, "USD"), net=Money(969, "USD"),
                             settled_at=settled_at, payout_reference=None)
    first, second, third, fourth = payments
    return [line(first), unknown, line(second, by_reference=True), line(second),
            line(third, amount=100, payout="po_0"), line(third), unknown, line(fourth, amount=2500)]


def _one_by_one(ctx, session, row, lines) -> tuple:
    """The reference: each line through the event path on its own."""
    matched = already = 0
    missing = []
    for line in lines:
        result = outcomes.apply_event(ctx, session, row, settling.event_of(line))
        if result == outcomes.APPLIED:
            matched += 1
        elif result in (outcomes.UNKNOWN_PAYMENT, outcomes.MISMATCH):
            missing.append(line.gateway_reference)
            unmatched.keep(session, row, [line], todo=result == outcomes.UNKNOWN_PAYMENT)
        else:
            already += 1
    return matched, already, tuple(missing)


def _written(ctx, tenant_id: int, since: int, references: dict) -> dict:
    """What the reconciliation wrote, without ids, times and the gateway's random references."""
    def plain(value):
        text = repr(value).replace(f"'tenant_id': {tenant_id},", "'tenant_id': T,")
        text = re.sub(r"/receipts/[^/]+/([^?]+)\?sig=[\w.-]+", r"/receipts/T/\1?sig=S", text)
        for reference, name in references.items():
            text = text.replace(reference, name)
        return text
    with ctx.transaction() as session:
        payments = session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)
                                   .order_by(Payment.id)).all()
        return {
            "payments": [plain((p.number, p.status, p.settlement_status, p.receipt_number,
                                p.settled_fee, p.settled_net, p.payout_reference,
                                p.gateway_details.get("processing_time"), p.completed_at))
                         for p in payments],
            "audit": sorted(plain((a.action, a.entity_id, a.before, a.after)) for a in
                            session.scalars(select(AuditEntry).where(
                                AuditEntry.tenant_id == tenant_id, AuditEntry.id > since))),
            "events": sorted(plain((e.type, e.ordering_key if e.type != "todo.raised" else "",
                                    e.payload.get("data", e.payload.get("notification"))))
                             for e in session.scalars(select(OutboxEvent).where(
                                 OutboxEvent.tenant_id == tenant_id))
                             if e.type != "todo.raised"),
            "records": sorted(plain((r.gateway_reference, r.payout_reference, r.amount, r.fee,
                                     r.net, r.matched, r.payment_id is not None, r.settled_at))
                              for r in session.scalars(select(SettlementRecord).where(
                                  SettlementRecord.tenant_id == tenant_id))),
            "todos": sorted(plain((t.kind, t.title, t.entity_id, t.dedupe_key is not None))
                            for t in session.scalars(select(Todo).where(
                                Todo.tenant_id == tenant_id))),
        }


class Heard:
    """What the plugins hear after the commit, per tenant."""

    def __init__(self):
        self.by_tenant: dict[int, list] = {}

    def _add(self, tenant_id, entry):
        self.by_tenant.setdefault(tenant_id, []).append(entry)

    @hookimpl
    def loket_payment_status_changed(self, payment, old_status, new_status):
        self._add(payment.tenant_id, ("changed", old_status, new_status, payment.status,
                                      payment.amount, payment.details["receipt_number"]))

    @hookimpl
    def loket_track(self, event):
        self._add(event.tenant_id, ("tracked", event.name, event.properties.get("previous"),
                                    event.properties.get("amount")))

    @hookimpl
    def loket_notify(self, notification):
        self._add(notification.tenant_id, ("notified", notification.kind))


@pytest.fixture
def heard(ctx):
    """A :class:`Heard` plugin, registered for one test (the plugins outlive it)."""
    plugin = Heard()
    ctx.plugins.register(plugin, name="heard")
    yield plugin
    ctx.plugins.pm.unregister(name="heard")


def _compared(ctx, tenant: int, settle) -> tuple[tuple, dict]:
    """Settle a fresh report of ``tenant`` with ``settle(configuration id, lines)``, which
    returns (matched, already settled, unmatched references); returns that outcome and what
    it wrote, both without ids and random references."""
    lines = _report(ctx, tenant)
    with ctx.transaction() as session:
        since = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()))
        configuration_id = configs.get_row(session, tenant, "sandbox").id
    matched, already, missing = settle(configuration_id, lines)
    references = {line.gateway_reference: f"ref{i}" for i, line in enumerate(lines)}
    return ((matched, already, tuple(references[r] for r in missing)),
            _written(ctx, tenant, since, references))


def _in_one_transaction(ctx, apply):
    """``settle`` for :func:`_compared`: ``apply(session, row, lines)`` in one transaction."""
    def settle(configuration_id, lines):
        with ctx.transaction() as session:
            return apply(session, session.get(GatewayConfiguration, configuration_id), lines)
    return settle


def test_blocks_write_what_one_line_at_a_time_writes(ctx, tenant_id, heard):
    other = seed(ctx, slug="t2")

    def blocks(session, row, lines):
        result = settlements.apply_lines(ctx, session, row, iter(lines))
        return result.matched, result.already_settled, result.unmatched
    results, written = zip(*(
        _compared(ctx, tenant_id, _in_one_transaction(ctx, blocks)),
        _compared(ctx, other, _in_one_transaction(
            ctx, lambda session, row, lines: _one_by_one(ctx, session, row, lines)))),
        strict=True)
    assert results[0] == results[1]
    assert (results[0][0], results[0][1], len(results[0][2])) == (4, 1, 3)
    for part in ("payments", "audit", "events", "records", "todos"):
        assert written[0][part] == written[1][part], part
    settled = [sorted((e for e in heard.by_tenant[t]
                       if any(str(part).endswith("completed") for part in e)), key=repr)
               for t in (tenant_id, other)]
    assert settled[0] == settled[1]
    kinds = [e[0] for e in settled[0]]
    assert kinds.count("changed") == kinds.count("tracked") == 4, settled[0]
    assert "'completed'" in written[0]["payments"][1]


def test_a_report_larger_than_a_block_completes_every_payment(ctx, tenant_id, monkeypatch):
    monkeypatch.setattr(settling, "BLOCK", 2)
    lines = _report(ctx, tenant_id)
    seen = []
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        result = settlements.apply_lines(ctx, session, row, iter(lines),
                                         progress=lambda tally: seen.append(tally.lines))
    assert seen == [2, 4, 6, 8]
    assert (result.matched, result.already_settled, len(result.unmatched)) == (4, 1, 3)


@pytest.mark.parametrize("held", [settling.HELD_LIMIT, 2, 0],
                         ids=["views held", "some held", "views read again"])
def test_a_transaction_per_block_writes_and_tells_what_one_transaction_does(
        ctx, tenant_id, heard, monkeypatch, held):
    """One transaction for the report holds what the plugins hear in memory up to
    ``HELD_LIMIT`` changes, then reads it again after the commit: the same either way."""
    monkeypatch.setattr(settling, "BLOCK", 3)
    other = seed(ctx, slug="t2")
    recorded = []

    def committing(configuration_id, lines):
        tally = settling.settle_committing(
            ctx, configuration_id, iter(lines), lambda session, tally: recorded.append(
                (tally.lines, session.in_transaction())))
        return tally.matched, tally.already_settled, tally.unmatched

    def one_transaction(session, row, lines):
        monkeypatch.setattr(settling, "HELD_LIMIT", held)
        tally = settling.settle(ctx, session, row, iter(lines))
        return tally.matched, tally.already_settled, tally.unmatched
    results, written = zip(*(
        _compared(ctx, tenant_id, committing),
        _compared(ctx, other, _in_one_transaction(ctx, one_transaction))), strict=True)
    assert recorded == [(3, True), (6, True), (8, True)]
    assert results[0] == results[1]
    for part in ("payments", "audit", "events", "records", "todos"):
        assert written[0][part] == written[1][part], part
    told = [sorted(heard.by_tenant[t], key=repr) for t in (tenant_id, other)]
    assert told[0] == told[1]
    assert [e[0] for e in told[0]].count("notified") >= 4
