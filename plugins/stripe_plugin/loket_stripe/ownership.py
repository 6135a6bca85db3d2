"""Whose a Stripe object is: several loket tenants may share one Stripe account.

Stripe sends every event of an account to every endpoint, correctly signed, so a Stripe
object names a loket payment only when its metadata carries this configuration's
``loket_tenant_id`` and ``loket_config_id`` (set at charge time on the Checkout Session and
its PaymentIntent; Stripe copies the PaymentIntent's to the charge).
"""

from __future__ import annotations

import datetime as dt

from loket.plugin_api import GatewayConfig
from loket_stripe.checkout import CONFIG_ID_KEY, PAYMENT_ID_KEY, TENANT_ID_KEY


def owner_of(metadata: dict | None, config: GatewayConfig) -> str:
    """Whose a Stripe object is, from its metadata.

    :returns: ``"ours"`` when it carries this configuration's tenant and configuration ids,
        ``"theirs"`` when it carries other loket ids, ``"unknown"`` without loket ids.
    """
    metadata = metadata or {}
    tenant, config_id = metadata.get(TENANT_ID_KEY), metadata.get(CONFIG_ID_KEY)
    if tenant is None and config_id is None:
        return "unknown"
    if tenant == str(config.tenant_id) and config_id == str(config.id):
        return "ours"
    return "theirs"


def payment_id_of(metadata: dict | None, config: GatewayConfig) -> str | None:
    """loket's payment id from an object's metadata, only when the object is ours."""
    if owner_of(metadata, config) != "ours":
        return None
    return (metadata or {}).get(PAYMENT_ID_KEY)


def when(epoch) -> dt.datetime | None:
    """A Stripe epoch timestamp as an aware UTC datetime (``None`` stays ``None``)."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else None


def ref_id(value) -> str | None:
    """The id of an expandable Stripe field (an object or its id)."""
    return value.get("id") if isinstance(value, dict) else value
