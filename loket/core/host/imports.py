"""Importing host data in bulk: a million receivables (and their accounts) from a CSV file or
a bulk request, a block at a time, in the caller's transaction (all rows or none).

Each block is validated row by row in the file's order with exactly the rules of
:func:`~loket.core.host.receivables.upsert_consumer` and
:func:`~loket.core.host.receivables.upsert_receivable` (the first bad row raises, naming its
line), against the accounts, receivables and plans the block names, read in a few queries;
then the block is written as row sets (COPY on PostgreSQL). Payments held for a receivable
the block names (a tax form whose DLN was awaited) are applied in the same transaction, as
the API's upsert applies them (:func:`loket.core.payments.holds.release_matching`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import IO, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loket.core import audit, bulk
from loket.core.host import inputs
from loket.core.host import receivables as host
from loket.core.models import (
    AuditEntry,
    Consumer,
    PaymentHold,
    PaymentPlan,
    Receivable,
    ReceivableAttribute,
)
from loket.core.payments import holds
from loket.core.settings import load_settings
from loket.core.states import PlanStatus
from loket.core.text import storable
from loket.errors import ValidationFailed

BLOCK = 5000
"""Rows per block: a few statements per block, a few megabytes of rows held."""

CONSUMER_FIELDS = ("account_number", "name", "email", "phone", "service_address")
ATTRIBUTE_PREFIX = "attributes."
"""A CSV column ``attributes.<name>`` carries the receivable attribute ``<name>``."""


def csv_records(stream: IO[str]) -> Iterator[tuple[int, dict]]:
    """The rows of a receivables CSV as ``(line number, upsert data)``, read lazily.

    Columns are :data:`~loket.core.host.receivables.CSV_COLUMNS` and ``attributes.<name>``
    (empty cells are left out, so a row without attributes carries none).

    :raises ValidationFailed: the header lacks a required column.
    """
    reader = csv.DictReader(stream)
    header = reader.fieldnames or ()
    missing = {"account_number", "kind", "reference", "amount"} - set(header)
    if missing:
        raise ValidationFailed(f"CSV header lacks {', '.join(sorted(missing))}", field="header")
    named = [(c, c[len(ATTRIBUTE_PREFIX):]) for c in header if c.startswith(ATTRIBUTE_PREFIX)]
    for line, record in enumerate(reader, start=2):
        if named:
            given = {name: record.pop(column) for column, name in named}
            given = {name: value for name, value in given.items() if value not in (None, "")}
            if given:
                record["attributes"] = given
        yield line, record


def import_csv(session: Session, actor: audit.Actor, tenant_id: int, text: str | IO[str],
               attribute_schemas: Mapping[str, dict] | None = None,
               progress: Callable[[int], None] | None = None, ctx: Any = None) -> int:
    """Import receivables (and their consumers) from CSV with a header row of
    :data:`~loket.core.host.receivables.CSV_COLUMNS` (only ``account_number, kind,
    reference, amount`` are required; ``name`` is required for new accounts) and
    ``attributes.<name>`` columns for the kinds that take attributes. All rows or none: the
    first bad row raises with its line number.

    :param text: the CSV text, or a text stream (read a block at a time).
    :param progress: called with the rows done so far, after each block.
    :param ctx: the process's container: with it, payments held for the file's receivables
        are applied (see :func:`import_receivables`).
    :returns: the number of receivables imported.
    """
    stream = io.StringIO(text) if isinstance(text, str) else text
    return import_receivables(session, actor, tenant_id, csv_records(stream),
                              attribute_schemas, progress, ctx)


def import_receivables(session: Session, actor: audit.Actor, tenant_id: int,
                       records: Iterable[tuple[int | str, dict]],
                       attribute_schemas: Mapping[str, dict] | None = None,
                       progress: Callable[[int], None] | None = None, ctx: Any = None) -> int:
    """Upsert receivables (and, for rows with a ``name``, their accounts) in blocks.

    :param records: ``(where, data)`` pairs: ``where`` names the row in errors (a line
        number, or ``items[3]``).
    :param progress: called with the number of rows done after each block.
    :param ctx: the process's container (its plugins apply the money): after each block,
        the payments held for one of its receivables are applied, in the caller's
        transaction. Without it they stay held (a caller that has no container).
    :returns: the number of receivables imported.
    :raises ValidationFailed: ``line N: ...`` (or ``items[i]: ...``) for the first bad row.
    """
    currency = load_settings(session, tenant_id).currency
    schemas = dict(attribute_schemas or {})
    done = 0
    iterator = iter(records)
    blocks = 0
    block = list(islice(iterator, BLOCK))
    while block:
        _Block(session, actor, tenant_id, currency, schemas, ctx).run(block)
        done += len(block)
        blocks += 1
        if progress is not None:
            progress(done)
        block = list(islice(iterator, BLOCK))
        if block and blocks & (blocks - 1) == 0:
            # Before blocks 2, 3, 5, 9…: their lookups are planned for the tables as they
            # have grown, not for the (perhaps empty) ones of the last statistics, for which
            # PostgreSQL chose to read every account of the tenant for each key.
            bulk.refresh_statistics(session, Consumer.__table__, Receivable.__table__)
    return done


def _at(where: int | str, exc: ValidationFailed) -> ValidationFailed:
    label = f"line {where}" if isinstance(where, int) else str(where)
    return ValidationFailed(f"{label}: {exc.detail}", errors=[
        {"field": f"{label}.{e['field']}", "message": e["message"]} for e in exc.errors])


class _Block:
    """One block: what the database holds for it, changed in memory row by row, then
    written."""

    def __init__(self, session: Session, actor: audit.Actor, tenant_id: int, currency: str,
                 schemas: dict, ctx: Any) -> None:
        self.session, self.actor, self.tenant_id = session, actor, tenant_id
        self.currency, self.schemas, self.ctx = currency, schemas, ctx
        self.audit: list[dict] = []
        self.fresh = 0
        self.named: dict[tuple[str, str], Any] = {}  # the receivables the rows name

    def run(self, block: list[tuple[int | str, dict]]) -> None:
        """Validate and apply every row in order, write the block, then apply the payments
        held for its receivables."""
        self._read(block)
        for where, data in block:
            try:
                self._row(data)
            except ValidationFailed as exc:
                raise _at(where, exc) from None
        self._write()
        if self.ctx is not None:
            self._release_holds()

    def _read(self, block: list[tuple[int | str, dict]]) -> None:
        # A key no row can have (one the database cannot even compare) is not looked up:
        # its row is refused, naming its line, when it is validated.
        accounts = _keys(block, "account_number")
        references = _keys(block, "reference")
        kinds = _keys(block, "kind")
        plans = _keys(block, "plan") - {""}
        t = self.tenant_id
        self.consumers = {r.account_number: r for r in self._rows(
            Consumer, "account_number", accounts, tenant_id=t)}
        self.receivables = {(r.kind, r.reference): r for r in self._rows(
            Receivable, "reference", references, lock=True, tenant_id=t, kind=kinds)}
        self.plans = {r.reference: r for r in self._rows(
            PaymentPlan, "reference", plans, tenant_id=t)}
        # The plans the receivables belong to, read once each: the same copy by id and by
        # reference, so that a row naming its own plan is told apart by identity.
        self.plans_by_id = {p.id: p for p in self.plans.values()}
        held = {r.plan_id for r in self.receivables.values() if r.plan_id is not None}
        for plan in bulk.editable(bulk.rows_by_id(self.session, PaymentPlan.__table__,
                                                  held - set(self.plans_by_id)), _new=False):
            self.plans_by_id[plan.id] = self.plans[plan.reference] = plan
        self.attributes: dict[tuple[str, str], dict[str, str]] = {}

    def _rows(self, model, column: str, keys: set, lock: bool = False,
              **where) -> list[types.SimpleNamespace]:
        return bulk.editable(bulk.rows_by_key(self.session, model.__table__, column, keys,
                                              lock=lock, **where), _new=False, _dirty=False)

    def _row(self, data: dict) -> None:
        if data.get("name"):
            self._consumer({k: data[k] for k in CONSUMER_FIELDS if data.get(k)})
        given = inputs.receivable_input(data, self.schemas, self.currency)
        consumer = self.consumers.get(given.account_number)
        if consumer is None:
            raise ValidationFailed(f"unknown account {given.account_number!r}",
                                   field="account_number")
        key = (given.kind, given.reference)
        row = self.receivables.get(key)
        named = self._plan(consumer, given.plan) if given.plan else None
        current = None if row is None else getattr(row, "plan", None) or \
            self.plans_by_id.get(row.plan_id)
        before = host.check_upsert(row, given, consumer.id, current, named)
        if row is None:
            row = self.receivables[key] = types.SimpleNamespace(
                _new=True, _dirty=True, id=None, tenant_id=self.tenant_id, kind=given.kind,
                reference=given.reference, paid=0, currency=self.currency, consumer=consumer,
                consumer_id=consumer.id, description=None, period=None, due_date=None,
                issued_on=None, plan_id=None, sequence=None, status=None, amount=0)
        facts = host.receivable_facts(row)
        self.named[key] = row
        host.apply_receivable(row, given)
        if before is not None:
            if host.receivable_unchanged(given, facts, row, named is not None
                                         and named is current):
                return
            row._dirty = True
        if named is not None:
            row.plan = named
        if given.attributes is not None:
            self.attributes[key] = given.attributes
        self.audit.append(self._audit("receivable.upserted", "receivable",
                                      f"{given.kind}:{row.reference}", before,
                                      {"amount": row.amount, "status": row.status}))

    def _consumer(self, data: dict) -> None:
        inputs.check_consumer(data)
        consumer = self.consumers.get(data["account_number"])
        before = None
        if consumer is None:
            # A new account's id is a stand-in until it is written (never equal to a real one).
            self.fresh -= 1
            consumer = self.consumers[data["account_number"]] = types.SimpleNamespace(
                _new=True, _dirty=True, id=self.fresh, tenant_id=self.tenant_id,
                account_number=data["account_number"], email=None, phone=None,
                service_address=None, postcode=None, person_type=None,
                account_status="active", account_status_reason=None)
        else:
            before = {"name": consumer.name, "email": consumer.email}
            facts = host.consumer_facts(consumer)
        host.apply_consumer(consumer, data)
        if before is not None:
            if host.consumer_facts(consumer) == facts:
                return
            consumer._dirty = True
        self.audit.append(self._audit("consumer.upserted", "consumer",
                                      consumer.account_number, before,
                                      {"name": consumer.name, "email": consumer.email}))

    def _plan(self, consumer, reference: str) -> Any:
        plan = self.plans.get(reference)
        if plan is None:
            plan = self.plans[reference] = types.SimpleNamespace(
                _new=True, id=None, consumer=consumer, reference=reference)
        elif (plan.consumer is not consumer) if plan._new else plan.consumer_id != consumer.id:
            raise ValidationFailed(f"plan {reference!r} belongs to another account",
                                   field="plan")
        return plan

    def _audit(self, action: str, entity_type: str, entity_id: str, before, after) -> dict:
        return {"tenant_id": self.tenant_id, "actor": self.actor.name, "role": self.actor.role,
                "action": action, "entity_type": entity_type, "entity_id": entity_id,
                "before": before, "after": after, "request_id": self.actor.request_id}

    def _write(self) -> None:
        self._write_consumers()
        new_plans = [p for p in self.plans.values() if p._new]
        ids = bulk.insert_rows(self.session, PaymentPlan.__table__, [
            {"tenant_id": self.tenant_id, "consumer_id": p.consumer.id,
             "reference": p.reference, "currency": self.currency,
             "status": PlanStatus.ACTIVE} for p in new_plans], want_ids=True)
        for plan, plan_id in zip(new_plans, ids, strict=True):
            plan.id, plan._new = plan_id, False
        self._write_receivables()
        bulk.insert_rows(self.session, AuditEntry.__table__, self.audit)

    def _write_consumers(self) -> None:
        fields = ("name", "name_search", "email", "phone", "service_address", "postcode",
                  "person_type", "account_status", "account_status_reason")
        new = [c for c in self.consumers.values() if c._new]
        ids = bulk.insert_rows(self.session, Consumer.__table__, [
            {"tenant_id": self.tenant_id, "account_number": c.account_number,
             **{f: getattr(c, f) for f in fields}} for c in new], want_ids=True)
        for consumer, consumer_id in zip(new, ids, strict=True):
            consumer.id = consumer_id
        bulk.update_rows(self.session, Consumer.__table__, [
            {"id": c.id, **{f: getattr(c, f) for f in fields}}
            for c in self.consumers.values() if c._dirty and not c._new])

    def _write_receivables(self) -> None:
        fields = ("amount", "description", "period", "due_date", "issued_on", "plan_id",
                  "sequence", "status")
        for row in self.receivables.values():
            if row._dirty and hasattr(row, "plan"):
                row.plan_id = row.plan.id
        new = [r for r in self.receivables.values() if r._new]
        today = dt.datetime.now(dt.UTC).date()
        ids = bulk.insert_rows(self.session, Receivable.__table__, [
            {"tenant_id": self.tenant_id, "consumer_id": r.consumer.id, "kind": r.kind,
             "reference": r.reference, "paid": 0, "currency": self.currency,
             **{f: getattr(r, f) for f in fields}, "issued_on": r.issued_on or today}
            for r in new], want_ids=True)
        for row, row_id in zip(new, ids, strict=True):
            row.id = row_id
        bulk.update_rows(self.session, Receivable.__table__, [
            {"id": r.id, **{f: getattr(r, f) for f in fields}}
            for r in self.receivables.values() if r._dirty and not r._new])
        self._write_attributes()

    def _write_attributes(self) -> None:
        if not self.attributes:
            return
        ids = {self.receivables[key].id: values for key, values in self.attributes.items()}
        self.session.execute(delete(ReceivableAttribute).where(
            ReceivableAttribute.receivable_id.in_(ids)))
        bulk.insert_rows(self.session, ReceivableAttribute.__table__, [
            {"tenant_id": self.tenant_id, "receivable_id": receivable_id, "name": name,
             "value": value}
            for receivable_id, values in ids.items() for name, value in values.items()])

    def _release_holds(self) -> None:
        """Apply the payments held for a receivable the block named, one receivable at a time
        as the API's upsert does, when the tenant has payments waiting at all."""
        waiting = set(self.session.scalars(select(PaymentHold.hold_key).where(
            PaymentHold.tenant_id == self.tenant_id, PaymentHold.state == holds.WAITING)))
        if not waiting:
            return
        kinds = {key.split(":", 1)[0] for key in waiting}
        named = {row.id: (kind, reference) for (kind, reference), row in self.named.items()
                 if kind in kinds}
        stored: dict[int, list[tuple[str, str]]] = {}
        unsent = [i for i, key in named.items() if key not in self.attributes]
        if unsent:  # rows sent without attributes keep the ones stored
            for receivable_id, name, value in self.session.execute(select(
                    ReceivableAttribute.receivable_id, ReceivableAttribute.name,
                    ReceivableAttribute.value).where(
                    ReceivableAttribute.receivable_id.in_(unsent))):
                stored.setdefault(receivable_id, []).append((name, value))
        for receivable_id, (kind, reference) in sorted(named.items()):
            pairs = self.attributes.get((kind, reference)) or dict(stored.get(receivable_id, ()))
            keys = {f"{kind}:reference={reference}"} | {
                f"{kind}:{name}={value}" for name, value in pairs.items()}
            if keys & waiting:
                holds.release_matching(self.ctx, self.session, self.session.get_one(
                    Receivable, receivable_id, populate_existing=True), skip_locked=True)
        self.session.flush()


def _keys(block: list[tuple[int | str, dict]], field: str) -> set[str]:
    """The values of ``field`` in a block's rows that the database can compare."""
    return {text for _, d in block if storable(text := str(d.get(field) or ""))}
