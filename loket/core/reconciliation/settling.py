"""Settling report lines in blocks: a million lines of a month's settlement report are read
as a stream and applied a block at a time, with a few statements per block instead of a
dozen per line.

Per block, the payments the lines name are read in two queries (by number, then by the
gateway's reference) and locked. A line whose payment already took the money and matches
the amount it took is settled here in bulk: one counter update numbers all the receipts,
and the payments, settlement records, audit rows, host events and consumer messages are
written as row sets. It writes exactly what :func:`loket.core.webhooks.outcomes.apply_event`
writes for that line, which every other line still goes through one by one (a payment
whose money the settlement takes, a test payment, a payment through a link, another
currency, an amount that differs, the second line of the same payment). Lines that match
no payment are kept unmatched with their to-do, in bulk too.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import Any

import attrs
from sqlalchemy.orm import Session

from loket import types as t
from loket.core import bulk
from loket.core.db import after_commit
from loket.core.models import AuditEntry, Consumer, GatewayConfiguration, Payment, SettlementRecord
from loket.core.outbox import blocks, messages
from loket.core.payments import lifecycle, posting
from loket.core.payments.application import GATEWAY
from loket.core.reconciliation import unmatched
from loket.core.settings import load_settings
from loket.core.webhooks import outcomes
from loket.types import GatewayEvent, Notification, PaymentInfo, SettlementLine, TrackingEvent

log = logging.getLogger(__name__)

BLOCK = 2000
"""Lines per block: large enough that per-block statements cost nothing per line, small
enough that a block's rows stay a few megabytes."""

HELD_LIMIT = 20_000
"""Changes of one transaction whose plugin views (about 2 KB each) wait in memory for its
commit; past it only ids wait, and the views are read and worded again after the commit (a
million settled lines in one transaction never hold a million notifications)."""

KICK_LIMIT = 100
"""Messages up to this many per reconciliation are tried right after the commit, as a
single change's are; beyond it the worker's outbox sweep sends them (a million e-mails
are never attempted inside the request or job that settled them)."""

_PAYMENTS = Payment.__table__
_SETTLED_ACTION = outcomes.audit_action(t.EVENT_SETTLED)


@attrs.define
class Tally:
    """What the lines did so far: completed a payment, were already settled, matched none."""

    lines: int = 0
    matched: int = 0
    already_settled: int = 0
    unmatched: list[str] = attrs.Factory(list)
    kicked: int = 0
    held: int = 0  # changes whose plugin views wait in memory for this transaction's commit


def blocks_of(lines: Iterable[SettlementLine], size: int | None = None
              ) -> Iterator[list[SettlementLine]]:
    """The lines in lists of ``size`` (default :data:`BLOCK`; the last one shorter), read
    lazily."""
    iterator = iter(lines)
    while block := list(islice(iterator, size or BLOCK)):
        yield block


def settle(ctx, session: Session, row: GatewayConfiguration, lines: Iterable[SettlementLine],
           progress: Callable[[Tally], None] | None = None) -> Tally:
    """Match settlement lines to payments and complete them, a block at a time, inside the
    caller's transaction (all the lines or none).

    :param progress: called with the tally after each block.
    :returns: the tally (unmatched references in the order of their lines).
    """
    tally = Tally()
    for block in blocks_of(lines):
        settle_block(ctx, session, row, block, tally)
        if progress is not None:
            progress(tally)
    return tally


def settle_committing(ctx, configuration_id: int, lines: Iterable[SettlementLine],
                      record: Callable[[Session, Tally], None]) -> Tally:
    """Match settlement lines to payments and complete them in a transaction per block, so
    that a file of any length holds no transaction open for long and keeps what it settled
    when its process dies (a reconciliation run).

    :param configuration_id: the gateway configuration the lines belong to.
    :param record: called in each block's transaction, after its lines, with the tally so
        far; it writes the progress that must commit with the block (or raises to roll the
        block back).
    :returns: the tally of these lines.
    """
    tally = Tally()
    for block in blocks_of(lines):
        with ctx.transaction() as session:
            tally.held = 0  # this block's views wait only for its own commit
            row = session.get_one(GatewayConfiguration, configuration_id)
            settle_block(ctx, session, row, block, tally)
            record(session, tally)
    return tally


def settle_block(ctx, session: Session, row: GatewayConfiguration,
                 block: Sequence[SettlementLine], tally: Tally) -> None:
    """Apply one block of lines (see the module docstring); adds to ``tally``."""
    named = _payments_named(session, row, block)
    outcome: list[str | None] = [None] * len(block)
    plain: list[tuple[SettlementLine, Any]] = []
    one_by_one: list[int] = []
    missing: list[int] = []
    seen: set[int] = set()
    for index, line in enumerate(block):
        payment = named(line)
        if payment is None:
            missing.append(index)
        elif payment.id in seen or not _plain(payment, line):
            one_by_one.append(index)
        elif payment.completed_at is not None:
            outcome[index] = outcomes.NOTHING
        else:
            plain.append((line, payment))
            outcome[index] = outcomes.APPLIED
        if payment is not None:
            seen.add(payment.id)
    _settle_plain(ctx, session, row, plain, tally)
    unmatched.keep(session, row, [block[i] for i in missing], todo=True)
    for index in missing:
        outcome[index] = outcomes.UNKNOWN_PAYMENT
    for index in one_by_one:
        outcome[index] = _apply_one(ctx, session, row, block[index])
    for line, result in zip(block, outcome, strict=True):
        tally.lines += 1
        if result == outcomes.APPLIED:
            tally.matched += 1
        elif result in (outcomes.UNKNOWN_PAYMENT, outcomes.MISMATCH):
            tally.unmatched.append(line.gateway_reference)
        else:
            tally.already_settled += 1


def event_of(line: SettlementLine) -> GatewayEvent:
    """The settlement event a line stands for (the same a settlement webhook carries)."""
    return GatewayEvent(
        event_id=f"settlement:{line.payout_reference or ''}:{line.gateway_reference}",
        type=t.EVENT_SETTLED, payment_id=line.payment_id,
        gateway_reference=line.gateway_reference, amount=line.amount,
        payout_reference=line.payout_reference, occurred_at=line.settled_at,
        details={"fee": line.fee.amount, "net": line.net.amount})


def _apply_one(ctx, session: Session, row: GatewayConfiguration, line: SettlementLine) -> str:
    result = outcomes.apply_event(ctx, session, row, event_of(line))
    if result == outcomes.MISMATCH:  # the engine raised the to-do already
        unmatched.keep(session, row, [line], todo=False)
    elif result == outcomes.UNKNOWN_PAYMENT:  # cannot happen: it was found just before
        unmatched.keep(session, row, [line], todo=True)
    return result


def _plain(payment, line: SettlementLine) -> bool:
    """Whether the line only settles a payment whose money was taken (or finds it settled),
    with nothing that needs the one-by-one path."""
    if payment.succeeded_at is None:
        return False
    if payment.completed_at is not None:
        return True
    return (not payment.is_test and payment.payment_link_id is None
            and line.amount.currency == payment.currency
            and line.amount.amount == payment.amount_received)


def _payments_named(session: Session, row: GatewayConfiguration,
                    block: Sequence[SettlementLine]) -> Callable[[SettlementLine], Any]:
    """The payments the block's lines name, locked (in key order): by our number among this
    configuration's payments, else by the gateway's reference (as ``find_payment``)."""
    numbers = {line.payment_id for line in block if line.payment_id}
    by_number = {p.number: p for p in _read(session, "number", numbers,
                                            tenant_id=row.tenant_id,
                                            gateway_configuration_id=row.id)}
    references = {line.gateway_reference for line in block
                  if line.gateway_reference and line.payment_id not in by_number}
    by_reference: dict[str, Any] = {}
    for p in _read(session, "gateway_reference", references, gateway_configuration_id=row.id):
        by_reference.setdefault(p.gateway_reference, p)

    def named(line: SettlementLine) -> Any:
        found = by_number.get(line.payment_id) if line.payment_id else None
        if found is None and line.gateway_reference:
            found = by_reference.get(line.gateway_reference)
        return found
    return named


def _read(session: Session, column: str, keys: set, **where) -> list[types.SimpleNamespace]:
    return bulk.editable(bulk.rows_by_key(session, _PAYMENTS, column, keys, lock=True,
                                          **where))


def _settle_plain(ctx, session: Session, row: GatewayConfiguration,
                  plain: list[tuple[SettlementLine, Any]], tally: Tally) -> None:
    """Settle payments whose money was taken: what ``_settled`` and ``refresh_state`` do to
    each, written as row sets."""
    if not plain:
        return
    now = ctx.now()
    settings = load_settings(session, row.tenant_id)
    receipts = iter(posting.take_numbers(session, settings, row.tenant_id, "receipt", now,
                                         sum(1 for _, p in plain if p.receipt_number is None)))
    befores = []
    for line, payment in plain:
        befores.append(posting.snapshot(payment))
        _settle_facts(payment, line, receipts)
    bulk.update_rows(session, _PAYMENTS, [
        {"id": p.id, "completed_at": p.completed_at, "status": p.status,
         "settlement_status": p.settlement_status, "payout_reference": p.payout_reference,
         "settled_fee": p.settled_fee, "settled_net": p.settled_net,
         "gateway_details": p.gateway_details, "receipt_number": p.receipt_number}
        for _, p in plain])
    bulk.insert_rows(session, SettlementRecord.__table__, unmatched.take_over(
        session, row, [(p.number, _record(row, line, p)) for line, p in plain], now))
    bulk.insert_rows(session, AuditEntry.__table__, [
        {"tenant_id": p.tenant_id, "actor": GATEWAY.name, "role": GATEWAY.role,
         "action": _SETTLED_ACTION, "entity_type": "payment", "entity_id": p.number,
         "before": before, "after": posting.snapshot(p), "request_id": GATEWAY.request_id}
        for (_, p), before in zip(plain, befores, strict=True)])
    changed = [(p, before["status"]) for (_, p), before in zip(plain, befores, strict=True)
               if before["status"] != p.status]
    _tell(ctx, session, row, settings, changed, now, tally)


def _settle_facts(payment, line: SettlementLine, receipts: Iterator[str]) -> None:
    """The facts a settlement adds to a payment whose money was taken (``_settled``)."""
    payment.completed_at = line.settled_at
    if outcomes.SETTLEMENT_RANK.get(payment.settlement_status or "N/A", 0) < \
            outcomes.SETTLEMENT_RANK["Success"]:
        payment.settlement_status = "Success"
    payment.payout_reference = line.payout_reference
    payment.settled_fee = line.fee.amount
    payment.settled_net = line.net.amount
    days = (payment.completed_at - payment.succeeded_at).days
    payment.gateway_details = {**(payment.gateway_details or {}),
                               "processing_time": f"{days} day{'s' if days != 1 else ''}"}
    if payment.receipt_number is None:
        payment.receipt_number = next(receipts)
    payment.status = lifecycle.state_of(payment)


def _record(row: GatewayConfiguration, line: SettlementLine, payment) -> dict:
    return {"tenant_id": payment.tenant_id, "gateway_configuration_id": row.id,
            "payment_id": payment.id,
            "gateway_reference": payment.gateway_reference or payment.number,
            "payout_reference": line.payout_reference or "", "amount": payment.amount_received,
            "fee": payment.settled_fee, "net": payment.settled_net,
            "currency": payment.currency, "matched": True, "settled_at": payment.completed_at}


def _tell(ctx, session: Session, row: GatewayConfiguration, settings,
          changed: list[tuple[Any, str]], now, tally: Tally) -> None:
    """Who hears of the state changes: the host (events), the consumers (messages), the
    plugins and the tracking sinks after the commit (as ``refresh_state`` tells them)."""
    if not changed:
        return
    consumers = _consumers(session, {p.consumer_id for p, _ in changed if p.consumer_id})
    blocks.emit_many(session, row.tenant_id, [
        (f"payment.{p.status}", posting.host_event_data_of(p, old, consumers.get(
            p.consumer_id), None), f"payment:{p.number}") for p, old in changed], now)
    outbox, notes = [], []
    slug = messages.tenant_slug(session, row.tenant_id)
    for p, _old in changed:
        consumer = consumers.get(p.consumer_id)
        if consumer is not None and p.status in posting.CONSUMER_MESSAGES:
            reached, note = posting.consumer_message(settings, p, consumer, p.status,
                                                     messages.receipt_url(ctx, slug, p))
            chosen = [c for c in messages.channels_for(settings, note.kind)
                      if c in ctx.plugins.channels]
            outbox.append((note, messages.recipients(reached, chosen), f"payment:{p.number}"))
            notes.append(note)
    ids = blocks.emit_messages(session, outbox, now)
    kick = ids[:max(KICK_LIMIT - tally.kicked, 0)]
    tally.kicked += len(kick)
    if tally.held + len(changed) <= HELD_LIMIT:
        tally.held += len(changed)
        told = _told(changed, consumers, now, ctx.plugins.hears_status_changes())
        after_commit(session, lambda: _hand_on(ctx, *told, notes, kick))
        return
    changes = [(p.id, old, p.status) for p, old in changed]
    after_commit(session, lambda: _after_commit(ctx, row.tenant_id, changes, now, kick))


def _after_commit(ctx, tenant_id: int, changes: list[tuple[int, str, str]], now,
                  kick: list[int]) -> None:
    """Tell the plugins, a block of payments at a time read again after the commit (each
    shown in the state the settlement gave it), then hand the first messages on."""
    for start in range(0, len(changes), BLOCK):
        part = changes[start:start + BLOCK]
        with ctx.transaction() as session:
            settings = load_settings(session, tenant_id)
            rows = {r.id: r for r in bulk.editable(bulk.rows_by_id(
                session, Payment.__table__, [i for i, _, _ in part]))}
            consumers = _consumers(session, {r.consumer_id for r in rows.values()
                                             if r.consumer_id})
            slug = messages.tenant_slug(session, tenant_id)
        changed = []
        for payment_id, old, new in part:
            payment = rows[payment_id]
            payment.status = new
            changed.append((payment, old))
        notes = [posting.consumer_message(settings, p, consumers[p.consumer_id], p.status,
                                          messages.receipt_url(ctx, slug, p))[1]
                 for p, _ in changed if p.consumer_id in consumers
                 and p.status in posting.CONSUMER_MESSAGES]
        _hand_on(ctx, *_told(changed, consumers, now, ctx.plugins.hears_status_changes()),
                 notes, [])
    _kick(ctx, kick)


def _told(changed: list[tuple[Any, str]], consumers: dict[int, Any], now, heard: bool
          ) -> tuple[list[tuple[PaymentInfo, str, str]], list[TrackingEvent]]:
    """What the plugins hear of each change: its payment's view (when ``heard``: a plugin
    listens to status changes) and its tracking event."""
    infos, tracked = [], []
    for payment, old in changed:
        if heard:
            infos.append((posting.payment_info_of(payment, consumers.get(payment.consumer_id)),
                          old, payment.status))
        tracked.append(posting.state_tracked(payment, GATEWAY, old, payment.status, now))
    return infos, tracked


def _hand_on(ctx, infos: list[tuple[PaymentInfo, str, str]], tracked: list[TrackingEvent],
             notes: list[Notification], kick: list[int]) -> None:
    """After the commit: the plugins hear of the changes, then the first messages go; each
    call on its own, as ``refresh_state`` schedules them (a plugin that fails for one
    payment silences nothing else)."""
    plugins = ctx.plugins
    for info, old, new in infos:
        _isolated("loket_payment_status_changed", f"payment {info.payment_id}",
                  partial(plugins.payment_status_changed, info, old, new))
    _isolated("loket_track", f"{len(tracked)} payments", partial(plugins.track_many, tracked))
    for note in notes:
        _isolated("loket_notify", note.kind, partial(plugins.notify, note))
    _kick(ctx, kick)


def _kick(ctx, kick: list[int]) -> None:
    """Try the deliveries of the messages ``kick`` (outbox event ids) now, each on its own."""
    for event_row_id in kick:
        _isolated("sending a message", f"outbox event {event_row_id}",
                  partial(messages.kick, ctx, event_row_id))


def _isolated(hook: str, subject: str, call: Callable[[], object]) -> None:
    """Make one outbound call after the commit; when it raises, log it (its traceback names
    the plugin) and go on."""
    try:
        call()
    except Exception:  # noqa: BLE001 - a committed settlement stays told to the others
        log.exception("after settling: %s failed for %s; the other calls go on", hook,
                      subject)


def _consumers(session: Session, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r.id: r for r in bulk.rows_by_id(session, Consumer.__table__, ids)}
