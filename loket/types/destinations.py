"""Value types of the destination hooks (the OPC processor pattern): targets, obligations,
fees and allocations."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import attrs

from loket.money import Money
from loket.types._fields import frozen_dict


@attrs.frozen
class DestinationDescription:
    """A destination processor: returned by ``loket_destination_describe``."""

    name: str
    """The processor name routing tables use (``bill``)."""
    title: str
    """Name shown to staff."""
    target_schema: dict[str, Any]
    """JSON Schema of the target parameters (``{"reference": ...}``)."""
    receivable_kinds: tuple[str, ...] = ()
    """Receivable kinds the processor reads."""
    attribute_schemas: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Receivable kind -> JSON Schema of the typed attributes a receivable of that kind
    carries; the host may upsert such receivables, their attributes validated (1.2)."""


@attrs.frozen
class Obligation:
    """Something an account owes: a bill, service charge or installment."""

    receivable_id: int
    """loket's id of the receivable (what an :class:`Allocation` names)."""
    kind: str
    """Receivable kind."""
    reference: str
    """The host's reference (an invoice number)."""
    description: str
    """Text for people."""
    amount_due: Money
    """The original amount."""
    outstanding: Money
    """What is still owed."""
    period: str | None = None
    """Billing period."""
    due_date: dt.date | None = None
    """When it falls due."""
    plan_reference: str | None = None
    """The payment plan it is an installment of."""


class LedgerReader(Protocol):
    """What destination hooks may read of the host's receivables (one tenant's).

    loket passes its own implementation; plugins only call these two methods.
    """

    def open_items(self, account_number: str, kind: str) -> list[Obligation]:
        """The open obligations of ``kind`` on ``account_number``, oldest first."""
        ...

    def find(self, kind: str, reference: str) -> tuple[Obligation, str, str] | None:
        """One obligation by reference: ``(obligation, account_number, status)`` or ``None``."""
        ...


@attrs.frozen
class DestinationTarget:
    """A request to pay a destination, after the routing table mapped its fields."""

    destination: str
    """The destination name in the tenant's routing table."""
    processor: str
    """The processor that handles it."""
    account_number: str
    """The paying account."""
    params: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """The processor's parameters (``{"reference": "INV-1"}``)."""


@attrs.frozen
class ResolvedTarget:
    """A validated target: the account and the open obligations the payment is for, or a
    held target (``hold_key`` and ``declared_amount``, no obligations): never both."""

    target: DestinationTarget
    """The target as asked."""
    account_number: str
    """The account the obligations belong to."""
    obligations: tuple[Obligation, ...]
    """The open obligations paid, oldest first."""
    hold_key: str | None = None
    """For a target that does not exist yet (a tax form whose receivable the host has not
    sent): the key of the receivable that will complete it (``tax_form:dln=123``); the
    payment is held until it arrives (1.2)."""
    declared_amount: Money | None = None
    """With ``hold_key``: the amount the payer declares (1.2)."""

    @property
    def total(self) -> Money:
        """The total still outstanding on the obligations."""
        if not self.obligations and self.declared_amount is not None:
            return self.declared_amount
        currency = self.obligations[0].outstanding.currency
        return Money(sum(o.outstanding.amount for o in self.obligations), currency)


@attrs.frozen
class FeeRule:
    """A fee rule from the routing table for one payment method."""

    percent: str = "0"
    """Percent of the total, a decimal string (``"1.5"``)."""
    fixed: str = "0"
    """Fixed part in major units, a decimal string (``"2500"``)."""
    pass_to: tuple[str, ...] = ()
    """Person types who pay the fee on top (others: the tenant absorbs it)."""


@attrs.frozen
class Fee:
    """A fee for a payment."""

    amount: Money
    """The fee."""
    passed_on: bool
    """Whether the payer pays it on top of the amount."""
    description: str = ""
    """How it was worked out (``1.5% + 2500 IDR``)."""


@attrs.frozen
class Prepared:
    """What ``loket_destination_prepare`` returns."""

    fee: Fee
    """The fee for the chosen method."""
    extra: dict[str, Any] = attrs.field(factory=dict, converter=frozen_dict)
    """Data for the gateway (``CheckoutRequest.extra``)."""


@attrs.frozen
class Allocation:
    """Money applied to one obligation."""

    receivable_id: int
    """The :attr:`Obligation.receivable_id`."""
    amount: Money
    """The amount applied (at most its outstanding)."""
