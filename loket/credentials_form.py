"""Check credentials a tenant admin entered against the gateway's credential schema, naming
each wrong field: the first half of every ``loket_gateway_validate_credentials``.

.. versionadded:: 1.3
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from loket.errors import CredentialsRejected


def check_credentials(schema: Mapping[str, Any], credentials: Mapping[str, Any],
                      gateway: str) -> dict[str, Any]:
    """Return ``credentials`` as a dict when they match ``schema`` (JSON Schema 2020-12).

    :raises CredentialsRejected: naming every wrong or missing field
        (``errors=[{"field", "message"}]``), before any live call.

    .. versionadded:: 1.3
    """
    errors: list[dict[str, str]] = []
    for error in Draft202012Validator(dict(schema)).iter_errors(dict(credentials)):
        if error.validator == "required":
            fields = [f for f in error.validator_value if f not in error.instance]
        else:
            fields = [".".join(map(str, error.path)) or "credentials"]
        errors += [{"field": field, "message": error.message} for field in fields]
    if errors:
        raise CredentialsRejected(f"the {gateway} credentials are incomplete or malformed",
                                  errors=errors)
    return dict(credentials)
