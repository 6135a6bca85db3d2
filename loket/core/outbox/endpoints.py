"""The host's webhook endpoints: where signed events go, which types, a secret shown once."""

from __future__ import annotations

import secrets as pysecrets
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import HostWebhookEndpoint, OutboxDelivery
from loket.core.outbox.events import HOST_EVENT_TYPES
from loket.errors import NotFound, ValidationFailed


def create_endpoint(ctx, session: Session, actor: audit.Actor, tenant_id: int, url: str,
                    event_types: list[str]) -> tuple[HostWebhookEndpoint, str]:
    """Register an endpoint; events written from now on are delivered to it.

    :returns: the row and its signing secret (``whsec_…``), which is shown only this once
        and stored encrypted.
    :raises ValidationFailed: a URL that is not http(s), or an unknown event type.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("url must be an absolute http or https URL", field="url")
    for position, event_type in enumerate(event_types):
        if event_type not in HOST_EVENT_TYPES:
            raise ValidationFailed(f"unknown event type {event_type!r} (known: "
                                   f"{', '.join(HOST_EVENT_TYPES)})",
                                   field=f"event_types[{position}]")
    secret = f"whsec_{pysecrets.token_urlsafe(24)}"
    row = HostWebhookEndpoint(tenant_id=tenant_id, url=url, event_types=list(event_types),
                              secret_encrypted=ctx.secrets.encrypt({"secret": secret}),
                              active=True, created_by=actor.name, created_at=ctx.now())
    session.add(row)
    session.flush()
    audit.record(session, actor, "webhook_endpoint.created", "webhook_endpoint", row.id,
                 after={"url": url, "event_types": list(event_types)}, tenant_id=tenant_id)
    return row, secret


def list_endpoints(session: Session, tenant_id: int) -> list[HostWebhookEndpoint]:
    """The tenant's endpoints that are not deleted, oldest first."""
    return list(session.scalars(select(HostWebhookEndpoint).where(
        HostWebhookEndpoint.tenant_id == tenant_id, HostWebhookEndpoint.deleted_at.is_(None))
        .order_by(HostWebhookEndpoint.id)))


def get_endpoint(session: Session, tenant_id: int, endpoint_id: int) -> HostWebhookEndpoint:
    """One endpoint of the tenant (404 for another tenant's or a deleted one)."""
    row = session.get(HostWebhookEndpoint, endpoint_id)
    if row is None or row.tenant_id != tenant_id or row.deleted_at is not None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return row


def delete_endpoint(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                    endpoint_id: int) -> None:
    """Stop delivering to an endpoint (its pending deliveries are dropped as dead)."""
    row = get_endpoint(session, tenant_id, endpoint_id)
    row.deleted_at = ctx.now()
    row.active = False
    for delivery in session.scalars(select(OutboxDelivery).where(
            OutboxDelivery.endpoint_id == row.id, OutboxDelivery.status == "pending")):
        delivery.status = "dead"
        delivery.last_error = "endpoint deleted"
    audit.record(session, actor, "webhook_endpoint.deleted", "webhook_endpoint", row.id,
                 before={"url": row.url}, tenant_id=tenant_id)


def deliveries(session: Session, tenant_id: int, endpoint_id: int,
               limit: int = 100) -> list[OutboxDelivery]:
    """The newest deliveries to one endpoint."""
    get_endpoint(session, tenant_id, endpoint_id)
    return list(session.scalars(select(OutboxDelivery).where(
        OutboxDelivery.endpoint_id == endpoint_id).order_by(OutboxDelivery.id.desc())
        .limit(limit)))
