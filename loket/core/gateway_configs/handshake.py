"""The daily gateway handshake: every connected configuration is checked once a day.

Run by the periodic job in its own short transactions; idempotent (a configuration checked
in the last :data:`HANDSHAKE_EVERY` is skipped).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration
from loket.core.outbox import messages
from loket.core.payments.posting import notify_later
from loket.core.settings import load_settings
from loket.core.todos import raise_todo
from loket.types import Notification

log = logging.getLogger(__name__)

HANDSHAKE_EVERY = dt.timedelta(hours=20)
"""A configuration checked more recently than this is skipped (the job is daily)."""
HANDSHAKE_REMIND_AFTER = dt.timedelta(days=7)
"""A persisting handshake failure is mailed once, then at most once a week."""


def handshake_sweep(ctx) -> dict[str, int]:
    """Run the handshake of every connected configuration not checked in the last day.

    A failure is recorded on the configuration (``last_handshake_error``, the gateway's own
    words); the tenant admins (``notifications.tenant_admins``) are e-mailed and a to-do is
    raised when the failure starts, then reminded at most weekly while it persists. A
    success clears the failure.

    :returns: counts of ``ok``, ``failed`` and ``alerted``.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(GatewayConfiguration.id).where(
            GatewayConfiguration.connected.is_(True)).order_by(GatewayConfiguration.id)))
    counts = {"ok": 0, "failed": 0, "alerted": 0}
    for config_id in ids:
        try:
            with ctx.transaction() as session:
                row = session.get(GatewayConfiguration, config_id, with_for_update=True)
                last = row.last_handshake_at
                if row.kind not in ctx.plugins.gateways or (
                        last is not None and now - last < HANDSHAKE_EVERY):
                    continue
                error = configs.handshake(ctx, session, row)
                if error is None:
                    counts["ok"] += 1
                    continue
                counts["failed"] += 1
                if _alert_handshake(ctx, session, row, error, now):
                    counts["alerted"] += 1
        except Exception:  # noqa: BLE001 - one configuration must not stop the others
            log.exception("handshake of configuration %s failed unexpectedly", config_id)
    return counts


def _alert_handshake(ctx, session, row: GatewayConfiguration, error: str,
                     now: dt.datetime) -> bool:
    alerted = row.handshake_alerted_at
    if alerted is not None and now - alerted < HANDSHAKE_REMIND_AFTER:
        return False
    first = alerted is None
    row.handshake_alerted_at = now
    name = ctx.plugins.gateways[row.kind].display_name
    if first:
        raise_todo(session, row.tenant_id, "gateway.handshake_failed",
                   f"{name} handshake failed", detail=error, entity_type="gateway",
                   entity_id=row.kind,
                   dedupe_key=f"handshake:{row.id}:{now.date().isoformat()}")
    settings = load_settings(session, row.tenant_id)
    recipients = tuple(settings["notifications"].get("tenant_admins") or ())
    days = row.handshake_failures
    # In the tenant's language: a first alert, or a reminder counting the days.
    text = messages.worded(settings, "gateway.handshake_failed" if first or days < 2
                           else "gateway.handshake_still_failing",
                           {"gateway": name, "error": error, "days": days})
    notify_later(ctx, session, Notification(
        tenant_id=row.tenant_id, kind="gateway.handshake_failed", subject=text.subject,
        body=text.body, recipients=recipients,
        data={"gateway": row.kind, "error": error, "failures": days, "reminder": not first}))
    audit.record(session, audit.SYSTEM, "gateway.handshake_failed", "gateway", row.kind,
                 after={"error": error, "failures": days, "mailed": list(recipients)},
                 tenant_id=row.tenant_id)
    return True
