"""Settlement lines loket cannot match: kept as unmatched settlement records, each with a
to-do for staff (once per line, however often the report is uploaded again, and when two
uploads of it run at once).

A line matched later (its payment learned the gateway's reference since, or a corrected
line follows one for another amount) takes its unmatched record over, and the to-do raised
for it is resolved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, bulk
from loket.core.db import text_length
from loket.core.models import GatewayConfiguration, SettlementRecord, Todo
from loket.core.outbox import blocks
from loket.core.states import TodoStatus
from loket.types import SettlementLine

_RECORDS = SettlementRecord.__table__
RECORD_KEY = ("gateway_configuration_id", "gateway_reference", "payout_reference")
"""A settlement record's unique key: one record per configuration, reference and payout."""
_TAKEN_OVER = ("payment_id", "amount", "fee", "net", "currency", "matched", "settled_at")
"""What a matched line writes over the unmatched record it takes over."""
_TODO = Todo.__table__.c


def keep(session: Session, row: GatewayConfiguration, lines: Sequence[SettlementLine],
         todo: bool) -> None:
    """Keep each line not kept before (per gateway reference and payout) as an unmatched
    settlement record and, with ``todo``, raise its to-do (unless one with its key exists).

    Called for a block of lines at once: a few statements, whatever the block's size. A
    line another transaction is keeping meanwhile is waited for, then left to it.
    """
    if not lines:
        return
    first: dict[tuple[str, str], SettlementLine] = {}
    for line in lines:
        first.setdefault((line.gateway_reference, line.payout_reference or ""), line)
    kept = {tuple(r) for r in bulk.insert_new_rows(session, _RECORDS, [{
        "tenant_id": row.tenant_id, "gateway_configuration_id": row.id, "payment_id": None,
        "gateway_reference": line.gateway_reference,
        "payout_reference": line.payout_reference or "", "amount": line.amount.amount,
        "fee": line.fee.amount, "net": line.net.amount, "currency": line.amount.currency,
        "matched": False, "settled_at": line.settled_at} for line in first.values()],
        RECORD_KEY, returning=("gateway_reference", "payout_reference"))}
    if todo:
        _raise_todos(session, row, [line for key, line in first.items() if key in kept])


def _raise_todos(session: Session, row: GatewayConfiguration,
                 lines: list[SettlementLine]) -> None:
    """``raise_todo`` for each line, as row sets: the to-dos and their ``todo.raised``
    events (none for a key taken before, or by another transaction meanwhile)."""
    todos = {}
    for line in lines:
        key = _todo_key(row, line.payout_reference, line.gateway_reference)
        reference = line.gateway_reference
        todos[key] = {
            "tenant_id": row.tenant_id, "kind": "reconciliation.unmatched",
            "title": (f"{row.kind} settled {line.amount} as {reference}, which matches no "
                      f"loket payment")[:text_length(_TODO.title)],
            "detail": "", "entity_type": "settlement",
            "entity_id": (reference if len(reference) <= text_length(_TODO.entity_id)
                          else None),
            "dedupe_key": key, "status": TodoStatus.OPEN}
    raised = sorted(bulk.insert_new_rows(session, Todo.__table__, list(todos.values()),
                                         ("tenant_id", "dedupe_key"),
                                         returning=("id", "dedupe_key")))
    if not raised:
        return
    blocks.emit_many(session, row.tenant_id, [
        ("todo.raised", {"todo": {"id": todo_id, "kind": todos[key]["kind"],
                                  "title": todos[key]["title"], "entity_type": "settlement",
                                  "entity_id": todos[key]["entity_id"]}}, f"todo:{todo_id}")
        for todo_id, key in raised], now=dt.datetime.now(dt.UTC))


def _todo_key(row: GatewayConfiguration, payout: str | None, reference: str) -> str:
    """The dedupe key of the to-do of an unmatched line (``payout`` as the line gave it:
    ``None`` is written so), or of its digest when too long for the column."""
    key = f"unmatched:{row.id}:{payout}:{reference}"
    if len(key) <= text_length(_TODO.dedupe_key):
        return key
    digest = hashlib.sha256(f"{payout}:{reference}".encode()).hexdigest()
    return f"unmatched:{row.id}:sha256:{digest}"


def take_over(session: Session, row: GatewayConfiguration,
              settled: Sequence[tuple[str, dict[str, Any]]], now: dt.datetime
              ) -> list[dict[str, Any]]:
    """Let the matched settlement records about to be written take over the records their
    lines left unmatched before (the same gateway reference and payout): such a record gets
    the matched one's payment and amounts, and the to-dos raised for it are resolved.

    Called by whatever settles payments (a block of a report, a settlement event) before it
    inserts their records.

    :param settled: each payment's number and the values of its matched record.
    :returns: the values of the records to insert (no unmatched record had their key).
    """
    if not settled:
        return []
    unmatched = {(r.gateway_reference, r.payout_reference): r.id for r in bulk.rows_by_key(
        session, _RECORDS, "gateway_reference",
        {values["gateway_reference"] for _, values in settled},
        gateway_configuration_id=row.id) if r.payment_id is None}
    taken, rest = [], []
    for number, values in settled:
        record_id = unmatched.pop((values["gateway_reference"], values["payout_reference"]),
                                  None)
        if record_id is None:
            rest.append(values)
        else:
            taken.append((number, values, record_id))
    if taken:
        bulk.update_rows(session, _RECORDS, [
            {"id": record_id, **{name: values[name] for name in _TAKEN_OVER}}
            for _, values, record_id in taken])
        _resolve_todos(session, row, [(number, values) for number, values, _ in taken], now)
    return rest


def _resolve_todos(session: Session, row: GatewayConfiguration,
                   taken: list[tuple[str, dict[str, Any]]], now: dt.datetime) -> None:
    """Resolve the open to-dos raised for the lines whose records were taken over: the line
    matched nothing (``reconciliation.unmatched``), or another amount than its payment took
    (``settlement.amount_mismatch``); audited as loket's."""
    numbers = {}
    for number, values in taken:
        reference, payout = values["gateway_reference"], values["payout_reference"]
        givens = (payout, None) if payout == "" else (payout,)  # None: a line without payout
        for given in givens:
            numbers[_todo_key(row, given, reference)] = number
        numbers[f"settle-mismatch:{values['payment_id']}:{payout}"] = number
    for todo in session.scalars(select(Todo).where(
            Todo.tenant_id == row.tenant_id, Todo.status == TodoStatus.OPEN,
            Todo.dedupe_key.in_(numbers))):
        number = numbers[todo.dedupe_key or ""]
        resolution = f"settled: the line now matches payment {number}"
        todo.status, todo.resolution = TodoStatus.RESOLVED, resolution
        todo.resolved_by, todo.resolved_at = audit.SYSTEM.name, now
        audit.record(session, audit.SYSTEM, "todo.resolved", "todo", todo.id,
                     before={"status": "open"},
                     after={"status": "resolved", "resolution": resolution},
                     tenant_id=todo.tenant_id)
