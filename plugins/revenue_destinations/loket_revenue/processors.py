"""Tax destination processors that find receivables by their typed attributes.

Each processor reads one receivable kind; its target parameters are attribute values
(taxpayer id, tax type and period; a collection notice's customer contact; a DLN; an
obligation id; a tax role). Fees and allocation (oldest first) are loket's shared rules.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from loket.plugin_api import (
    Allocation,
    DestinationDescription,
    DestinationTarget,
    FeeRule,
    Money,
    Obligation,
    Prepared,
    ResolvedTarget,
    ValidationFailed,
    allocate_in_order,
    compute_fee,
    hookimpl,
)
from loket_revenue import schemas


def check_params(schema: dict, params: dict) -> None:
    """Validate target parameters against the processor's target schema.

    :raises ValidationFailed: naming the first wrong or missing parameter.
    """
    for error in jsonschema.Draft202012Validator(schema).iter_errors(dict(params)):
        field = (str(error.absolute_path[0]) if error.absolute_path else
                 error.message.split("'")[1] if "required" in error.message else "fields")
        raise ValidationFailed(f"{field}: {error.message}", field=field)


class AttributeProcessor:
    """A processor whose target names receivables of one ``kind`` by attribute values.

    :param lookup: target parameter -> attribute name.
    :param many: the target may cover several open receivables (a notice's items, a
        role's balance); otherwise exactly one.
    """

    LOKET_CONTRACT = "1.3"

    def __init__(self, name: str, title: str, kind: str, noun: str, lookup: dict[str, str],
                 attribute_schema: dict, many: bool = False):
        self.name = name
        self.title = title
        self.kind = kind
        self.noun = noun
        self.lookup = lookup
        self.attribute_schema = attribute_schema
        self.many = many
        props = attribute_schema["properties"]
        self.target_schema = {"type": "object", "required": sorted(lookup),
                              "properties": {p: props[a] for p, a in lookup.items()},
                              "additionalProperties": False}

    def describe(self) -> DestinationDescription:
        """This processor's description (also what the kit checks)."""
        return DestinationDescription(name=self.name, title=self.title,
                                      target_schema=self.target_schema,
                                      receivable_kinds=(self.kind,),
                                      attribute_schemas={self.kind: self.attribute_schema})

    def find(self, ledger: Any, target: DestinationTarget) -> ResolvedTarget:
        """Resolve the target to the account's open receivables with those attributes.

        :raises ValidationFailed: wrong parameters, nothing found for this account (the same
            words whether it exists for someone else or not at all), already paid, cancelled.
        """
        check_params(self.target_schema, target.params)
        wanted = {a: str(target.params[p]) for p, a in self.lookup.items()}
        described = ", ".join(f"{p} {target.params[p]}" for p in sorted(self.lookup))
        field = sorted(self.lookup)[0]
        found = [(o, status) for o, owner, status in ledger.find_by_attributes(self.kind, wanted)
                 if owner == target.account_number]
        if not found:
            raise ValidationFailed(f"no {self.noun} with {described} on this account",
                                   field=field)
        open_ones = tuple(o for o, status in found
                          if status == "open" and o.outstanding.amount > 0)
        if not open_ones:
            state = "cancelled" if all(s == "cancelled" for _, s in found) else "already paid"
            raise ValidationFailed(f"the {self.noun} with {described} is {state}", field=field)
        if not self.many and len(open_ones) > 1:
            raise ValidationFailed(f"{described} names {len(open_ones)} open {self.noun}s; "
                                   f"ask the agency", field=field)
        return ResolvedTarget(target=target, account_number=target.account_number,
                              obligations=open_ones)

    @hookimpl
    def loket_destination_describe(self) -> DestinationDescription:
        """Describe the processor: its target parameters and the attributes it reads."""
        return self.describe()

    @hookimpl
    def loket_destination_retrieve_due(self, processor: str, ledger: Any,
                                       account_number: str) -> list[Obligation] | None:
        """The account's open receivables of this processor's kind, oldest first."""
        if processor != self.name:
            return None
        return ledger.open_items(account_number, self.kind)

    @hookimpl
    def loket_destination_validate(self, processor: str, ledger: Any,
                                   target: DestinationTarget) -> ResolvedTarget | None:
        """Find the receivables the target's attribute values name (OPC VALIDATEONLY)."""
        if processor != self.name:
            return None
        return self.find(ledger, target)

    @hookimpl
    def loket_destination_prepare(self, processor: str, resolved: ResolvedTarget, method: str,
                                  person_type: str, fee_rule: FeeRule | None
                                  ) -> Prepared | None:
        """The routing table's fee by person type, and the tax references for the vendor."""
        if processor != self.name:
            return None
        prepared = compute_fee(resolved, person_type, fee_rule)
        extra = {f"tax_{p}": str(v) for p, v in resolved.target.params.items()
                 if p in self.lookup}
        return Prepared(fee=prepared.fee, extra=extra)

    @hookimpl
    def loket_destination_apply(self, processor: str, ledger: Any, resolved: ResolvedTarget,
                                amount: Money) -> list[Allocation] | None:
        """Allocate oldest first, never beyond what each receivable owes."""
        if processor != self.name:
            return None
        return allocate_in_order(resolved, amount)


filing_period = AttributeProcessor(
    "filing_period", "Pay a filing period", "tax_period", "filing period",
    {"taxpayer_id": "taxpayer_id", "tax_type": "tax_type", "period": "period"},
    schemas.TAX_PERIOD)
collection_notice = AttributeProcessor(
    "collection_notice", "Pay a collection notice", "collection_notice", "collection notice",
    {"customer_contact_id": "customer_contact_id"}, schemas.COLLECTION_NOTICE, many=True)
form_dln = AttributeProcessor(
    "form_dln", "Pay a tax form by its DLN", "tax_form", "tax form", {"dln": "dln"},
    schemas.TAX_FORM)
obligation = AttributeProcessor(
    "obligation", "Pay a tax obligation", "tax_obligation", "tax obligation",
    {"obligation_id": "obligation_id"}, schemas.TAX_OBLIGATION)
tax_role = AttributeProcessor(
    "tax_role", "Pay a tax role balance", "tax_role", "tax role item",
    {"tax_role_id": "tax_role_id"}, schemas.TAX_ROLE, many=True)
