"""What the built-in destination processors share: resolving references, fees, allocation."""

from __future__ import annotations

from loket.plugin_api import (
    CONTRACT_VERSION,
    DestinationDescription,
    DestinationTarget,
    ResolvedTarget,
    ValidationFailed,
    allocate_in_order,
    compute_fee,
    hookimpl,
)

REFERENCE_SCHEMA = {
    "type": "object",
    "required": ["reference"],
    "properties": {"reference": {"type": "string", "minLength": 1, "maxLength": 64}},
    "additionalProperties": False,
}


def resolve_reference(ledger, target: DestinationTarget, kind: str, noun: str) -> ResolvedTarget:
    """Resolve ``target.params["reference"]`` to one open obligation of ``kind``.

    :raises ValidationFailed: missing, unknown, someone else's, paid or cancelled.
    """
    reference = target.params.get("reference")
    if not reference:
        raise ValidationFailed(f"the {noun} reference is missing", field="reference")
    found = ledger.find(kind, reference)
    if found is None:
        raise ValidationFailed(f"unknown {noun} {reference!r}", field="reference")
    obligation, owner, status = found
    if owner != target.account_number:
        # Same words as "unknown": never reveal another consumer's receivables exist.
        raise ValidationFailed(f"unknown {noun} {reference!r}", field="reference")
    if status == "cancelled":
        raise ValidationFailed(f"{noun} {reference!r} is cancelled", field="reference")
    if status == "in_plan":
        raise ValidationFailed(f"{noun} {reference!r} is paid through a payment plan: pay "
                               f"the plan's installments", field="reference")
    if status == "paid" or obligation.outstanding.amount <= 0:
        raise ValidationFailed(f"{noun} {reference!r} is already paid", field="reference")
    return ResolvedTarget(target=target, account_number=owner, obligations=(obligation,))


class ReferenceProcessor:
    """A processor whose target is one receivable of one kind, named by its reference.

    The built-in ``bill``, ``service`` and ``installment`` processors are instances of it,
    registered through the ``loket`` entry points like any plugin (``trylast``, so an
    installed plugin with the same name replaces them).
    """

    LOKET_CONTRACT = CONTRACT_VERSION

    def __init__(self, name: str, title: str, noun: str):
        self.name = name
        self.title = title
        self.noun = noun

    @hookimpl(trylast=True)
    def loket_destination_describe(self):
        """Describe this processor: its target is one reference."""
        return DestinationDescription(name=self.name, title=self.title,
                                      target_schema=REFERENCE_SCHEMA,
                                      receivable_kinds=(self.name,))

    @hookimpl(trylast=True)
    def loket_destination_retrieve_due(self, processor, ledger, account_number):
        """List the account's open receivables of this kind, oldest due first."""
        if processor != self.name:
            return None
        return ledger.open_items(account_number, self.name)

    @hookimpl(trylast=True)
    def loket_destination_validate(self, processor, ledger, target):
        """Resolve the reference to one open obligation of this account."""
        if processor != self.name:
            return None
        return resolve_reference(ledger, target, self.name, self.noun)

    @hookimpl(trylast=True)
    def loket_destination_prepare(self, processor, resolved, method, person_type, fee_rule):
        """Fee per the routing table's rule for the method."""
        if processor != self.name:
            return None
        return compute_fee(resolved, person_type, fee_rule)

    @hookimpl(trylast=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        """Allocate to the obligation, never beyond what it still owes."""
        if processor != self.name:
            return None
        return allocate_in_order(resolved, amount)
