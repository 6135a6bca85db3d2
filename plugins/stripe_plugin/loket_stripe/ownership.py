"""Whose a Stripe object is: several loket installations, and several tenants of each, may
share one Stripe account.

Stripe sends every event of an account to every endpoint, correctly signed, and tenant ids,
configuration ids and payment numbers restart from 1 in each installation (and after a
database reset). So a Stripe object names a loket payment only when its metadata carries
this installation's ``loket_installation_id`` and this configuration's ``loket_tenant_id``
and ``loket_config_id`` (set on every object loket creates: the Checkout Session and its
PaymentIntent, refunds, Customers, SetupIntents, off-session PaymentIntents; Stripe copies
the PaymentIntent's to the charge). The same installation id is in every idempotency key
(:func:`key_prefix`), which are per Stripe account.

Transition: objects created before loket marked them with its installation carry no
``loket_installation_id``; they are still judged by tenant and configuration alone, so a
payment started before the upgrade completes, is refunded and settles as before. Such
objects of another installation with the same tenant and configuration ids cannot be told
apart: that risk lasts while pre-upgrade objects get events (a Checkout Session expires in
24 hours; refunds, disputes and payouts of their charges may come later).
"""

from __future__ import annotations

import datetime as dt

from loket.plugin_api import GatewayConfig
from loket_stripe.checkout import (
    CONFIG_ID_KEY,
    INSTALLATION_ID_KEY,
    PAYMENT_ID_KEY,
    TENANT_ID_KEY,
)


def key_prefix(config: GatewayConfig) -> str:
    """The start of every idempotency key ``config`` sends: ``loket-{installation}-{tenant}``
    (``loket-{tenant}`` when loket gives no installation id, as before installation ids).

    Keys are per Stripe account; two tenants, or two loket installations (or one whose
    database was reset), sharing an account must not collide on the same payment, mandate or
    charge number.
    """
    installation = getattr(config, "installation_id", "") or ""
    return f"loket-{installation}-{config.tenant_id}" if installation else \
        f"loket-{config.tenant_id}"


def owner_of(metadata: dict | None, config: GatewayConfig) -> str:
    """Whose a Stripe object is, from its metadata.

    :returns: ``"ours"`` when it carries this configuration's tenant and configuration ids
        and either this installation's id or none (made before installation ids);
        ``"theirs"`` when it carries another installation's id or other loket ids;
        ``"unknown"`` without loket ids.
    """
    metadata = metadata or {}
    tenant, config_id = metadata.get(TENANT_ID_KEY), metadata.get(CONFIG_ID_KEY)
    installation = metadata.get(INSTALLATION_ID_KEY) or None
    if tenant is None and config_id is None and installation is None:
        return "unknown"
    if installation is not None and installation != getattr(config, "installation_id", ""):
        return "theirs"
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
