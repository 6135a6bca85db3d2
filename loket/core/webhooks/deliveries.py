"""Storing a webhook request as it arrives, before anything else happens to it: the
configuration its URL names is read and the raw request is written in one step, committed
before the gateway's plugin sees the body (:mod:`loket.core.webhooks.inbox` then verifies
and stores its events).

On PostgreSQL that step is one statement, committed on its own: the configuration (with
the tenant's settings) is read and the delivery inserted from it (``WITH found AS (SELECT
…), stored AS (INSERT … SELECT … FROM found RETURNING id) SELECT …``), one round trip
instead of a transaction's four. SQLite, which has no ``INSERT`` inside ``WITH``, reads
and inserts in one transaction.
"""

from __future__ import annotations

import datetime as dt

import attrs
from sqlalchemy import bindparam, insert, select, true
from sqlalchemy.orm import Session, aliased

from loket.core.gateway_configs.configs import config_value
from loket.core.models import GatewayConfiguration, TenantSettings, WebhookDelivery
from loket.core.settings import Settings, load_settings, remember_settings
from loket.types import GatewayConfig


@attrs.frozen
class Known:
    """The configuration row and tenant settings the request's first step read, for its
    second a moment later (storing and applying the events), which reads neither again."""

    row: GatewayConfiguration
    settings: Settings


@attrs.frozen
class Stored:
    """A request stored by :func:`store`, with the configuration it came for (``config``
    is the exception when it could not be built; the caller reports why)."""

    delivery_id: int
    config_id: int
    tenant_id: int
    too_large: bool
    config: GatewayConfig | Exception
    known: Known | None


def store(ctx, kind: str, token: str, body: bytes, headers: dict, path: str,
          now: dt.datetime) -> Stored | None:
    """Store the request for the endpoint of gateway ``kind`` that ``token`` names.

    Called by the webhook endpoint for every request whose token is well formed. A body
    over ``max_body_bytes`` is stored empty with the verdict ``too-large``; any other
    starts ``pending``.

    :param headers: the headers to keep (lower-cased names).
    :returns: the stored request and its configuration, or ``None`` when no configuration
        has that token (nothing is stored).
    """
    too_large = len(body) > ctx.config.max_body_bytes
    values = {"path": path[:300], "headers": headers, "body": b"" if too_large else body,
              "received_at": now, "verdict": "too-large" if too_large else "pending"}
    if ctx.engine.dialect.name == "postgresql":
        with ctx.statements() as session:
            found = session.execute(_FOUND_AND_STORED, {"token": token, "kind": kind,
                                                        **values}).first()
            if found is None:
                return None
            row, document, delivery_id = found
            return _stored(ctx, session, row, document, delivery_id, too_large)
    with ctx.transaction() as session:
        found = session.execute(_ENDPOINT, {"token": token, "kind": kind}).first()
        if found is None:
            return None
        row, document = found
        delivery_id = session.connection().execute(_DELIVERY, {
            "tenant_id": row.tenant_id, "gateway_configuration_id": row.id, **values,
            "error": None}).scalar_one()
        return _stored(ctx, session, row, document, delivery_id, too_large)


def _stored(ctx, session: Session, row: GatewayConfiguration, document: dict | None,
            delivery_id: int, too_large: bool) -> Stored:
    if document is not None:
        remember_settings(session, row.tenant_id, Settings(document))
    config: GatewayConfig | Exception
    known = None
    try:
        config = config_value(ctx, session, row)
        known = Known(row, load_settings(session, row.tenant_id))
    except Exception as exc:  # noqa: BLE001 - the request is kept; answered 503
        config = exc
    return Stored(delivery_id, row.id, row.tenant_id, too_large, config, known)


# The statements are built once: building one costs as much as running it.

def _endpoint(configuration):
    """The configuration a webhook URL names, with the tenant's settings (the request's
    currency needs them)."""
    return select(configuration, TenantSettings.document).outerjoin(
        TenantSettings, TenantSettings.tenant_id == GatewayConfiguration.tenant_id).where(
        GatewayConfiguration.webhook_token == bindparam("token"),
        GatewayConfiguration.kind == bindparam("kind"))


_ENDPOINT = _endpoint(GatewayConfiguration)

_DELIVERY = insert(WebhookDelivery).values({
    name: bindparam(name) for name in ("tenant_id", "gateway_configuration_id", "path",
                                       "headers", "body", "received_at", "verdict", "error")
}).returning(WebhookDelivery.id)

_GIVEN = ("path", "headers", "body", "received_at", "verdict")
_FOUND = _endpoint(GatewayConfiguration.__table__).cte("found")
_STORED = insert(WebhookDelivery).from_select(
    ["tenant_id", "gateway_configuration_id", *_GIVEN],
    select(_FOUND.c.tenant_id, _FOUND.c.id, *(
        bindparam(name, type_=WebhookDelivery.__table__.c[name].type) for name in _GIVEN))
).returning(WebhookDelivery.id).cte("stored")
_FOUND_AND_STORED = select(aliased(GatewayConfiguration, _FOUND), _FOUND.c.document,
                           _STORED.c.id).select_from(_FOUND).join(_STORED, true())
