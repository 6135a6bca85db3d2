"""Reconciliation: match what gateways settled (payouts, settlement report files) with
loket's payments, without a spreadsheet.

A matched line completes its payment (through the same event path as a settlement webhook,
so it is idempotent); a line loket cannot match is kept unmatched and becomes a to-do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

import attrs
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket import types as t
from loket.core.db import money_sum, text_length
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment, SettlementRecord
from loket.core.reconciliation import bank, settling
from loket.errors import Conflict, HookNotImplemented, NotSupported, ValidationFailed
from loket.types import SettlementLine


@attrs.frozen
class ReconciliationResult:
    """What one batch of settlement lines did."""

    matched: int
    already_settled: int
    unmatched: tuple[str, ...]

    def to_json(self) -> dict:
        """The API's view."""
        return {"matched": self.matched, "already_settled": self.already_settled,
                "unmatched": list(self.unmatched)}


def apply_lines(ctx, session: Session, row: GatewayConfiguration,
                lines: Iterable[SettlementLine],
                progress: Callable[[settling.Tally], None] | None = None
                ) -> ReconciliationResult:
    """Match settlement lines to payments and complete them (read lazily, a block at a
    time: see :mod:`loket.core.reconciliation.settling`).

    :param progress: called with the running tally after each block.
    :returns: how many lines completed a payment, were already settled, or matched nothing.
    """
    tally = settling.settle(ctx, session, row, lines, progress)
    return ReconciliationResult(tally.matched, tally.already_settled, tuple(tally.unmatched))


def import_report(ctx, session: Session, tenant_id: int, kind: str, content: bytes,
                  filename: str, progress: Callable[[settling.Tally], None] | None = None
                  ) -> ReconciliationResult:
    """Read a settlement report file the gateway delivered and reconcile its lines.

    :param progress: called with the running tally after each block of lines.
    """
    row, lines = read_report(ctx, session, tenant_id, kind, content, filename)
    return apply_lines(ctx, session, row, lines, progress)


def read_report(ctx, session: Session, tenant_id: int, kind: str, content: bytes,
                filename: str) -> tuple[GatewayConfiguration, Iterable[SettlementLine]]:
    """The tenant's configuration of ``kind`` and the lines of a settlement report file it
    delivered, as the gateway's parser reads them (lazily, when it can).

    :raises NotSupported: the gateway reads no settlement reports.
    """
    row = configured(ctx, session, tenant_id, kind, "upload its settlement reports")
    try:
        lines = ctx.plugins.parse_settlement_report(configs.config_value(ctx, session, row),
                                                    content, filename)
    except (HookNotImplemented, NotSupported):
        raise NotSupported(f"the {_name(ctx, kind)} gateway does not read settlement reports "
                           f"(not supported by this gateway): it reports settlements another "
                           f"way", field="kind") from None
    return row, checked(lines)


_LIMITS = tuple((name, text_length(SettlementRecord.__table__.c[name]))
                for name in ("gateway_reference", "payout_reference"))
"""The longest references loket keeps of a settlement line (its record's columns)."""


def checked(lines: Iterable[SettlementLine]) -> Iterator[SettlementLine]:
    """The lines a gateway read, as they come, each checked to fit what loket keeps of it
    (read lazily, as the lines are).

    :raises ValidationFailed: a reference longer than loket keeps, naming the line by its
        place among the settlement lines (``line 7.gateway_reference``) when the reading
        reaches it.
    """
    for number, line in enumerate(lines, start=1):
        for field, limit in _LIMITS:
            value = getattr(line, field) or ""
            if len(value) > limit:
                raise ValidationFailed(
                    f"settlement line {number}: its {field.replace('_', ' ')} "
                    f"({value[:20]}…) is {len(value)} characters long; loket keeps at most "
                    f"{limit}", field=f"line {number}.{field}")
        yield line


def fetch_and_reconcile(ctx, session: Session, tenant_id: int, kind: str, since: dt.datetime,
                        until: dt.datetime) -> ReconciliationResult:
    """Ask the gateway what it settled in ``[since, until)`` and reconcile it."""
    row = configured(ctx, session, tenant_id, kind, "fetch its settlements")
    try:
        lines = ctx.plugins.fetch_settlements(configs.config_value(ctx, session, row), since,
                                              until)
    except (HookNotImplemented, NotSupported):
        raise NotSupported(f"the {_name(ctx, kind)} gateway cannot be asked for its "
                           f"settlements (not supported by this gateway): upload its "
                           f"settlement report instead", field="kind") from None
    return apply_lines(ctx, session, row, checked(lines))


def _name(ctx, kind: str) -> str:
    return ctx.plugins.gateway(kind).display_name


def configured(ctx, session: Session, tenant_id: int, kind: str,
                purpose: str) -> GatewayConfiguration:
    """The tenant's configuration of ``kind``, which must hold credentials to ``purpose``.

    :raises NotFound: the gateway is not configured for this tenant.
    :raises Conflict: it is, but without credentials (switched on, never configured).
    """
    row = configs.get_row(session, tenant_id, kind)
    if not row.credentials_encrypted:
        raise Conflict(f"enter the {_name(ctx, kind)} credentials before asking loket to "
                       f"{purpose}", field="credentials")
    return row


def summary(session: Session, tenant_id: int) -> dict:
    """Where reconciliation stands: payments awaiting settlement, settled totals, fees,
    lines that matched nothing, and payouts the bank has not confirmed (minor units)."""
    pending = session.execute(select(Payment.currency, func.count(), money_sum(
        Payment.amount_received)).where(Payment.tenant_id == tenant_id,
                                        Payment.status == t.SUCCEEDED,
                                        Payment.is_test.is_(False))
        .group_by(Payment.currency)).all()
    settled = session.execute(select(SettlementRecord.currency, SettlementRecord.matched,
                                     func.count(), money_sum(SettlementRecord.amount),
                                     money_sum(SettlementRecord.fee),
                                     money_sum(SettlementRecord.net))
                              .where(SettlementRecord.tenant_id == tenant_id)
                              .group_by(SettlementRecord.currency,
                                        SettlementRecord.matched)).all()
    return {
        "payouts_awaiting_bank": bank.awaiting_bank(session, tenant_id),
        "awaiting_settlement": [{"currency": c, "count": n, "amount": a}
                                for c, n, a in pending],
        "settled": [{"currency": c, "matched": bool(m), "count": n, "amount": a, "fee": f,
                     "net": net}
                    for c, m, n, a, f, net in settled],
    }
