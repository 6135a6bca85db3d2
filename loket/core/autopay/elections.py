"""The auto-pay election: which of an account's items are charged to which mandate, up to
what amount per charge. One election per account; a consumer makes it, or staff on their
behalf (audited under the staff member's name)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.autopay import mandates
from loket.core.models import AutopayElection, GatewayConfiguration, Mandate
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS
from loket.core.tenants import consumer_by_account
from loket.errors import NotFound, ValidationFailed
from loket.money import Money


def elect(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
          account_number: str, mandate_reference: str, item_kinds: list[str],
          max_amount: str | None, active: bool = True) -> AutopayElection:
    """Create or change the account's election (``PUT /v1/me/autopay``).

    :param item_kinds: which kinds of items are charged automatically (at least one).
    :param max_amount: the most one charge may take, a decimal string in the tenant currency
        (``None``: no limit); an item above it is not charged and staff get a to-do.
    :param active: ``False`` switches auto-pay off (the election is kept).
    :raises ValidationFailed: naming ``mandate``, ``item_kinds`` or ``max_amount``.
    :raises NotSupported: the mandate's gateway no longer offers mandates.
    """
    consumer = consumer_by_account(session, tenant_id, account_number)
    currency = load_settings(session, tenant_id).currency
    kinds = sorted(set(item_kinds))
    if not kinds or any(k not in ITEM_KINDS for k in kinds):
        raise ValidationFailed(f"item_kinds must be some of {', '.join(ITEM_KINDS)}",
                               field="item_kinds")
    limit = None
    if max_amount is not None:
        limit = Money.parse(max_amount, currency, field="max_amount").amount
        if limit <= 0:
            raise ValidationFailed("max_amount must be more than zero", field="max_amount")
    mandate = mandates.usable(session, tenant_id, consumer, mandate_reference)
    row = session.get_one(GatewayConfiguration, mandate.gateway_configuration_id)
    if not ctx.plugins.supports_mandates(row.kind):
        raise ValidationFailed(f"gateway {row.kind!r} does not support auto-pay",
                               field="mandate")
    election = session.scalar(select(AutopayElection).where(
        AutopayElection.tenant_id == tenant_id, AutopayElection.consumer_id == consumer.id))
    before = view(session, election) if election else None
    if election is None:
        election = AutopayElection(tenant_id=tenant_id, consumer_id=consumer.id,
                                   currency=currency, mandate_id=mandate.id, item_kinds=kinds)
        session.add(election)
    election.mandate_id = mandate.id
    election.item_kinds = kinds
    election.max_amount = limit
    election.active = active
    election.stop_reason = None if active else f"switched off by {actor.role}"
    election.updated_by = actor.name
    session.flush()
    audit.record(session, actor, "autopay.elected" if active else "autopay.switched_off",
                 "autopay", account_number, before=before, after=view(session, election),
                 tenant_id=tenant_id)
    return election


def current(session: Session, tenant_id: int, account_number: str) -> AutopayElection:
    """The account's election (``GET /v1/me/autopay``) or ``NotFound``."""
    consumer = consumer_by_account(session, tenant_id, account_number)
    election = session.scalar(select(AutopayElection).where(
        AutopayElection.tenant_id == tenant_id, AutopayElection.consumer_id == consumer.id))
    if election is None:
        raise NotFound(f"account {account_number} has not elected auto-pay")
    return election


def view(session: Session, election: AutopayElection) -> dict[str, Any]:
    """An election as the API and the audit trail show it."""
    mandate = session.get_one(Mandate, election.mandate_id)
    return {"active": election.active, "mandate": mandate.reference,
            "item_kinds": list(election.item_kinds),
            "max_amount": Money(election.max_amount, election.currency).to_json()
            if election.max_amount is not None else None,
            "stop_reason": election.stop_reason}
