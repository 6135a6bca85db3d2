"""How money received is split over what an account owes, online and at the counter.

The rules:

1. Items are paid oldest first: by due date (items without one last), then in the order
   they were billed (receivable id).
2. Each item gets at most what it still owes; the first item that cannot be paid in full
   takes the rest, and the items after it get nothing.
3. What is left once every chosen item is paid is not allocated: the caller turns it into
   change (cash) or a credit note, so allocations + credit + change = money received.
4. A part payment must be more than zero, at most the total owed (online, loket never takes
   more than is owed), and at least the minimum of the policy, unless it pays everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import attrs

from loket.errors import ValidationFailed
from loket.money import Money
from loket.types import Obligation


def oldest_first(obligations: Sequence[Obligation]) -> list[Obligation]:
    """The obligations in paying order (rule 1)."""
    return sorted(obligations, key=lambda o: (o.due_date is None, o.due_date or 0,
                                              o.receivable_id))


def split(obligations: Sequence[Obligation], amount: int) -> list[tuple[Obligation, int]]:
    """Split ``amount`` (minor units) over the obligations (rules 1-3).

    :returns: ``(obligation, part)`` for each obligation that receives money, in paying
        order; the sum of the parts is ``min(amount, total outstanding)``.
    """
    remaining = max(amount, 0)
    parts = []
    for obligation in oldest_first(obligations):
        if remaining <= 0:
            break
        part = min(remaining, max(obligation.outstanding.amount, 0))
        if part > 0:
            parts.append((obligation, part))
            remaining -= part
    return parts


def as_obligations(parts: list[tuple[Obligation, int]]) -> list[Obligation]:
    """The obligations with their outstanding amount cut to the part they receive (what a
    destination processor is asked to allocate)."""
    return [attrs.evolve(o, outstanding=Money(part, o.outstanding.currency))
            for o, part in parts]


@attrs.frozen
class AmountPolicy:
    """Whether a payment may pay less than everything, and at least how much.

    :param minimum: minor units; ``minimum_percent`` of the total as a decimal string.
    """

    partial: bool = False
    minimum: int = 0
    minimum_percent: str = "0"

    @classmethod
    def from_settings(cls, settings, currency: str) -> AmountPolicy:
        """The tenant's policy (``part_payments`` settings)."""
        rule = settings["part_payments"]
        return cls(partial=bool(rule.get("allowed")),
                   minimum=settings.money("part_payments.minimum") or 0,
                   minimum_percent=rule.get("minimum_percent") or "0")

    def least(self, total: int) -> int:
        """The smallest amount accepted against ``total`` (never more than ``total``)."""
        by_percent = math.ceil(Decimal(total) * Decimal(self.minimum_percent) / 100)
        return min(max(self.minimum, int(by_percent), 1), total)

    def check(self, amount: int | None, total: int, currency: str,
              field: str = "amount") -> int:
        """The amount to charge: ``total`` when none is given, else the given amount once it
        passes rule 4.

        :raises ValidationFailed: naming ``field``.
        """
        if amount is None or amount == total:
            return total
        if not self.partial:
            raise ValidationFailed("part payments are not allowed here; pay the full "
                                   f"{Money(total, currency).format()}", field=field)
        if amount <= 0:
            raise ValidationFailed("the amount must be more than zero", field=field)
        if amount > total:
            raise ValidationFailed(f"the amount is more than the {Money(total, currency).format()}"
                                   " owed", field=field)
        least = self.least(total)
        if amount < least:
            raise ValidationFailed(f"the amount must be at least "
                                   f"{Money(least, currency).format()}", field=field)
        return amount
