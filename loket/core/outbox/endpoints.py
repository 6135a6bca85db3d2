"""The host's webhook endpoints: where signed events go, which types, a secret shown once."""

from __future__ import annotations

import secrets as pysecrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, net
from loket.core.config import AppConfig
from loket.core.models import HostWebhookEndpoint, OutboxDelivery
from loket.core.outbox import posting
from loket.core.outbox.events import HOST_EVENT_TYPES
from loket.errors import NotFound, ValidationFailed


def create_endpoint(ctx, session: Session, actor: audit.Actor, tenant_id: int, url: str,
                    event_types: list[str]) -> tuple[HostWebhookEndpoint, str]:
    """Register an endpoint; events written from now on are delivered to it.

    :returns: the row and its signing secret (``whsec_…``), which is shown only this once
        and stored encrypted.
    :raises ValidationFailed: a URL loket does not send to (:func:`check_url`), or an
        unknown event type.
    """
    check_url(ctx.config, url)
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


def check_url(config: AppConfig, url: str) -> None:
    """Check that loket may send to ``url``: an ``https://`` URL whose host is, and
    resolves only to, public addresses. ``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE`` allows
    ``http://`` and the operator's own network. A name that does not resolve yet is
    accepted: every send checks the address again (:mod:`loket.core.outbox.posting`).

    Called before the first statement of the registering transaction, so no lock is held
    while the name is looked up.

    :raises ValidationFailed: naming ``url``.
    """
    parts = net.split_url(url)
    if config.host_webhooks_allow_private:
        return
    if parts.scheme != "https":
        raise ValidationFailed("url must be an https:// URL", field="url")
    try:
        refused = net.refused_address(parts.host, parts.port)
    except OSError:
        return
    if refused is not None:  # not named: the answer must not tell what a name resolves to
        raise ValidationFailed("url's host is, or resolves to, an address loket does not "
                               "send to (loopback, private, link-local, multicast, reserved)",
                               field="url")


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
        delivery.last_error = posting.ENDPOINT_DELETED
    audit.record(session, actor, "webhook_endpoint.deleted", "webhook_endpoint", row.id,
                 before={"url": row.url}, tenant_id=tenant_id)


def deliveries(session: Session, tenant_id: int, endpoint_id: int,
               limit: int = 100) -> list[OutboxDelivery]:
    """The newest deliveries to one endpoint."""
    get_endpoint(session, tenant_id, endpoint_id)
    return list(session.scalars(select(OutboxDelivery).where(
        OutboxDelivery.endpoint_id == endpoint_id).order_by(OutboxDelivery.id.desc())
        .limit(limit)))
