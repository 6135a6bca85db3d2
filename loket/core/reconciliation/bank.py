"""Bank statement reconciliation: confirm that each gateway payout reached the bank.

A statement is CSV with a header row ``date,reference,amount[,description]`` (``date`` as
``YYYY-MM-DD``, ``amount`` a decimal string in the tenant currency; debits — negative
amounts — are skipped). Each credit is matched to a payout:

1. by reference: the payout's reference appears in the line's reference or description
   (banks usually carry the gateway's payout id or batch id);
2. otherwise by amount: exactly one unconfirmed payout whose net total equals the credit,
   settled within :data:`DATE_WINDOW_DAYS` days before the booking date.

A line already imported (same date, reference and amount) is not imported twice; a credit
that matches no payout, or a payout credited with another amount than the gateway reported,
becomes a to-do.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import BankStatementLine, SettlementRecord
from loket.core.settings import load_settings
from loket.core.todos import raise_todo
from loket.errors import ValidationFailed
from loket.money import Money

DATE_WINDOW_DAYS = 5
REQUIRED_COLUMNS = ("date", "reference", "amount")


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


def parse_statement(text: str, currency: str) -> list[BankLine]:
    """Read the credits of a CSV statement; errors name the line and column."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(f"the statement lacks the column(s) {', '.join(missing)}",
                               field="content")
    lines = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
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
        lines.append(BankLine(booked_on, row["reference"], amount, row.get("description", "")))
    return lines


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


def _match(line: BankLine, payouts: dict[str, list[SettlementRecord]]) -> str | None:
    """The payout a bank credit pays: the one in its currency whose reference it names as a
    whole word (``PO-1`` is not named by ``PO-10``), else the only one of its amount
    settled in the days before it."""
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
        and 0 <= (line.booked_on - max(r.settled_at for r in rows).date()).days
        <= DATE_WINDOW_DAYS]
    return by_amount[0] if len(by_amount) == 1 else None


def import_statement(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                     content: str) -> BankResult:
    """Import a bank statement and confirm the payouts it shows."""
    lines = parse_statement(content, load_settings(session, tenant_id).currency)
    payouts = _unconfirmed_payouts(session, tenant_id, lock=True)
    matched, unmatched, already = [], [], 0
    for line in lines:
        if session.scalar(select(BankStatementLine.id).where(
                BankStatementLine.tenant_id == tenant_id,
                BankStatementLine.fingerprint == line.fingerprint)):
            already += 1
            continue
        stored = BankStatementLine(
            tenant_id=tenant_id, fingerprint=line.fingerprint, booked_on=line.booked_on,
            reference=line.reference[:200], description=line.description[:300],
            amount=line.amount.amount, currency=line.amount.currency, imported_at=ctx.now())
        session.add(stored)
        session.flush()
        payout = _match(line, payouts)
        if payout is None:
            unmatched.append(line.reference)
            raise_todo(session, tenant_id, "bank.unmatched",
                       f"Bank credit {line.amount} on {line.booked_on} ({line.reference}) "
                       f"matches no gateway payout", entity_type="bank_line",
                       entity_id=str(stored.id))
            continue
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
        matched.append(payout)
    audit.record(session, actor, "bank_statement.imported", "bank_statement", ctx.now().date(),
                 after={"matched": matched, "unmatched": unmatched, "already": already},
                 tenant_id=tenant_id)
    return BankResult(tuple(matched), tuple(unmatched), already)


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
