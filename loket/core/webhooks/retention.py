"""How long the raw webhook requests are kept: ``webhook_retention_days`` of the tenant's
settings (default 90). Older requests go; the events they carried are facts of payments
and stay (their request's row stays too, with its body and headers emptied)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, exists, func, select, update

from loket.core.models import GatewayEventRow, Tenant, WebhookDelivery
from loket.core.settings import DEFAULTS, load_settings


def _cutoffs(ctx) -> list[tuple[int | None, dt.datetime]]:
    now = ctx.now()
    with ctx.transaction() as session:
        tenant_ids = list(session.scalars(select(Tenant.id)))
        out: list[tuple[int | None, dt.datetime]] = [
            (tenant_id, now - dt.timedelta(
                days=load_settings(session, tenant_id)["webhook_retention_days"]))
            for tenant_id in tenant_ids]
    out.append((None, now - dt.timedelta(days=DEFAULTS["webhook_retention_days"])))
    return out


def purge_deliveries(ctx) -> dict[str, int]:
    """Apply the retention (the worker's daily job; idempotent, set-based: two statements
    per tenant).

    :returns: ``{"deleted": n, "emptied": m}``: requests removed, and requests kept only
        as the origin of stored events, with their body and headers dropped.
    """
    deleted = emptied = 0
    carries_events = exists().where(GatewayEventRow.delivery_id == WebhookDelivery.id)
    for tenant_id, cutoff in _cutoffs(ctx):
        whose = WebhookDelivery.tenant_id.is_(None) if tenant_id is None else \
            WebhookDelivery.tenant_id == tenant_id
        old = (whose, WebhookDelivery.received_at < cutoff)
        with ctx.transaction() as session:
            deleted += session.execute(delete(WebhookDelivery).where(
                *old, ~carries_events).execution_options(synchronize_session=False)
            ).rowcount or 0
            emptied += session.execute(update(WebhookDelivery).where(
                *old, carries_events, func.length(WebhookDelivery.body) > 0).values(
                body=b"", headers={}).execution_options(synchronize_session=False)
            ).rowcount or 0
    return {"deleted": deleted, "emptied": emptied}
