"""The typed attributes each tax receivable kind carries, as JSON Schemas.

loket validates a receivable's ``attributes`` against these when the host upserts it and
indexes them, so the processors find receivables by taxpayer, period, DLN and so on.
"""

from __future__ import annotations

TAXPAYER_ID = {"type": "string", "pattern": r"^[0-9A-Z-]{5,20}$"}
TAX_TYPE = {"type": "string", "pattern": r"^[A-Z][A-Z0-9_]{1,19}$"}
PERIOD = {"type": "string", "pattern": r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"}
DLN = {"type": "string", "pattern": r"^[0-9A-Z]{8,20}$"}
IDENT = {"type": "string", "pattern": r"^[0-9A-Za-z._-]{1,40}$"}
AMOUNT = {"type": "string", "pattern": r"^\d{1,15}(\.\d{1,4})?$"}


def attributes(required: dict, optional: dict | None = None) -> dict:
    """An object schema with ``required`` and ``optional`` properties and nothing else."""
    return {"type": "object", "additionalProperties": False, "required": sorted(required),
            "properties": {**required, **(optional or {})}}


TAX_PERIOD = attributes({"taxpayer_id": TAXPAYER_ID, "tax_type": TAX_TYPE, "period": PERIOD})
COLLECTION_NOTICE = attributes({"customer_contact_id": IDENT}, {"taxpayer_id": TAXPAYER_ID})
TAX_FORM = attributes({"dln": DLN}, {"taxpayer_id": TAXPAYER_ID, "form_type": IDENT,
                                     "period": PERIOD})
TAX_OBLIGATION = attributes({"obligation_id": IDENT}, {"taxpayer_id": TAXPAYER_ID,
                                                       "tax_type": TAX_TYPE})
TAX_ROLE = attributes({"tax_role_id": IDENT}, {"taxpayer_id": TAXPAYER_ID, "tax_type": TAX_TYPE})
