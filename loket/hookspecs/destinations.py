"""Destination hooks: the OPC processor pattern (retrieve due, validate, prepare, apply)."""

from __future__ import annotations

from collections.abc import Sequence

from loket.hookspecs._marker import hookspec
from loket.money import Money
from loket.types import (
    Allocation,
    DestinationTarget,
    FeeRule,
    LedgerReader,
    Obligation,
    Prepared,
    ResolvedTarget,
)


@hookspec(firstresult=True)
def loket_destination_retrieve_due(
    processor: str, ledger: LedgerReader, account_number: str
) -> Sequence[Obligation] | None:
    """List what an account owes for this destination (OPC "retrieve payments due").

    Called to pre-populate a payment form. Stops at the first non-``None`` result.

    :param processor: the processor name from the routing table (e.g. ``bill``).
    :param ledger: a :class:`~loket.types.LedgerReader` for reading receivables.
    :param account_number: the consumer's account number.
    :returns: a list of :class:`~loket.types.Obligation`, or ``None`` for another processor.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_validate(
    processor: str, ledger: LedgerReader, target: DestinationTarget
) -> ResolvedTarget | None:
    """Resolve a destination target to an account and obligations (OPC VALIDATEONLY).

    Called before any money moves, for checkout, counter payments and validate-only calls.
    Stops at the first non-``None`` result.

    :param processor: the processor name.
    :param ledger: a :class:`~loket.types.LedgerReader`.
    :param target: a :class:`~loket.types.DestinationTarget` (params already mapped).
    :returns: a :class:`~loket.types.ResolvedTarget`, or ``None`` for another processor.
        A target that does not exist yet is held: ``hold_key`` and ``declared_amount``, no
        obligations. An answer with both a ``hold_key`` and obligations is refused
        (:class:`~loket.errors.PluginError`), and an item chosen by kind and reference in a
        checkout must be open, not held.
    :raises loket.errors.ValidationFailed: unknown reference, not this consumer's, already
        paid, cancelled — naming the field.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_prepare(
    processor: str, resolved: ResolvedTarget, method: str, person_type: str,
    fee_rule: FeeRule | None,
) -> Prepared | None:
    """Work out the fee for the chosen method and extra data for the gateway (OPC PREPARE).

    Called after validate, before the gateway is charged. Stops at the first non-``None``
    result.

    :param processor: the processor name.
    :param resolved: the :class:`~loket.types.ResolvedTarget`.
    :param method: payment method (``card``, ``bank_transfer``, ``cash``...).
    :param person_type: the consumer's person type (``individual``, ``organization``...).
    :param fee_rule: the :class:`~loket.types.FeeRule` for the method, or ``None``.
    :returns: a :class:`~loket.types.Prepared`, or ``None`` for another processor.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_destination_apply(
    processor: str, ledger: LedgerReader, resolved: ResolvedTarget, amount: Money
) -> Sequence[Allocation] | None:
    """Decide how money is allocated to the obligations (OPC "process payment").

    Called when a payment succeeds (online) or is posted (counter), inside the engine's
    transaction; the engine writes the allocations and checks the money invariants.
    Stops at the first non-``None`` result.

    :param processor: the processor name.
    :param ledger: a :class:`~loket.types.LedgerReader` (fresh outstanding amounts).
    :param resolved: the :class:`~loket.types.ResolvedTarget`.
    :param amount: the :class:`~loket.money.Money` to allocate.
    :returns: a list of :class:`~loket.types.Allocation` whose sum is at most ``amount``;
        what is left over becomes a credit note. ``None`` for another processor.
    :raises Exception: any error leaves the payment taken and raises a to-do for staff.

    .. versionadded:: 1.0
    """
