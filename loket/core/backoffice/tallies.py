"""The dashboard's running tallies of payments on PostgreSQL (kept by the triggers of
:mod:`loket.core.models.tallies`): reading them, folding the pending changes, rebuilding a
tenant's.

A reader sums the folded tallies and the pending changes in one statement, so a fold that
commits meanwhile is seen entirely or not at all. The result equals reading the payments
(the SQLite path of :mod:`loket.core.backoffice.kpis`), which the tests check on every
kind of change.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from loket.core.models.tallies import QUEUE_PAYMENTS
from loket.core.payments import lifecycle

FOLD_BATCH = 50_000
"""Pending changes folded per statement."""

_FOLD_LOCK = 0x6C6F6B6574  # the advisory lock that keeps two folds from racing

_FOLD = text("""
WITH moved AS (
    DELETE FROM payment_tally_changes WHERE id IN (
        SELECT id FROM payment_tally_changes ORDER BY id LIMIT :batch)
    RETURNING tenant_id, is_test, status, paid_on, channel, method, payment_type,
              payments, net),
by_status AS (
    INSERT INTO payment_status_tallies (tenant_id, is_test, status, payments)
    SELECT tenant_id, is_test, status, sum(payments) FROM moved
    GROUP BY tenant_id, is_test, status
    ON CONFLICT (tenant_id, is_test, status)
    DO UPDATE SET payments = payment_status_tallies.payments + excluded.payments),
by_day AS (
    INSERT INTO payment_day_tallies (tenant_id, paid_on, channel, method, payment_type,
                                     payments, net)
    SELECT tenant_id, paid_on, channel, method, payment_type, sum(payments), sum(net)
    FROM moved WHERE NOT is_test AND status IN :taken AND paid_on IS NOT NULL
    GROUP BY tenant_id, paid_on, channel, method, payment_type
    ON CONFLICT (tenant_id, paid_on, channel, method, payment_type)
    DO UPDATE SET payments = payment_day_tallies.payments + excluded.payments,
                  net = payment_day_tallies.net + excluded.net)
SELECT count(*) FROM moved
""").bindparams(bindparam("taken", expanding=True))

_COLLECTED = text("""
SELECT channel, method, payment_type, sum(net), sum(payments) FROM (
    SELECT channel, method, payment_type, net, payments FROM payment_day_tallies
    WHERE tenant_id = :tenant AND paid_on BETWEEN :first AND :last
    UNION ALL
    SELECT channel, method, payment_type, net, payments FROM payment_tally_changes
    WHERE tenant_id = :tenant AND NOT is_test AND status IN :taken
      AND paid_on BETWEEN :first AND :last) AS tallied
GROUP BY channel, method, payment_type HAVING sum(payments) <> 0
""").bindparams(bindparam("taken", expanding=True))

_BY_STATUS = text("""
SELECT status, sum(payments) FROM (
    SELECT status, payments FROM payment_status_tallies
    WHERE tenant_id = :tenant AND NOT is_test
    UNION ALL
    SELECT status, payments FROM payment_tally_changes
    WHERE tenant_id = :tenant AND NOT is_test) AS tallied
GROUP BY status HAVING sum(payments) <> 0
""")

_REBUILD = (
    "DELETE FROM payment_tally_changes WHERE tenant_id = :tenant",
    "DELETE FROM payment_status_tallies WHERE tenant_id = :tenant",
    "DELETE FROM payment_day_tallies WHERE tenant_id = :tenant",
    QUEUE_PAYMENTS.format(where="WHERE p.tenant_id = :tenant"),
)


def available(session: Session) -> bool:
    """Whether the tallies are kept on this database (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


def collected(session: Session, tenant_id: int, first: dt.date, last: dt.date
              ) -> list[tuple[str, str, str, int, int]]:
    """The money collected on the local days ``first`` .. ``last`` (both included): rows of
    ``(channel, method, payment_type, net, payments)``, non-test payments whose money was
    taken, by the local date they were paid. PostgreSQL only (:func:`available`)."""
    rows = session.execute(_COLLECTED, {"tenant": tenant_id, "first": first, "last": last,
                                        "taken": sorted(lifecycle.MONEY_TAKEN)}).all()
    return [(c, m, k, int(net), int(count)) for c, m, k, net, count in rows]


def by_status(session: Session, tenant_id: int) -> dict[str, int]:
    """How many non-test payments of the tenant stand in each status (statuses with none
    are left out). PostgreSQL only (:func:`available`)."""
    return {status: int(count) for status, count in
            session.execute(_BY_STATUS, {"tenant": tenant_id}).all()}


def fold(session: Session) -> int:
    """Fold every pending change into the tallies, in batches of :data:`FOLD_BATCH` (the
    periodic task ``payment_tallies`` calls this every minute). Returns how many changes
    were folded; 0 when another fold holds the lock or on SQLite."""
    if not available(session):
        return 0
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                          {"key": _FOLD_LOCK}):
        return 0
    folded = 0
    while True:
        moved = int(session.scalar(_FOLD, {"batch": FOLD_BATCH,
                                          "taken": sorted(lifecycle.MONEY_TAKEN)}) or 0)
        folded += moved
        if moved < FOLD_BATCH:
            break
    session.execute(text("DELETE FROM payment_day_tallies WHERE payments = 0 AND net = 0"))
    session.execute(text("DELETE FROM payment_status_tallies WHERE payments = 0"))
    return folded


def rebuild(session: Session, tenant_id: int) -> None:
    """Count a tenant's tallies again from its payments (after its time zone changed: the
    local dates move). Runs in the caller's transaction; a no-op on SQLite.

    A payment written by another transaction while this one runs is counted on its day in
    the old zone (its trigger read the settings before they changed): counts stay exact,
    that payment's money may sit one day off until the tenant is counted again. Changing
    the zone is a set-up step; do it when no payments are being made.
    """
    if not available(session):
        return
    session.flush()
    for statement in _REBUILD:
        session.execute(text(statement), {"tenant": tenant_id})
