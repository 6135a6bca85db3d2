"""The harness a destination processor package gives the destination conformance kit, and
the in-memory ledger the kit hands its hooks.

A destination package subclasses :class:`DestinationHarness` in its ``tests/conftest.py``
and returns an instance from a fixture named ``loket_destination_harness``; the kit's
contract tests (:class:`~loket.testing.destination_conformance.DestinationConformance`)
then call the processor's hooks exactly as loket's core does.
"""

from __future__ import annotations

import datetime as dt

import attrs

from loket.money import Money
from loket.types import DestinationTarget, FeeRule, Obligation


@attrs.define
class Receivable:
    """One receivable the harness puts in the :class:`MemoryLedger`."""

    obligation: Obligation
    account_number: str
    status: str = "open"  # open, paid or cancelled, as loket's receivables


class MemoryLedger:
    """A :class:`~loket.types.LedgerReader` over receivables kept in memory."""

    def __init__(self, receivables: list[Receivable]) -> None:
        self.receivables = list(receivables)

    def open_items(self, account_number: str, kind: str) -> list[Obligation]:
        """The open obligations of ``kind`` on ``account_number``, oldest due first."""
        rows = [r.obligation for r in self.receivables
                if r.account_number == account_number and r.obligation.kind == kind
                and r.status == "open" and r.obligation.outstanding.amount > 0]
        return sorted(rows, key=lambda o: (o.due_date or dt.date.max, o.receivable_id))

    def find(self, kind: str, reference: str) -> tuple[Obligation, str, str] | None:
        """One obligation by reference: ``(obligation, account_number, status)``."""
        for r in self.receivables:
            if r.obligation.kind == kind and r.obligation.reference == reference:
                return r.obligation, r.account_number, r.status
        return None


def obligation(receivable_id: int, kind: str, reference: str, amount: Money,
               outstanding: Money | None = None, due: dt.date | None = None) -> Obligation:
    """A short way to write an :class:`~loket.types.Obligation` for a harness."""
    return Obligation(receivable_id=receivable_id, kind=kind, reference=reference,
                      description=f"{kind} {reference}", amount_due=amount,
                      outstanding=outstanding if outstanding is not None else amount,
                      due_date=due)


class DestinationHarness:
    """How the kit drives one destination processor. Override what your processor needs."""

    #: the processor name the plugin describes (``loket_destination_describe().name``).
    processor: str = ""
    #: the account the kit pays for.
    account_number: str = "ACC-1001"
    #: person types the kit prepares payments for.
    person_types: tuple[str, ...] = ("individual", "organization")
    #: plugin objects to register besides the installed entry points (the kit's own
    #: self-tests); installed packages leave it empty.
    extra_plugins: tuple = ()

    def receivables(self) -> list[Receivable]:
        """The receivables in the ledger: at least one open one of ``account_number`` that
        :meth:`good_target` names, plus whatever :meth:`refusals` needs (someone else's,
        paid, cancelled)."""
        raise NotImplementedError(
            "DestinationHarness.receivables: return the Receivable rows your processor "
            "reads (see docs/writing-a-destination.md)")

    def good_target(self) -> DestinationTarget:
        """A target the processor must resolve to open obligations of ``account_number``."""
        raise NotImplementedError(
            "DestinationHarness.good_target: return a DestinationTarget your processor "
            "accepts (processor, account_number, params)")

    def refusals(self) -> dict[str, tuple[DestinationTarget, str]]:
        """Targets the processor must refuse, by name: ``{"unknown reference": (target,
        "reference"), ...}``; the second item is the field the refusal must name."""
        return {}

    def fee_rule(self) -> FeeRule | None:
        """The fee rule the kit prepares with (``None``: no fee)."""
        return FeeRule(percent="1.5", fixed="0", pass_to=("individual",))
