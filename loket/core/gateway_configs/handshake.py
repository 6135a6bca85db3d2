"""The daily gateway handshake: every active, connected configuration is checked once a day.

Run by the periodic job; idempotent (a configuration checked in the last
:data:`HANDSHAKE_EVERY` is skipped). No transaction is open while a gateway answers: the
configuration is read, the gateway called, and the result written only if the
configuration did not change meanwhile (the admin switched it off or saved other
credentials), so a gateway that hangs blocks nobody.
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
from loket.errors import GatewayError, LoketError
from loket.types import GatewayConfig, Notification

log = logging.getLogger(__name__)

HANDSHAKE_EVERY = dt.timedelta(hours=20)
"""A configuration checked more recently than this is skipped (the job is daily)."""
HANDSHAKE_REMIND_AFTER = dt.timedelta(days=7)
"""A persisting handshake failure is mailed once, then at most once a week."""


def handshake_sweep(ctx) -> dict[str, int]:
    """Run the handshake of every active, connected configuration not checked in the last
    day.

    A failure is recorded on the configuration (``last_handshake_error``, the gateway's own
    words); the tenant admins (``notifications.tenant_admins``) are e-mailed and a to-do is
    raised when the failure starts, then reminded at most weekly while it persists. A
    success clears the failure.

    :returns: counts of ``ok``, ``failed`` and ``alerted``.
    """
    now = ctx.now()
    with ctx.transaction() as session:
        ids = list(session.scalars(select(GatewayConfiguration.id).where(
            GatewayConfiguration.active.is_(True), GatewayConfiguration.connected.is_(True))
            .order_by(GatewayConfiguration.id)))
    counts = {"ok": 0, "failed": 0, "alerted": 0}
    for config_id in ids:
        try:
            for outcome in _handshake_one(ctx, config_id, now):
                counts[outcome] += 1
        except Exception:  # noqa: BLE001 - one configuration must not stop the others
            log.exception("handshake of configuration %s failed unexpectedly", config_id)
    return counts


def _handshake_one(ctx, config_id: int, now: dt.datetime) -> tuple[str, ...]:
    """One configuration's handshake: read it, ask the gateway with no transaction open,
    then write the result under the row's lock unless the configuration changed meanwhile
    (the next sweep checks it as it is then). Returns the counts it adds to."""
    error: str | None = None
    config: GatewayConfig | None = None
    with ctx.transaction() as session:
        row = session.get(GatewayConfiguration, config_id)
        if row is None or not _due(ctx, row, now):
            return ()
        seen = _version(row)
        name = label(ctx, row)
        try:
            config = configs.config_value(ctx, session, row)
        except LoketError as exc:  # e.g. credentials no configured key decrypts
            error = exc.detail
    if config is not None:
        error = call_handshake(ctx, config, name)
    with ctx.transaction() as session:
        row = session.get(GatewayConfiguration, config_id, with_for_update=True,
                          populate_existing=True)
        if row is None or _version(row) != seen:
            log.info("configuration %s changed during its handshake: not recorded", config_id)
            return ()
        _record(ctx, row, error)
        if error is None:
            return ("ok",)
        return ("failed", "alerted") if _alert_handshake(ctx, session, row, error, now) \
            else ("failed",)


def _due(ctx, row: GatewayConfiguration, now: dt.datetime) -> bool:
    """Whether a configuration is checked now: active, connected, its gateway installed and
    not checked in the last :data:`HANDSHAKE_EVERY`."""
    last = row.last_handshake_at
    return row.active and row.connected and row.kind in ctx.plugins.gateways and (
        last is None or now - last >= HANDSHAKE_EVERY)


def _version(row: GatewayConfiguration) -> tuple:
    """What a handshake's result is about: a change to any of it (credentials saved, the
    gateway switched off or disconnected, another sweep's check) makes the result stale."""
    return (row.credentials_encrypted, row.active, row.connected, row.last_handshake_at)


def label(ctx, row: GatewayConfiguration) -> str:
    """A configuration's name for people: the gateway's display name, with the profile
    (``Stripe (gas)``) when it is not the default one."""
    name = ctx.plugins.gateways[row.kind].display_name
    profile = row.profile or configs.DEFAULT_PROFILE
    return name if profile == configs.DEFAULT_PROFILE else f"{name} ({profile})"


def call_handshake(ctx, config: GatewayConfig, name: str) -> str | None:
    """Ask the gateway whether ``config`` still works; returns ``None``, or what went wrong
    worded for the tenant's admins. A plugin's own errors keep their words; anything else
    (whose text may carry a request, a URL or a credential) is named only by its type and
    logged in full for operators."""
    try:
        ctx.plugins.handshake(config)
    except GatewayError as exc:
        return exc.gateway_message or exc.detail
    except LoketError as exc:
        return exc.detail
    except (OSError, TimeoutError) as exc:
        log.warning("handshake of configuration %s (%s) could not reach the gateway",
                    config.id, config.kind, exc_info=True)
        return f"{name} could not be reached ({type(exc).__name__})"
    except Exception as exc:  # noqa: BLE001 - a crash is a failed handshake too, and alerted
        log.error("handshake of configuration %s (%s) failed unexpectedly", config.id,
                  config.kind, exc_info=True)
        return f"the {name} plugin failed ({type(exc).__name__}); loket's log has the details"
    return None


def _record(ctx, row: GatewayConfiguration, error: str | None) -> None:
    """Write a handshake's result on its configuration: a failure counts one more day, a
    success clears the failure."""
    if error is None:
        row.last_handshake_error = None
        row.handshake_failures = 0
        row.handshake_alerted_at = None
    else:
        row.last_handshake_error = error
        row.handshake_failures += 1
    row.last_handshake_at = ctx.now()


def _alert_handshake(ctx, session, row: GatewayConfiguration, error: str,
                     now: dt.datetime) -> bool:
    alerted = row.handshake_alerted_at
    if alerted is not None and now - alerted < HANDSHAKE_REMIND_AFTER:
        return False
    first = alerted is None
    row.handshake_alerted_at = now
    name, entity = label(ctx, row), configs.name_of(row)
    if first:
        raise_todo(session, row.tenant_id, "gateway.handshake_failed",
                   f"{name} handshake failed", detail=error, entity_type="gateway",
                   entity_id=entity,
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
        data={"gateway": entity, "error": error, "failures": days, "reminder": not first}))
    audit.record(session, audit.SYSTEM, "gateway.handshake_failed", "gateway", entity,
                 after={"error": error, "failures": days, "mailed": list(recipients)},
                 tenant_id=row.tenant_id)
    return True
