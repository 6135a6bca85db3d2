"""The payer of a payment: one name, one e-mail address and one phone the payment's columns
hold, each named when it is wrong."""

from __future__ import annotations

import pytest

from loket.core.payments.payers import Payer
from loket.errors import ValidationFailed


def test_a_payer_is_read_trimmed():
    assert Payer.from_json({"name": " Ned ", "email": " ned@example.com ", "phone": ""}) == \
        Payer("Ned", "ned@example.com", None)
    assert Payer.from_json(None) is None


@pytest.mark.parametrize("payer, field", [
    ({"name": "Ned", "email": "ned@example.com, victim@example.org"}, "payer.email"),
    ({"name": "Ned", "email": "ned@example.com victim@example.org"}, "payer.email"),
    ({"name": "Ned", "email": "ned@example.com;victim@example.org"}, "payer.email"),
    ({"name": "Ned", "email": "ned@example.com\r\nBcc: victim@example.org"}, "payer.email"),
    ({"name": "Ned", "email": "ned\x85@example.com"}, "payer.email"),
    ({"name": "Ned", "email": "Ned <ned@example.com>"}, "payer.email"),
    ({"name": "Ned", "email": "ned"}, "payer.email"),
    ({"name": "Ned", "email": "a" * 288 + "@example.com"}, "payer.email"),
    ({"name": "N" * 201}, "payer.name"),
    ({"name": "Ned\x00"}, "payer.name"),
    ({"name": "  "}, "payer.name"),
    ({"name": "Ned", "phone": "5" * 51}, "payer.phone"),
    ({"name": "Ned", "phone": "555\x00"}, "payer.phone"),
])
def test_a_payer_field_the_payment_cannot_keep_is_named(payer, field):
    with pytest.raises(ValidationFailed) as refused:
        Payer.from_json(payer)
    assert [e["field"] for e in refused.value.errors] == [field]
