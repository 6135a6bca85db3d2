"""``loket doctor``: check an installation and print what to fix.

Checks, in order: the configuration (the ``LOKET_*`` variables), the secret key, the
database, its migrations, the job queue, the SMTP server, the plugins, each active
gateway configuration's reachability (its handshake, with its stored credentials) and the
host webhook endpoints' signing secrets (they decrypt). Every fault is named with what to
do about it; the exit status is 1 when any check failed. No data is changed: the doctor
only looks.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from sqlalchemy import select
from sqlalchemy.engine import Engine

from loket.core.config import AppConfig
from loket.core.secrets import SecretBox
from loket.notifiers.email import SmtpSettings, tls_context
from loket.ops.health import (
    Check,
    Status,
    database,
    migrations,
    queue,
    secret_key,
    tallies,
)

SMTP_TIMEOUT = 5.0


def configuration(environ: Mapping[str, str]) -> tuple[Check, list[Check], AppConfig | None]:
    """Read the configuration; returns its check, warnings about it, and the configuration
    (``None`` when it cannot be read)."""
    env = dict(environ)
    keyless = not env.get("LOKET_SECRET_KEY", "").strip()
    if keyless:  # read the rest; the secret-key check names the missing key
        env["LOKET_SECRET_KEY"] = SecretBox.generate_key()
    try:
        config = AppConfig.from_env(env)
        if keyless:
            config = attrs.evolve(config, secret_keys=())
    except Exception as exc:  # noqa: BLE001 - reported
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        return (Check("configuration", Status.FAIL, detail, "correct the LOKET_* variable "
                      "named above (docs/operations.md lists them)"), [], None)
    notes: list[Check] = []
    base = config.base_url
    if not base.startswith(("http://", "https://")):
        notes.append(Check("base_url", Status.FAIL, f"LOKET_BASE_URL {base!r} is not an "
                           "http(s) URL", "set LOKET_BASE_URL to the public address of loket "
                           "(https://pay.example.com)"))
    elif any(host in base for host in ("://127.", "://localhost", "://0.0.0.0", "://[::1]")):
        notes.append(Check("base_url", Status.WARN, f"LOKET_BASE_URL is {base}: gateways "
                           "cannot reach webhook URLs there and payers cannot come back",
                           "set LOKET_BASE_URL to the public https address of loket"))
    elif base.startswith("http://"):
        notes.append(Check("base_url", Status.WARN, f"LOKET_BASE_URL {base} is not https",
                           "serve loket over https behind the load balancer"))
    backend = config.database_url.split(":", 1)[0]
    if backend.startswith("postgresql") and (config.queue or "sqlite") == "sqlite":
        notes.append(Check("queue_choice", Status.WARN, "the job queue is SQLite beside a "
                           "PostgreSQL database: workers on other machines cannot see it",
                           "set LOKET_REDIS_URL (or LOKET_QUEUE=postgres)"))
    return Check("configuration", Status.OK, f"read ({backend} database, "
                 f"{config.queue} queue)"), notes, config


def smtp(config: AppConfig) -> Check:
    """Whether the SMTP server answers (and accepts STARTTLS when ``LOKET_SMTP_TLS``)."""
    where = f"{config.smtp_host}:{config.smtp_port}"
    fix = ("start the mail server or correct LOKET_SMTP_HOST / LOKET_SMTP_PORT / "
           "LOKET_SMTP_TLS; or turn e-mail off with LOKET_DISABLED_PLUGINS=email")
    if "email" in config.disabled_plugins:
        return Check("smtp", Status.OK, "e-mail is disabled (LOKET_DISABLED_PLUGINS)")
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT) as server:
            server.ehlo()
            if config.smtp_tls:  # the certificate checked as a send checks it
                server.starttls(context=tls_context(SmtpSettings.from_config(config)))
                server.ehlo()
            server.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp", Status.FAIL, f"SMTP server {where} unreachable "
                     f"({type(exc).__name__}: {exc})", fix)
    return Check("smtp", Status.OK, f"SMTP server {where} answers"
                 + (" (STARTTLS)" if config.smtp_tls else ""))


def plugins(loaded: Any) -> list[Check]:
    """One check per plugin that could not be loaded, or one saying all loaded."""
    if not loaded.broken:
        return [Check("plugins", Status.OK, f"gateways: {', '.join(sorted(loaded.gateways))}")]
    return [Check(f"plugin {name}", Status.FAIL, f"cannot be loaded: {error}",
                  f"reinstall or upgrade the package of plugin {name!r}, or disable it with "
                  f"LOKET_DISABLED_PLUGINS={name}")
            for name, error in sorted(loaded.broken.items())]


def gateways(ctx: Any) -> list[Check]:
    """One check per active gateway configuration: its handshake with the stored
    credentials (a live call to the gateway), read-only."""
    from loket.core.gateway_configs.configs import config_value  # noqa: PLC0415
    from loket.core.models import GatewayConfiguration, Tenant  # noqa: PLC0415

    out: list[Check] = []
    with ctx.transaction() as session:
        rows = session.execute(select(GatewayConfiguration, Tenant.slug).join(
            Tenant, Tenant.id == GatewayConfiguration.tenant_id).where(
            GatewayConfiguration.active.is_(True)).order_by(GatewayConfiguration.id)).all()
        for row, slug in rows:
            name = f"gateway {row.kind} ({slug})"
            if row.kind not in ctx.plugins.gateways:
                out.append(Check(name, Status.FAIL, f"active, but no installed plugin "
                                 f"provides gateway {row.kind!r}", f"install the loket-"
                                 f"{row.kind} package on every machine, or deactivate it"))
                continue
            if not row.credentials_encrypted:
                out.append(Check(name, Status.WARN, "active without credentials",
                                 "save its credentials (PUT /v1/gateways/{kind}/credentials)"))
                continue
            try:
                config = config_value(ctx, session, row)
            except Exception as exc:  # noqa: BLE001 - reported
                out.append(Check(name, Status.FAIL, getattr(exc, "detail", None) or str(exc),
                                 "LOKET_SECRET_KEY must list the key the credentials were "
                                 "saved with (the newest first)"))
                continue
            started = time.monotonic()
            try:
                ctx.plugins.handshake(config)
            except Exception as exc:  # noqa: BLE001 - reported
                message = (getattr(exc, "gateway_message", None) or getattr(exc, "detail", None)
                           or f"{type(exc).__name__}: {exc}")
                out.append(Check(name, Status.FAIL, f"handshake failed: {message}",
                                 "check that this machine reaches the gateway (firewall, "
                                 "proxy, LOKET_GATEWAY_OPTIONS) and that the credentials "
                                 "are still valid at the gateway"))
                continue
            elapsed = (time.monotonic() - started) * 1000
            out.append(Check(name, Status.OK, f"handshake answered in {elapsed:.0f} ms"))
    return out


def _endpoints(ctx: Any, column: str) -> list[tuple[int, Any, str]]:
    """``(id, column's value, tenant slug)`` of every host webhook endpoint not deleted."""
    from loket.core.models import HostWebhookEndpoint, Tenant  # noqa: PLC0415

    with ctx.transaction() as session:
        return [tuple(row) for row in session.execute(select(
            HostWebhookEndpoint.id, getattr(HostWebhookEndpoint, column), Tenant.slug).join(
            Tenant, Tenant.id == HostWebhookEndpoint.tenant_id).where(
            HostWebhookEndpoint.deleted_at.is_(None)).order_by(HostWebhookEndpoint.id))]


def _failing(rows: list[tuple[int, Any, str]], fails: Callable[[Any], bool]
             ) -> tuple[int, str]:
    """How many endpoints' value ``fails``, and the first ten named (``id (tenant)``)."""
    named = [f"{endpoint_id} ({slug})" for endpoint_id, value, slug in rows if fails(value)]
    return len(named), ", ".join(named[:10]) + (" …" if len(named) > 10 else "")


def webhook_urls(ctx: Any) -> Check:
    """Whether loket may still send to every host webhook endpoint's URL (public
    ``https://`` unless ``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE``): an endpoint registered
    before the rule, or whose name now resolves to a private address, is refused at every
    send until the URL or the setting changes."""
    from loket.core.outbox.endpoints import check_url  # noqa: PLC0415
    from loket.errors import LoketError  # noqa: PLC0415

    def refused(url: str) -> bool:
        try:
            check_url(ctx.config, url)
        except LoketError:
            return True
        return False

    rows = _endpoints(ctx, "url")
    count, failing = _failing(rows, refused)
    if count:
        return Check("webhook_urls", Status.FAIL, f"{count} of {len(rows)} "
                     f"host webhook endpoint(s) are refused at every send (not public "
                     f"https): endpoint {failing}",
                     "register their public https URL again, or set "
                     "LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE=1 when the host is on your network")
    return Check("webhook_urls", Status.OK, f"{len(rows)} host webhook endpoint URL(s) "
                 f"may be sent to")


def webhook_secrets(ctx: Any) -> Check:
    """Whether the signing secret of every host webhook endpoint decrypts with the
    configured keys (the deliveries to one that does not fail until it is fixed)."""

    def unreadable(token: str) -> bool:
        try:
            ctx.secrets.decrypt(token)
        except Exception:  # noqa: BLE001 - reported
            return True
        return False

    rows = _endpoints(ctx, "secret_encrypted")
    count, failing = _failing(rows, unreadable)
    if count:
        return Check("webhook_secrets", Status.FAIL, f"{count} of {len(rows)} "
                     f"host webhook endpoint secret(s) cannot be decrypted: endpoint "
                     f"{failing}",
                     "LOKET_SECRET_KEY must list the key they were saved with (the newest "
                     "first); with both keys listed, run `loket keys rotate`")
    return Check("webhook_secrets", Status.OK,
                 f"{len(rows)} host webhook endpoint secret(s) decrypt")


def examine(environ: Mapping[str, str], queue_name: str | None = None) -> list[Check]:
    """Run every check against the installation ``environ`` describes.

    Called by ``loket doctor``; returns the checks in the order they ran. A check whose
    prerequisite failed (no database: no migrations, no gateways) says so instead of
    running.
    """
    config_check, notes, config = configuration(environ)
    checks = [config_check, *notes]
    if config is None:
        return checks
    checks.append(secret_key(config))
    from loket.core.db import make_engine  # noqa: PLC0415

    engine: Engine | None = None
    try:
        engine = make_engine(config.database_url)
        checks.append(database(engine))
    except Exception as exc:  # noqa: BLE001 - an unusable URL
        checks.append(Check("database", Status.FAIL, f"LOKET_DATABASE_URL is unusable "
                            f"({type(exc).__name__}: {exc})", "correct LOKET_DATABASE_URL"))
    db_ok = checks[-1].ok
    if engine is not None and db_ok:
        checks.append(migrations(engine))
        if checks[-1].ok:
            checks.append(tallies(engine))
    else:
        checks.append(Check("migrations", Status.FAIL, "not checked: no database",
                            "fix the database first"))
    checks.append(_queue(config, queue_name))
    checks.append(smtp(config))
    from loket.plugins import Plugins  # noqa: PLC0415

    loaded = Plugins(blocked=config.disabled_plugins)
    checks.extend(plugins(loaded))
    if engine is not None and db_ok and _named(checks, "migrations").ok:
        try:
            from loket.core.context import Loket  # noqa: PLC0415

            ctx = Loket.create(config, plugins=loaded, engine=engine)
            checks.extend(gateways(ctx))
            checks.append(webhook_secrets(ctx))
            checks.append(webhook_urls(ctx))
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed secret key
            checks.append(Check("gateways", Status.FAIL, "not checked: "
                                + (getattr(exc, "detail", None) or str(exc)),
                                "fix the faults above first"))
    else:
        checks.append(Check("gateways", Status.FAIL, "not checked: the database is not "
                            "usable", "fix the database and migrations first"))
    if engine is not None:
        engine.dispose()
    return checks


def _named(checks: list[Check], name: str) -> Check:
    return next(c for c in checks if c.name == name)


def _queue(config: AppConfig, name: str | None) -> Check:
    from loket.jobs.queue import make_huey  # noqa: PLC0415

    try:
        huey = make_huey(config, name)
    except Exception as exc:  # noqa: BLE001 - e.g. LOKET_QUEUE=redis without a URL
        return Check("queue", Status.FAIL, getattr(exc, "detail", None) or str(exc),
                     "set LOKET_QUEUE to sqlite, redis or postgres with what it needs")
    return queue(config, huey.pending_count)


SYMBOL = {Status.OK: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def report(checks: list[Check]) -> str:
    """The checks as text for people: one line each, and ``fix:`` under each fault."""
    lines = []
    for check in checks:
        lines.append(f"[{SYMBOL[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status != Status.OK:
            lines.append(f"       fix: {check.fix}")
    failed = sum(1 for c in checks if c.status == Status.FAIL)
    warned = sum(1 for c in checks if c.status == Status.WARN)
    lines.append(f"{failed} fault(s), {warned} warning(s)" if failed or warned
                 else "all checks passed")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    """``loket doctor``: print every check; exit 1 when one failed."""
    checks = examine(os.environ, args.queue_name or os.environ.get("LOKET_QUEUE_NAME"))
    if args.json:
        print(json.dumps([{"name": c.name, **c.as_dict()} for c in checks], indent=2))
    else:
        print(report(checks))
    return 1 if any(c.status == Status.FAIL for c in checks) else 0


def add_parser(sub: Any) -> None:
    """Add ``doctor`` to the ``loket`` command's sub-parsers."""
    doctor = sub.add_parser("doctor", help="check configuration, database, migrations, "
                                           "queue, SMTP and gateways; print what to fix")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--queue-name", help="queue name (LOKET_QUEUE_NAME, default loket)")
    doctor.set_defaults(func=cmd_doctor)
