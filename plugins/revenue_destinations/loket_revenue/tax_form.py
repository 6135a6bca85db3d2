"""The ``tax_form`` processor: pay a tax form by its DLN, even before the form exists.

When the host already sent the form, this is :mod:`form_dln`. When it has not, the payer
declares the amount and the payment is held Pending (its ``hold_key`` is the form's DLN);
loket applies it when the host upserts a ``tax_form`` receivable with that DLN, and raises a
to-do after the tenant's ``held_payment_timeout_days``.
"""

from __future__ import annotations

from typing import Any

from loket.plugin_api import (
    DestinationDescription,
    DestinationTarget,
    Money,
    ResolvedTarget,
    ValidationFailed,
    hookimpl,
)
from loket_revenue import schemas
from loket_revenue.processors import AttributeProcessor, check_params


class TaxFormProcessor(AttributeProcessor):
    """Target ``{dln, amount}``; the amount counts only while the form does not exist."""

    def __init__(self) -> None:
        super().__init__("tax_form", "Pay a tax form (the DLN may come later)", "tax_form",
                         "tax form", {"dln": "dln"}, schemas.TAX_FORM)
        self.target_schema = {"type": "object", "required": ["amount", "dln"],
                              "properties": {"dln": schemas.DLN, "amount": schemas.AMOUNT},
                              "additionalProperties": False}

    def describe(self) -> DestinationDescription:
        """The description: target ``dln`` and ``amount``, reading ``tax_form`` receivables."""
        return super().describe()

    @hookimpl
    def loket_destination_validate(self, processor: str, ledger: Any,
                                   target: DestinationTarget) -> ResolvedTarget | None:
        """The account's form if it has one; otherwise a held target for the declared amount.
        Another account's DLN is held too, exactly as one that exists nowhere: the answer
        never tells whether someone else has that form."""
        if processor != self.name:
            return None
        check_params(self.target_schema, target.params)
        dln = str(target.params["dln"])
        if any(owner == target.account_number
               for _, owner, _ in ledger.find_by_attributes(self.kind, {"dln": dln})):
            return self.find(ledger, target)
        amount = Money.parse(str(target.params["amount"]), ledger.currency, field="amount")
        if amount.amount <= 0:
            raise ValidationFailed("amount must be more than zero", field="amount")
        return ResolvedTarget(target=target, account_number=target.account_number,
                              obligations=(), hold_key=f"{self.kind}:dln={dln}",
                              declared_amount=amount)


plugin = TaxFormProcessor()
