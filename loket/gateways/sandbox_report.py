"""The sandbox's settlement report: a CSV file like the ones real gateways deliver, one line
per settled checkout, so staff can try report reconciliation on the demo.

Columns: ``reference`` (the sandbox's checkout id), ``payment_number`` (loket's),
``currency``, ``amount``, ``fee`` and ``net`` (in the currency's major unit, e.g.
``145.50``), ``settled_at`` (ISO 8601 with offset) and ``payout``.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator

from loket.gateways import sandbox_store as store
from loket.gateways.sandbox_rules import settlement_fee
from loket.plugin_api import Money, SettlementLine, ValidationFailed

COLUMNS = ("reference", "payment_number", "currency", "amount", "fee", "net", "settled_at",
           "payout")


def write_report(db, config_id: int, since: dt.datetime, until: dt.datetime) -> str:
    """The report of the checkouts settled in ``[since, until)`` (CSV text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in store.settled_between(db, config_id, since.isoformat(), until.isoformat()):
        amount = Money(row["amount"], row["currency"])
        fee = Money(settlement_fee(row["amount"]), row["currency"])
        writer.writerow([row["reference"], row["payment_id"], row["currency"],
                         amount.decimal_string(), fee.decimal_string(),
                         (amount - fee).decimal_string(), row["settled_at"],
                         row["payout_reference"] or ""])
    return out.getvalue()


def parse_report(content: bytes) -> Iterator[SettlementLine]:
    """The report's lines, read lazily (a generator: a million-line file is never a
    million objects at once).

    :raises ValidationFailed: a missing column or an unreadable value, naming the line.
    """
    text = codecs.iterdecode(io.BytesIO(content), "utf-8-sig")
    reader = csv.DictReader(text)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ValidationFailed(f"the sandbox settlement report lacks the column(s) "
                               f"{', '.join(missing)}", field="content")
    for number, row in enumerate(reader, start=2):
        try:
            currency = row["currency"].strip().upper()
            amount = Money.parse(row["amount"], currency)
            fee = Money.parse(row["fee"], currency)
            settled = dt.datetime.fromisoformat(row["settled_at"].strip())
        except ValidationFailed as exc:
            raise ValidationFailed(f"line {number}: {exc.detail}", field="content") from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValidationFailed(f"line {number}: {exc}", field="content") from None
        if settled.tzinfo is None:
            raise ValidationFailed(f"line {number}: settled_at needs a UTC offset",
                                   field="content")
        yield SettlementLine(
            gateway_reference=row["reference"].strip(), amount=amount, fee=fee,
            net=amount - fee, settled_at=settled,
            payment_id=row["payment_number"].strip() or None,
            payout_reference=row["payout"].strip() or None, raw=dict(row))
