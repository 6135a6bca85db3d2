"""What every destination processor may reuse, built-in or installed: the fee a fee rule
gives and oldest-first allocation. Plugins reach it through :mod:`loket.plugin_api`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from loket.money import Money
from loket.types import Allocation, Fee, FeeRule, Prepared, ResolvedTarget


def compute_fee(resolved: ResolvedTarget, person_type: str, rule: FeeRule | None) -> Prepared:
    """Fee = percent of the total + fixed, rounded half-up to the minor unit.

    The payer pays it on top when their person type is in ``rule.pass_to``; otherwise the
    tenant absorbs it (it is still reported).
    """
    total = resolved.total
    if rule is None:
        return Prepared(fee=Fee(Money.zero(total.currency), passed_on=False))
    percent_part = (Decimal(total.amount) * Decimal(rule.percent) / 100).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    fixed = Money.parse(rule.fixed, total.currency, field="fee.fixed")
    amount = Money(int(percent_part) + fixed.amount, total.currency)
    passed_on = person_type in rule.pass_to
    description = f"{rule.percent}% + {fixed.decimal_string()} {total.currency}"
    return Prepared(fee=Fee(amount, passed_on=passed_on, description=description))


def allocate_in_order(resolved: ResolvedTarget, amount: Money) -> list[Allocation]:
    """Allocate ``amount`` to the obligations in their order (oldest first), never beyond
    what each still owes; what is left is the caller's (a credit note)."""
    remaining = amount.amount
    allocations = []
    for obligation in resolved.obligations:
        if remaining <= 0:
            break
        part = min(remaining, obligation.outstanding.amount)
        if part > 0:
            allocations.append(Allocation(obligation.receivable_id, Money(part, amount.currency)))
            remaining -= part
    return allocations
