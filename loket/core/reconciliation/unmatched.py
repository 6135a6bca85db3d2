"""Settlement lines loket cannot match: kept as unmatched settlement records, each with a
to-do for staff (once per line, however often the report is uploaded again)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import bulk
from loket.core.models import GatewayConfiguration, SettlementRecord, Todo
from loket.core.outbox import blocks
from loket.core.states import TodoStatus
from loket.types import SettlementLine


def keep(session: Session, row: GatewayConfiguration, lines: Sequence[SettlementLine],
         todo: bool) -> None:
    """Keep each line not kept before (per gateway reference and payout) as an unmatched
    settlement record and, with ``todo``, raise its to-do (unless one with its key exists).

    Called for a block of lines at once: a few statements, whatever the block's size.
    """
    if not lines:
        return
    kept = {tuple(r) for r in session.execute(select(SettlementRecord.gateway_reference,
                                      SettlementRecord.payout_reference).where(
        SettlementRecord.gateway_configuration_id == row.id,
        SettlementRecord.gateway_reference.in_({line.gateway_reference for line in lines}))
    )}
    new = []
    for line in lines:
        key = (line.gateway_reference, line.payout_reference or "")
        if key not in kept:
            kept.add(key)
            new.append(line)
    if not new:
        return
    bulk.insert_rows(session, SettlementRecord.__table__, [{
        "tenant_id": row.tenant_id, "gateway_configuration_id": row.id, "payment_id": None,
        "gateway_reference": line.gateway_reference,
        "payout_reference": line.payout_reference or "", "amount": line.amount.amount,
        "fee": line.fee.amount, "net": line.net.amount, "currency": line.amount.currency,
        "matched": False, "settled_at": line.settled_at} for line in new])
    if todo:
        _raise_todos(session, row, new)


def _raise_todos(session: Session, row: GatewayConfiguration,
                 lines: list[SettlementLine]) -> None:
    """``raise_todo`` for each line, as row sets: the to-dos and their ``todo.raised``
    events."""
    keyed = {f"unmatched:{row.id}:{line.payout_reference}:{line.gateway_reference}": line
             for line in lines}
    taken = set(session.scalars(select(Todo.dedupe_key).where(Todo.dedupe_key.in_(keyed))))
    todos = [{"tenant_id": row.tenant_id, "kind": "reconciliation.unmatched",
              "title": f"{row.kind} settled {line.amount} as {line.gateway_reference}, which "
                       f"matches no loket payment",
              "detail": "", "entity_type": "settlement", "entity_id": line.gateway_reference,
              "dedupe_key": key, "status": TodoStatus.OPEN}
             for key, line in keyed.items() if key not in taken]
    if not todos:
        return
    ids = bulk.insert_rows(session, Todo.__table__, todos, want_ids=True)
    blocks.emit_many(session, row.tenant_id, [
        ("todo.raised", {"todo": {"id": todo_id, "kind": todo["kind"], "title": todo["title"],
                                  "entity_type": "settlement", "entity_id": todo["entity_id"]}},
         f"todo:{todo_id}") for todo_id, todo in zip(ids, todos, strict=True)],
        now=dt.datetime.now(dt.UTC))
