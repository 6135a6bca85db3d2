"""Built-in destination processor ``payplan``: pay a payment plan by its reference.

Money goes to the plan's oldest unpaid scheduled installments first.
"""

from loket.destinations.common import ReferenceProcessor
from loket.plugin_api import DestinationDescription, ResolvedTarget, ValidationFailed, hookimpl

PLAN_SCHEMA = {
    "type": "object",
    "required": ["plan"],
    "properties": {"plan": {"type": "string", "minLength": 1, "maxLength": 64}},
    "additionalProperties": False,
}


class PayPlanProcessor(ReferenceProcessor):
    """Targets a plan; fees and allocation (oldest first) are the shared ones."""

    @hookimpl(trylast=True)
    def loket_destination_describe(self):
        """Describe the ``payplan`` processor: its target is a plan reference."""
        return DestinationDescription(name=self.name, title=self.title,
                                      target_schema=PLAN_SCHEMA,
                                      receivable_kinds=("installment",))

    @hookimpl(trylast=True)
    def loket_destination_retrieve_due(self, processor, ledger, account_number):
        """List the account's unpaid installments (of every plan), oldest first."""
        if processor != self.name:
            return None
        return ledger.open_items(account_number, "installment")

    @hookimpl(trylast=True)
    def loket_destination_validate(self, processor, ledger, target):
        """Resolve the plan to its unpaid installments, oldest first."""
        if processor != self.name:
            return None
        reference = target.params.get("plan")
        if not reference:
            raise ValidationFailed("the payment plan id is missing", field="plan")
        found = ledger.plan(reference)
        if found is None or found[0] != target.account_number:
            raise ValidationFailed(f"unknown payment plan {reference!r}", field="plan")
        _owner, status, installments = found
        if status == "cancelled":
            raise ValidationFailed(f"payment plan {reference!r} is cancelled", field="plan")
        if not installments:
            raise ValidationFailed(f"payment plan {reference!r} is already paid", field="plan")
        return ResolvedTarget(target=target, account_number=target.account_number,
                              obligations=tuple(installments))


plugin = PayPlanProcessor("payplan", "Pay a payment plan", "payment plan")
