"""The host's webhook endpoints: where signed events go, which types, a secret shown once."""

from __future__ import annotations

import datetime as dt
import logging
import secrets as pysecrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, net
from loket.core.config import AppConfig
from loket.core.models import HostWebhookEndpoint, OutboxDelivery
from loket.core.outbox import posting
from loket.core.outbox.events import HOST_EVENT_TYPES
from loket.errors import ConfigurationError, NotFound, ValidationFailed

log = logging.getLogger(__name__)

OVERLAP_HOURS_MAX = 168
"""The longest a rotated-out secret keeps signing (a week)."""
OVERLAP_HOURS_DEFAULT = 24


def create_endpoint(ctx, session: Session, actor: audit.Actor, tenant_id: int, url: str,
                    event_types: list[str], url_checked: bool = False
                    ) -> tuple[HostWebhookEndpoint, str]:
    """Register an endpoint; events written from now on are delivered to it.

    :param url_checked: the caller ran :func:`check_url` before its transaction's first
        statement (the API does, then claims its Idempotency-Key in the transaction).
    :returns: the row and its signing secret (``whsec_…``), which is shown only this once
        and stored encrypted.
    :raises ValidationFailed: a URL loket does not send to (:func:`check_url`), or an
        unknown event type.
    """
    if not url_checked:
        check_url(ctx.config, url)
    for position, event_type in enumerate(event_types):
        if event_type not in HOST_EVENT_TYPES:
            raise ValidationFailed(f"unknown event type {event_type!r} (known: "
                                   f"{', '.join(HOST_EVENT_TYPES)})",
                                   field=f"event_types[{position}]")
    secret = _new_secret()
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


def get_endpoint(session: Session, tenant_id: int, endpoint_id: int,
                 lock: bool = False) -> HostWebhookEndpoint:
    """One endpoint of the tenant (404 for another tenant's or a deleted one); ``lock``:
    locked until the transaction ends."""
    row = session.get(HostWebhookEndpoint, endpoint_id, with_for_update=lock)
    if row is None or row.tenant_id != tenant_id or row.deleted_at is not None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return row


def rotate_secret(ctx, session: Session, actor: audit.Actor, tenant_id: int, endpoint_id: int,
                  expires_in_hours: int = OVERLAP_HOURS_DEFAULT
                  ) -> tuple[HostWebhookEndpoint, str]:
    """Give an endpoint a new signing secret (``POST …/rotate-secret``); its current one
    keeps signing too for ``expires_in_hours`` (0: not at all), so the host can switch
    without refusing a delivery. A previous secret still signing from an earlier rotation
    stops now: at most two secrets sign. Audited without either secret.

    :returns: the row and its new secret, shown only this once and stored encrypted.
    :raises ValidationFailed: ``expires_in_hours`` not a whole number from 0 to
        :data:`OVERLAP_HOURS_MAX`.
    :raises NotFound: another tenant's, a deleted or no endpoint.
    """
    if isinstance(expires_in_hours, bool) or not isinstance(expires_in_hours, int) \
            or not 0 <= expires_in_hours <= OVERLAP_HOURS_MAX:
        raise ValidationFailed(f"expires_in_hours must be a whole number of hours from 0 to "
                               f"{OVERLAP_HOURS_MAX}", field="expires_in_hours")
    row = get_endpoint(session, tenant_id, endpoint_id, lock=True)
    before = _expiry(row)
    current = row.secret_encrypted
    secret = _new_secret()
    row.secret_encrypted = ctx.secrets.encrypt({"secret": secret})
    row.previous_secret_encrypted, row.previous_secret_expires_at = None, None
    if expires_in_hours and _readable(ctx, current, row.id):
        row.previous_secret_encrypted = current
        row.previous_secret_expires_at = ctx.now() + dt.timedelta(hours=expires_in_hours)
    audit.record(session, actor, "webhook_endpoint.secret_rotated", "webhook_endpoint", row.id,
                 before={"previous_secret_expires_at": before},
                 after={"previous_secret_expires_at": _expiry(row)}, tenant_id=tenant_id)
    return row, secret


def previous_secret_expires_at(row: HostWebhookEndpoint,
                               now: dt.datetime) -> dt.datetime | None:
    """Until when the secret an endpoint's last rotation replaced still signs; ``None``
    when none does any more at ``now``."""
    expires = row.previous_secret_expires_at
    if row.previous_secret_encrypted is None or expires is None or expires <= now:
        return None
    return expires


def signing_secrets(ctx, row: HostWebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a delivery to the endpoint made at ``now``: its current one,
    then the one its last rotation replaced while that still signs.

    Called for each attempt at a delivery to the endpoint.

    :raises ConfigurationError: a secret no configured key decrypts (a failed attempt).
    """
    secrets = [ctx.secrets.decrypt_credentials(row.secret_encrypted)["secret"]]
    if previous_secret_expires_at(row, now) is not None:
        secrets.append(ctx.secrets.decrypt_credentials(
            row.previous_secret_encrypted or "")["secret"])
    return secrets


def _new_secret() -> str:
    return f"whsec_{pysecrets.token_urlsafe(24)}"


def _expiry(row: HostWebhookEndpoint) -> str | None:
    expires = row.previous_secret_expires_at
    return expires.isoformat() if expires is not None and row.previous_secret_encrypted \
        else None


def _readable(ctx, token: str, endpoint_id: int) -> bool:
    """Whether a secret decrypts: one that no key does would fail every delivery it
    signed, so a rotation lets it go at once."""
    try:
        ctx.secrets.decrypt_credentials(token)
    except ConfigurationError:
        log.warning("webhook endpoint %s: its secret, rotated out, could not be decrypted "
                    "and stops signing now", endpoint_id)
        return False
    return True


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
