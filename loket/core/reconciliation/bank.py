"""Bank statement reconciliation: confirm that each gateway payout reached the bank.

A statement is CSV with a header row ``date,reference,amount[,description]`` (``date`` as
``YYYY-MM-DD``, ``amount`` a decimal string in the tenant currency; debits — negative
amounts — are skipped). Each credit is matched to a payout:

1. by reference: the payout's reference appears in the line's reference or description
   (banks usually carry the gateway's payout id or batch id);
2. otherwise by amount: exactly one unconfirmed payout whose net total equals the credit,
   settled within :data:`DATE_WINDOW_DAYS` days before the booking date, both days on the
   tenant's calendar (its time zone).

A line already imported (same date, reference and amount) is not imported twice; a credit
that matches no payout, or a payout credited with another amount than the gateway reported,
becomes a to-do.

A statement posted to the API is imported in the caller's transaction
(:func:`import_statement`); an uploaded file of any size is read by the worker a block of
lines at a time (:func:`import_committing`), each block committing with the run's progress.
Each block reads afresh, under lock, the payouts no line has confirmed yet and the lines
already imported, so a run that starts again after its last committed block confirms no
payout twice and imports no line twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, bulk
from loket.core.models import BankStatementLine, SettlementRecord
from loket.core.settings import load_settings
from loket.core.todos import raise_todo
from loket.errors import ValidationFailed
from loket.money import Money

DATE_WINDOW_DAYS = 5
REQUIRED_COLUMNS = ("date", "reference", "amount")
BLOCK = 2000
"""Statement lines per transaction when the worker reads an uploaded statement: each block
commits with the run's progress and heartbeat."""


@attrs.frozen
class BankLine:
    """One credit read from a statement."""

    booked_on: dt.date
    reference: str
    amount: Money
    description: str = ""

    @property
    def fingerprint(self) -> str:
        """What identifies the line across imports of overlapping statements."""
        key = f"{self.booked_on}|{self.reference}|{self.amount.amount}|{self.amount.currency}"
        return hashlib.sha256(key.encode()).hexdigest()


@attrs.frozen
class BankResult:
    """What a statement import did."""

    matched: tuple[str, ...]
    unmatched: tuple[str, ...]
    already_imported: int

    def to_json(self) -> dict:
        """The API's view: payout references confirmed, line references left over."""
        return {"matched_payouts": list(self.matched), "unmatched_lines": list(self.unmatched),
                "already_imported": self.already_imported}


@attrs.define
class Tally:
    """What a statement's lines did so far (added to block after block)."""

    lines: int = 0
    matched: list[str] = attrs.Factory(list)  # the payouts confirmed, in line order
    already_imported: int = 0
    unmatched: list[str] = attrs.Factory(list)  # the references of credits matching none


def parse_statement(text: str, currency: str) -> list[BankLine]:
    """Read the credits of a CSV statement; errors name the line and column."""
    return list(read_statement(io.StringIO(text.lstrip("\ufeff")), currency))


def read_statement(stream: Iterable[str], currency: str) -> Iterator[BankLine]:
    """The credits of a CSV statement read from ``stream`` (its text lines: an open file,
    read as it goes), one at a time, in the statement's order; debits and blank lines are
    left out. Called by :func:`parse_statement` and by a reconciliation run, which reads
    the file through once to check it before reading it again block by block.

    :raises ValidationFailed: a missing column, or a line whose date or amount is wrong or
        whose fields do not fit the header (named by its line number in the file), when
        the reading reaches it.
    """
    reader = csv.DictReader(stream)
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(f"the statement lacks the column(s) {', '.join(missing)}",
                               field="content")
    for raw in reader:
        number = reader.line_num  # counts the blank lines the reader skips, as an editor does
        row = _fields(raw, len(header), number)
        if row is None:
            continue
        amount_text = row["amount"].replace(",", "")
        if amount_text.startswith("-"):
            continue  # a debit: not money coming in
        try:
            booked_on = dt.date.fromisoformat(row["date"])
        except ValueError:
            raise ValidationFailed(f"line {number}: date must look like 2025-03-31",
                                   field=f"line {number}.date") from None
        amount = Money.parse(amount_text, currency, field=f"line {number}.amount")
        yield BankLine(booked_on, row["reference"], amount, row.get("description", ""))


def _fields(raw: dict, columns: int, number: int) -> dict[str, str] | None:
    """The values of statement line ``number`` by column (names trimmed and lowercased;
    ``None`` for a blank line), as :func:`read_statement` reads it from ``raw``, the
    line as :class:`csv.DictReader` gives it: fields past the header's ``columns`` listed
    under ``None``, the columns past the line's last field ``None``.

    :raises ValidationFailed: fields past the header (an amount such as 1,500.00 not in
        quotes), or no field for a required column.
    """
    extra = raw.pop(None, None)
    row = {(k or "").strip().lower(): v for k, v in raw.items()}
    if not any((v or "").strip() for v in [*row.values(), *(extra or ())]):
        return None
    if extra is not None:
        raise ValidationFailed(
            f"line {number}: more fields ({columns + len(extra)}) than the header "
            f'({columns}); put an amount or text that contains a comma in quotes, as "1,500.00"',
            field=f"line {number}")
    lacking = [c for c in REQUIRED_COLUMNS if row[c] is None]
    if lacking:
        present = sum(v is not None for v in raw.values())
        raise ValidationFailed(
            f"line {number}: fewer fields ({present}) than the header ({columns}); it ends "
            f"before the {lacking[0]} column", field=f"line {number}")
    return {k: (v or "").strip() for k, v in row.items()}


def _unconfirmed_payouts(session: Session, tenant_id: int, lock: bool = False
                         ) -> dict[str, list[SettlementRecord]]:
    query = select(SettlementRecord).where(
        SettlementRecord.tenant_id == tenant_id, SettlementRecord.bank_line_id.is_(None),
        SettlementRecord.payout_reference != "").order_by(SettlementRecord.id)
    rows = session.scalars(query.with_for_update() if lock else query).all()
    payouts: dict[str, list[SettlementRecord]] = {}
    for row in rows:
        payouts.setdefault(row.payout_reference, []).append(row)
    return payouts


def _match(line: BankLine, payouts: dict[str, list[SettlementRecord]],
           zone: ZoneInfo) -> str | None:
    """The payout a bank credit pays: the one in its currency whose reference it names as a
    whole word (``PO-1`` is not named by ``PO-10``), else the only one of its amount
    settled in the days before it, counted on the tenant's calendar (``zone``), on which
    the bank books the credit and :func:`awaiting_bank` dates the payout."""
    text = f"{line.reference} {line.description}"
    same_currency = {reference: rows for reference, rows in payouts.items()
                     if all(r.currency == line.amount.currency for r in rows)}
    for reference in same_currency:
        if re.search(rf"(?<![0-9A-Za-z]){re.escape(reference)}(?![0-9A-Za-z])", text,
                     re.IGNORECASE):
            return reference
    by_amount = [
        reference for reference, rows in same_currency.items()
        if sum(r.net for r in rows) == line.amount.amount
        and 0 <= (line.booked_on - _local_day(max(r.settled_at for r in rows), zone)).days
        <= DATE_WINDOW_DAYS]
    return by_amount[0] if len(by_amount) == 1 else None


def import_statement(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                     content: str) -> BankResult:
    """Import a bank statement and confirm the payouts it shows, in the caller's
    transaction (``POST /v1/reconciliation/bank-statements``)."""
    lines = parse_statement(content, load_settings(session, tenant_id).currency)
    tally = Tally()
    import_block(ctx, session, actor, tenant_id, lines, tally)
    return BankResult(tuple(tally.matched), tuple(tally.unmatched), tally.already_imported)


def import_committing(ctx, actor: audit.Actor, tenant_id: int, lines: Iterable[BankLine],
                      record: Callable[[Session, Tally], None]) -> Tally:
    """Import statement lines in a transaction per block of :data:`BLOCK` lines, so that a
    statement of any length holds no transaction open for long and keeps what it imported
    when its process dies (a reconciliation run).

    :param record: called in each block's transaction, after its lines, with the tally so
        far; it writes the progress that must commit with the block (or raises to roll the
        block back).
    :returns: the tally of these lines.
    """
    tally = Tally()
    iterator = iter(lines)
    while block := list(islice(iterator, BLOCK)):
        with ctx.transaction() as session:
            import_block(ctx, session, actor, tenant_id, block, tally)
            record(session, tally)
    return tally


def import_block(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                 lines: Sequence[BankLine], tally: Tally) -> None:
    """Import one block of statement lines (see the module docstring) in the caller's
    transaction, with an audit entry of what it did; adds to ``tally``.

    The payouts still unconfirmed are read and locked here, and the lines already imported
    are read here: what an earlier block (or an earlier import) committed is never
    imported or confirmed again.
    """
    payouts = _unconfirmed_payouts(session, tenant_id, lock=True)
    zone = ZoneInfo(load_settings(session, tenant_id)["timezone"])
    seen = {row.fingerprint for row in bulk.rows_by_key(
        session, BankStatementLine.__table__, "fingerprint",
        {line.fingerprint for line in lines}, tenant_id=tenant_id)}
    matched, unmatched, already = [], [], 0
    for line in lines:
        if line.fingerprint in seen:
            already += 1
            continue
        seen.add(line.fingerprint)
        payout = _import_line(ctx, session, tenant_id, line, payouts, zone)
        if payout is None:
            unmatched.append(line.reference)
        else:
            matched.append(payout)
    audit.record(session, actor, "bank_statement.imported", "bank_statement", ctx.now().date(),
                 after={"matched": matched, "unmatched": unmatched, "already": already},
                 tenant_id=tenant_id)
    tally.lines += len(lines)
    tally.matched += matched
    tally.unmatched += unmatched
    tally.already_imported += already


def _import_line(ctx, session: Session, tenant_id: int, line: BankLine,
                 payouts: dict[str, list[SettlementRecord]], zone: ZoneInfo) -> str | None:
    """Store a line not imported before and confirm the payout it matches (taken out of
    ``payouts``; ``zone`` is the tenant's time zone), else raise its to-do.

    :returns: the payout confirmed, if any.
    """
    stored = BankStatementLine(
        tenant_id=tenant_id, fingerprint=line.fingerprint, booked_on=line.booked_on,
        reference=line.reference[:200], description=line.description[:300],
        amount=line.amount.amount, currency=line.amount.currency, imported_at=ctx.now())
    session.add(stored)
    session.flush()
    payout = _match(line, payouts, zone)
    if payout is None:
        raise_todo(session, tenant_id, "bank.unmatched",
                   f"Bank credit {line.amount} on {line.booked_on} ({line.reference}) "
                   f"matches no gateway payout", entity_type="bank_line",
                   entity_id=str(stored.id))
        return None
    stored.payout_reference = payout
    records = payouts.pop(payout)
    for record in records:
        record.bank_line_id = stored.id
    net = sum(r.net for r in records)
    if net != line.amount.amount:
        raise_todo(session, tenant_id, "bank.amount_mismatch",
                   f"Payout {payout}: the bank credited {line.amount}, the gateway "
                   f"reported {Money(net, line.amount.currency)}", entity_type="bank_line",
                   entity_id=str(stored.id))
    return payout


def _local_day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
    return moment.astimezone(zone).date()


def awaiting_bank(session: Session, tenant_id: int) -> list[dict]:
    """Payouts the bank has not confirmed yet, with their net totals (minor units) and the
    tenant's calendar day of their last settlement (``settled_on``, ``YYYY-MM-DD``)."""
    zone = ZoneInfo(load_settings(session, tenant_id)["timezone"])
    return [{"payout_reference": reference, "currency": rows[0].currency,
             "net": sum(r.net for r in rows), "payments": len(rows),
             "settled_on": _local_day(max(r.settled_at for r in rows), zone).isoformat()}
            for reference, rows in _unconfirmed_payouts(session, tenant_id).items()]
