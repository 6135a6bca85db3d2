"""Mandates: a consumer's stored authorisation to be charged without them.

A mandate belongs to one tenant, one consumer and one gateway configuration. It starts
``pending`` (the payer is at the gateway saving a card), becomes ``active`` when the gateway
reports the set-up done, and ends ``revoked``, ``expired`` or ``failed``. An ended mandate
stops the auto-pay election that uses it, with a notification.
"""

from __future__ import annotations

import datetime as dt
import secrets as pysecrets
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.autopay import reporting
from loket.core.gateway_configs import configs
from loket.core.models import Consumer, GatewayConfiguration, Mandate, MandateEventRow
from loket.core.tenants import consumer_by_account
from loket.errors import Conflict, LoketError, NotFound, NotSupported, ValidationFailed
from loket.types import (
    Customer,
    MandateEvent,
    MandateEventType,
    MandateSetupRequest,
    MandateStatus,
)

RETURN_TTL = dt.timedelta(days=1)
ENDED = frozenset({MandateStatus.REVOKED, MandateStatus.EXPIRED, MandateStatus.FAILED})



def return_urls(ctx: Any, tenant_id: int, reference: str, issued_at: dt.datetime
                ) -> tuple[str, str]:
    """The payer's signed return and cancel URLs after a mandate set-up: loket's own
    ``/v1/mandate-return/{reference}``, valid for a day from ``issued_at``."""
    expires = int((issued_at + RETURN_TTL).timestamp())
    urls = []
    for result in ("success", "cancel"):
        sig = ctx.signer.sign({"typ": "mandate-return", "tid": tenant_id, "mdt": reference,
                               "res": result, "exp": expires})
        urls.append(f"{ctx.config.base_url}/v1/mandate-return/{quote(reference)}"
                    f"?result={result}&sig={sig}")
    return urls[0], urls[1]


def verify_return(ctx: Any, reference: str, result: str, sig: str | None) -> int:
    """Check a mandate return URL; returns its tenant id.

    :raises NotFound: a missing, forged, expired or mismatched signature.
    """
    try:
        claims = ctx.signer.verify(sig or "", now=int(ctx.now().timestamp()))
    except LoketError:
        raise NotFound(f"no mandate {reference!r}") from None
    if claims.get("typ") != "mandate-return" or claims.get("mdt") != reference or \
            claims.get("res") != result or not isinstance(claims.get("tid"), int):
        raise NotFound(f"no mandate {reference!r}")
    return int(claims["tid"])


def public(mandate: Mandate, row: GatewayConfiguration | None = None) -> dict[str, Any]:
    """A mandate as the API shows it: the payment method masked (brand, last 4, expiry)."""
    expiry = (f"{mandate.exp_month:02d}/{mandate.exp_year}"
              if mandate.exp_month and mandate.exp_year else None)
    return {"id": mandate.reference, "status": mandate.status,
            "gateway": row.kind if row else None,
            "payment_method": {"brand": mandate.brand or None,
                               "last4": mandate.last4 or None, "expiry": expiry},
            "redirect_url": mandate.redirect_url if mandate.status == MandateStatus.PENDING
            else None,
            "created_at": mandate.created_at, "activated_at": mandate.activated_at,
            "ended_at": mandate.ended_at, "end_reason": mandate.end_reason}


def start_setup(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
                account_number: str, gateway_kind: str) -> Mandate:
    """Create a ``pending`` mandate and ask the gateway for the page where the payer saves a
    payment method.

    Called by ``POST /v1/me/mandates``.

    :returns: the mandate; its ``redirect_url`` is where to send the payer.
    :raises NotSupported: the gateway does not offer mandates.
    :raises ValidationFailed: the gateway is not usable for this tenant.
    :raises GatewayError: the gateway refused (nothing is kept).
    """
    consumer = consumer_by_account(session, tenant_id, account_number)
    kind = configs.split_name(gateway_kind)[0]
    if kind in ctx.plugins.gateways and not ctx.plugins.supports_mandates(kind):
        raise NotSupported(f"{ctx.plugins.gateways[kind].display_name} does not support "
                           f"stored mandates (auto-pay); choose a gateway that does",
                           field="gateway")
    row = configs.usable_for_kind(ctx, session, tenant_id, gateway_kind)
    config = configs.config_value(ctx, session, row)
    now = ctx.now()
    reference = f"MDT-{pysecrets.token_hex(8).upper()}"
    previous = session.scalar(select(Mandate.gateway_customer).where(
        Mandate.consumer_id == consumer.id, Mandate.gateway_configuration_id == row.id,
        Mandate.gateway_customer.is_not(None)).order_by(Mandate.id.desc()).limit(1))
    return_url, cancel_url = return_urls(ctx, tenant_id, reference, now)
    setup = ctx.plugins.mandate_setup(config, MandateSetupRequest(
        mandate_id=reference, currency=config.currency, return_url=return_url,
        cancel_url=cancel_url, created_at=now, gateway_customer=previous,
        customer=Customer(consumer.account_number, consumer.name, consumer.email,
                          consumer.phone)))
    mandate = Mandate(tenant_id=tenant_id, consumer_id=consumer.id,
                      gateway_configuration_id=row.id, reference=reference,
                      status=MandateStatus.PENDING, gateway_reference=setup.gateway_reference,
                      redirect_url=setup.redirect_url, created_by=actor.name, created_at=now)
    session.add(mandate)
    session.flush()
    audit.record(session, actor, "mandate.setup_started", "mandate", reference,
                 after={"gateway": row.kind, "account": account_number}, tenant_id=tenant_id)
    return mandate


def list_for(session: Session, tenant_id: int, account_number: str
             ) -> list[tuple[Mandate, GatewayConfiguration]]:
    """The account's mandates, newest first, with their gateway configurations."""
    consumer = consumer_by_account(session, tenant_id, account_number)
    return [(m, r) for m, r in session.execute(
        select(Mandate, GatewayConfiguration)
        .join(GatewayConfiguration, GatewayConfiguration.id == Mandate.gateway_configuration_id)
        .where(Mandate.tenant_id == tenant_id, Mandate.consumer_id == consumer.id)
        .order_by(Mandate.id.desc())).all()]


def get(session: Session, tenant_id: int, reference: str,
        consumer_id: int | None = None) -> Mandate:
    """One mandate of the tenant (and of the consumer, when given) or ``NotFound``."""
    query = select(Mandate).where(Mandate.tenant_id == tenant_id,
                                  Mandate.reference == reference)
    if consumer_id is not None:
        query = query.where(Mandate.consumer_id == consumer_id)
    mandate = session.scalar(query)
    if mandate is None:
        raise NotFound(f"no mandate {reference!r}")
    return mandate


def revoke(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int, reference: str,
           account_number: str | None = None) -> Mandate:
    """Revoke a mandate at the gateway, then in loket; auto-pay using it stops.

    Called by ``DELETE /v1/me/mandates/{id}``. Revoking an ended mandate is a conflict.

    :raises GatewayError: the gateway could not be reached (nothing changes).
    """
    consumer_id = None
    if account_number is not None:
        consumer_id = consumer_by_account(session, tenant_id, account_number).id
    mandate = get(session, tenant_id, reference, consumer_id)
    if mandate.status in ENDED:
        raise Conflict(f"mandate {reference} is already {mandate.status}", field="id")
    row = session.get_one(GatewayConfiguration, mandate.gateway_configuration_id)
    if mandate.gateway_reference:
        ctx.plugins.mandate_revoke(configs.config_value(ctx, session, row),
                                   mandate.gateway_reference, mandate.token)
    _end(ctx, session, actor, mandate, MandateStatus.REVOKED, "revoked by " + actor.role)
    return mandate


def _end(ctx: Any, session: Session, actor: audit.Actor, mandate: Mandate,
         status: MandateStatus, reason: str) -> None:
    before = {"status": mandate.status}
    mandate.status = status
    mandate.ended_at = ctx.now()
    mandate.end_reason = reason
    mandate.redirect_url = None
    audit.record(session, actor, f"mandate.{status}", "mandate", mandate.reference,
                 before=before, after={"status": status, "reason": reason},
                 tenant_id=mandate.tenant_id)
    reporting.mandate_ended(ctx, session, mandate, reason)


def apply_events(ctx: Any, config_id: int, events: list[MandateEvent]) -> int:
    """Apply mandate events from a verified webhook, each once (deduplicated on the event
    id per configuration by the database).

    Called by the webhook inbox after the payment events are stored.

    :returns: how many events were new.
    """
    applied = 0
    for event in events:
        try:
            with ctx.transaction() as session:
                row = session.get_one(GatewayConfiguration, config_id)
                mandate = _find(session, row, event)
                session.add(MandateEventRow(
                    tenant_id=row.tenant_id, gateway_configuration_id=row.id,
                    mandate_id=mandate.id if mandate else None, event_id=event.event_id,
                    event_type=str(event.type), received_at=ctx.now()))
                session.flush()
                if mandate is not None:
                    apply_event(ctx, session, mandate, event)
                applied += 1
        except IntegrityError:
            continue  # a duplicate delivery: already applied
    return applied


def _find(session: Session, row: GatewayConfiguration, event: MandateEvent
          ) -> Mandate | None:
    if event.mandate_id:
        found = session.scalar(select(Mandate).where(
            Mandate.gateway_configuration_id == row.id, Mandate.reference == event.mandate_id))
        if found is not None:
            return found
    for column, value in ((Mandate.gateway_reference, event.gateway_reference),
                          (Mandate.token, event.token)):
        if value:
            found = session.scalar(select(Mandate).where(
                Mandate.gateway_configuration_id == row.id, column == value))
            if found is not None:
                return found
    return None


def apply_event(ctx: Any, session: Session, mandate: Mandate, event: MandateEvent) -> bool:
    """Apply one mandate event to its mandate: activation keeps the token and the masked
    payment method; revocation and expiry end it (an ended mandate never comes back).

    :returns: whether the mandate changed.
    """
    actor = audit.Actor("gateway", "gateway")
    if mandate.status in ENDED:
        return False
    if event.type in (MandateEventType.ACTIVE, MandateEventType.UPDATED):
        if event.type == MandateEventType.UPDATED and mandate.status != MandateStatus.ACTIVE:
            return False
        before = {"status": mandate.status, "last4": mandate.last4}
        mandate.token = event.token or mandate.token
        mandate.gateway_customer = event.gateway_customer or mandate.gateway_customer
        mandate.gateway_reference = mandate.gateway_reference or event.gateway_reference
        method = event.method
        mandate.brand, mandate.last4 = method.brand or mandate.brand, method.last4 or mandate.last4
        mandate.exp_month = method.exp_month or mandate.exp_month
        mandate.exp_year = method.exp_year or mandate.exp_year
        if mandate.status == MandateStatus.PENDING:
            mandate.status = MandateStatus.ACTIVE
            mandate.activated_at = event.occurred_at or ctx.now()
        mandate.redirect_url = None
        audit.record(session, actor, str(event.type), "mandate", mandate.reference,
                     before=before, after={"status": mandate.status, "last4": mandate.last4},
                     tenant_id=mandate.tenant_id)
        return True
    status = {MandateEventType.REVOKED: MandateStatus.REVOKED,
              MandateEventType.EXPIRED: MandateStatus.EXPIRED,
              MandateEventType.FAILED: MandateStatus.FAILED}[event.type]
    _end(ctx, session, actor, mandate, status, f"{status} at the gateway")
    return True


def usable(session: Session, tenant_id: int, consumer: Consumer, reference: str) -> Mandate:
    """An active mandate of this consumer, for an auto-pay election.

    :raises ValidationFailed: naming ``mandate`` when it is not active or not theirs.
    """
    mandate = session.scalar(select(Mandate).where(
        Mandate.tenant_id == tenant_id, Mandate.consumer_id == consumer.id,
        Mandate.reference == reference))
    if mandate is None:
        raise ValidationFailed(f"no mandate {reference!r} for this account", field="mandate")
    if mandate.status != MandateStatus.ACTIVE:
        raise ValidationFailed(f"mandate {reference} is {mandate.status}; auto-pay needs an "
                               f"active mandate", field="mandate")
    return mandate
