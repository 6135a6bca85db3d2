"""Rows a batch read in bulk before applying its items one by one: each step that would read
one of them with a statement of its own takes it from here instead.

A batch of gateway events (:mod:`loket.core.webhooks.prefetch`) reads its payments (locked),
their waiting holds and intended allocations, and the receivables those name (locked), in a
few statements for the whole batch. A payment, hold or allocation list is taken at most
once: a second step that needs it reads it again, so it never sees a row older than what
the transaction has written. Receivables stay: the session's objects carry every change the
batch makes to them, and their locks are held until the commit.
"""

from __future__ import annotations

import attrs
from sqlalchemy.orm import Session

from loket.core.models import Allocation, Payment, PaymentHold, Receivable

_KEY = "batch_reads"


@attrs.define
class BatchReads:
    """What a batch read ahead, by the key each step looks it up with."""

    payments: dict[tuple[int, str, str], Payment] = attrs.Factory(dict)
    """Payments locked, with their consumers, by ``(configuration id, "number" or
    "reference", value)``."""
    holds: dict[int, PaymentHold | None] = attrs.Factory(dict)
    """Each read payment's waiting hold (``None``: none), by payment id."""
    intended: dict[int, list[Allocation]] = attrs.Factory(dict)
    """Each read payment's intended allocations in id order, by payment id."""
    receivables: dict[int, Receivable] = attrs.Factory(dict)
    """The receivables the intended allocations name, locked, by id."""

    def named(self, config_id: int, number: str | None, reference: str | None
              ) -> Payment | None:
        """The payment an event names, by number first as the event path looks it up
        (``None`` when it was not read ahead)."""
        return (self.payments.get((config_id, "number", number or "")) or
                self.payments.get((config_id, "reference", reference or "")))

    def take_payment(self, config_id: int, number: str | None,
                     reference: str | None) -> Payment | None:
        """:meth:`named`, once: the payment is not handed out again."""
        payment = self.named(config_id, number, reference)
        if payment is not None:
            for key in (("number", payment.number),
                        ("reference", payment.gateway_reference or "")):
                self.payments.pop((config_id, *key), None)
        return payment

    def locked_receivables(self, ids) -> dict[int, Receivable] | None:
        """The receivables ``ids`` by id, if all were read ahead; otherwise ``None``."""
        if not all(i in self.receivables for i in ids):
            return None
        return {i: self.receivables[i] for i in ids}


def install(session: Session, reads: BatchReads) -> None:
    """Let the steps of the rest of ``session``'s transaction take from ``reads``."""
    session.info[_KEY] = reads


def of(session: Session) -> BatchReads | None:
    """What ``session``'s batch read ahead, if it did."""
    return session.info.get(_KEY)
