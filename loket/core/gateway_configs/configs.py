"""Tenant gateway configurations: toggle, credentials (validated, encrypted), connect, handshake.

A gateway is usable by consumers only when it is active *and* connected (its 1-unit test
payment succeeded through the webhook, then was refunded).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets as pysecrets
from urllib.parse import quote

import jsonschema
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from loket.core import audit, installation
from loket.core.db import after_commit
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments.posting import take_number
from loket.core.secrets import masked_credentials
from loket.core.settings import load_settings
from loket.errors import (
    ConfigurationError,
    CredentialsCheckFailed,
    CredentialsRejected,
    GatewayError,
    LoketError,
    NotFound,
    ValidationFailed,
)
from loket.money import Money, minor_digits
from loket.types import (
    CheckoutItem,
    CheckoutRequest,
    Customer,
    GatewayConfig,
    PaymentStatus,
    TrackingEvent,
    json_safe,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/v1/webhooks/{kind}/{token}"
RETURN_TTL = dt.timedelta(days=30)



def return_urls(ctx, tenant_id: int, number: str, issued_at: dt.datetime) -> tuple[str, str]:
    """The payer's signed return and cancel URLs for payment ``number``: loket's own
    ``/v1/return/{number}`` with ``result`` and an HMAC ``sig`` (TokenSigner) binding the
    two, valid for 30 days from ``issued_at`` (the payment's creation, so the URLs are the
    same on every call and a retried charge sends identical parameters). The return
    endpoint refuses anything else (no open redirects)."""
    base = ctx.config.base_url
    expires = int((issued_at + RETURN_TTL).timestamp())
    urls = []
    for result in ("success", "cancel"):
        sig = ctx.signer.sign({"typ": "return", "tid": tenant_id, "pay": number,
                               "res": result, "exp": expires})
        urls.append(f"{base}/v1/return/{quote(number)}?result={result}&sig={sig}")
    return urls[0], urls[1]


def verify_return(ctx, number: str, result: str, sig: str | None) -> int:
    """Check a return URL's signature for ``number`` and ``result``; returns the tenant id
    it was issued for (payment numbers are unique only within a tenant).

    :raises NotFound: a missing, forged, expired or mismatched signature (indistinguishable
        from an unknown payment, so return URLs cannot be guessed).
    """
    try:
        claims = ctx.signer.verify(sig or "", now=int(ctx.now().timestamp()))
    except LoketError:
        raise NotFound(f"no payment {number!r}") from None
    if claims.get("typ") != "return" or claims.get("pay") != number or \
            claims.get("res") != result or not isinstance(claims.get("tid"), int):
        raise NotFound(f"no payment {number!r}")
    return claims["tid"]


def webhook_path(row: GatewayConfiguration) -> str:
    """The unguessable path this configuration receives webhooks on."""
    return WEBHOOK_PATH.format(kind=row.kind, token=row.webhook_token)


def config_value(ctx, session: Session, row: GatewayConfiguration,
                 credentials: dict | None = None) -> GatewayConfig:
    """Build the value gateway hooks receive (credentials decrypted, URLs absolute);
    ``credentials`` stand for the stored ones when given.

    :raises ConfigurationError: the stored credentials no configured key decrypts.
    """
    if credentials is None:
        credentials = (ctx.secrets.decrypt_credentials(row.credentials_encrypted)
                       if row.credentials_encrypted else {})
    settings = load_settings(session, row.tenant_id)
    options = {"loket_base_url": ctx.config.base_url, "var_dir": str(ctx.config.var_dir),
               **ctx.config.gateway_options.get(row.kind, {}),
               **ctx.config.gateway_options.get(name_of(row), {})}
    path = webhook_path(row)
    return GatewayConfig(id=row.id, tenant_id=row.tenant_id, kind=row.kind,
                         credentials=credentials, currency=settings.currency,
                         webhook_url=ctx.config.base_url + path, webhook_path=path,
                         options=options,
                         installation_id=installation.installation_id(ctx, session))


PROFILE_SEPARATOR = ":"
DEFAULT_PROFILE = "default"


def split_name(name: str) -> tuple[str, str]:
    """A configuration's name, ``kind`` or ``kind:profile`` (several accounts of one gateway
    per tenant), as ``(kind, profile)``; the plain kind is the ``default`` profile."""
    kind, _sep, profile = name.partition(PROFILE_SEPARATOR)
    return kind, profile or DEFAULT_PROFILE


def name_of(row: GatewayConfiguration) -> str:
    """The name staff use for a configuration: its kind, or ``kind:profile``."""
    profile = row.profile or DEFAULT_PROFILE
    return row.kind if profile == DEFAULT_PROFILE else f"{row.kind}{PROFILE_SEPARATOR}{profile}"


def get_row(session: Session, tenant_id: int, kind: str, create: bool = False
            ) -> GatewayConfiguration:
    """The tenant's configuration named ``kind`` (``stripe`` or ``stripe:water``; created
    inactive when ``create``)."""
    name = kind
    kind, profile = split_name(name)
    row = session.scalar(select(GatewayConfiguration).where(
        GatewayConfiguration.tenant_id == tenant_id, GatewayConfiguration.kind == kind,
        GatewayConfiguration.profile == profile))
    if row is None:
        if not create:
            raise NotFound(f"gateway {name!r} is not configured for this tenant")
        row = GatewayConfiguration(tenant_id=tenant_id, kind=kind, profile=profile, active=False,
                                   webhook_token=pysecrets.token_urlsafe(24),
                                   credentials_masked={}, test_response={})
        session.add(row)
        session.flush()
    return row


def _public(row: GatewayConfiguration | None) -> dict:
    if row is None:
        return {"active": False, "configured": False, "connected": False}
    return {"active": row.active, "configured": bool(row.credentials_encrypted),
            "connected": row.connected, "credentials": row.credentials_masked,
            "last_handshake_at": row.last_handshake_at, "last_error": row.last_handshake_error,
            "connected_at": row.connected_at}


def list_gateways(ctx, session: Session, tenant_id: int) -> list[dict]:
    """Every installed gateway with this tenant's state of it (for the admin screen)."""
    rows = {name_of(r): r for r in session.scalars(select(GatewayConfiguration).where(
        GatewayConfiguration.tenant_id == tenant_id))}
    names = sorted(set(ctx.plugins.gateways) | {n for n, r in rows.items()
                                                 if r.kind in ctx.plugins.gateways})
    out = []
    for name in names:
        kind, profile = split_name(name)
        description = ctx.plugins.gateways[kind]
        row = rows.get(name)
        entry = {"kind": kind, "name": name, "profile": profile,
                 "mandates": description.mandates,
                 "display_name": description.display_name,
                 "logo_url": description.logo_url,
                 "credential_schema": description.credential_schema,
                 "secret_fields": list(description.secret_fields),
                 "currencies": list(description.currencies), "methods": list(description.methods),
                 **_public(row)}
        if row is not None:
            entry["webhook_url"] = ctx.config.base_url + webhook_path(row)
        out.append(entry)
    return out


def usable_gateways(ctx, session: Session, tenant_id: int) -> list[GatewayConfiguration]:
    """Gateways consumers may pay with: active and connected (possibly none); every
    profile of a kind is listed (callers showing gateways to consumers show a kind once)."""
    return [r for r in session.scalars(_USABLE, {"tenant_id": tenant_id})
            if r.kind in ctx.plugins.gateways]


_USABLE = select(GatewayConfiguration).where(
    GatewayConfiguration.tenant_id == bindparam("tenant_id"),
    GatewayConfiguration.active.is_(True), GatewayConfiguration.connected.is_(True),
).order_by(GatewayConfiguration.kind, GatewayConfiguration.profile)


def usable_for_kind(ctx, session: Session, tenant_id: int, name: str,
                    profile: str | None = None) -> GatewayConfiguration:
    """The usable configuration named ``name`` (``kind`` or ``kind:profile``); for a plain
    kind, ``profile`` (a destination's routing) or else the default profile, else the
    first usable profile of that kind.

    :raises ValidationFailed: naming ``gateway`` when none is active and connected.
    """
    kind, named = split_name(name)
    wanted = named if PROFILE_SEPARATOR in name else (profile or None)
    rows = [r for r in usable_gateways(ctx, session, tenant_id) if r.kind == kind]
    if wanted is not None:
        rows = [r for r in rows if (r.profile or DEFAULT_PROFILE) == wanted]
    else:
        rows.sort(key=lambda r: (r.profile or DEFAULT_PROFILE) != DEFAULT_PROFILE)
    if not rows:
        raise ValidationFailed(f"gateway {name!r} is not available for payments (it must be "
                               f"active and connected)", field="gateway")
    return rows[0]


def set_active(ctx, session: Session, actor: audit.Actor, tenant_id: int, kind: str,
               active: bool) -> GatewayConfiguration:
    """Switch a gateway configuration (``kind`` or ``kind:profile``) on or off."""
    ctx.plugins.gateway(split_name(kind)[0])
    row = get_row(session, tenant_id, kind, create=True)
    before = {"active": row.active}
    row.active = active
    audit.record(session, actor, "gateway.activated" if active else "gateway.deactivated",
                 "gateway", kind, before=before, after={"active": active}, tenant_id=tenant_id)
    _track(ctx, session, tenant_id, actor, "gateway.activated" if active else
           "gateway.deactivated", {"gateway": kind})
    return row


def save_credentials(ctx, session: Session, actor: audit.Actor, tenant_id: int, kind: str,
                     credentials: dict) -> GatewayConfiguration:
    """Validate credentials (schema, then the gateway's own format + live check), store them
    encrypted and show them masked. Changed credentials drop ``connected`` and the
    connection test (a new one is needed); stored ones no configured key decrypts (a lost
    key) count as changed.

    :raises CredentialsRejected: naming each wrong field, or with the gateway's message.
    """
    description = ctx.plugins.gateway(split_name(kind)[0])
    validator = jsonschema.Draft202012Validator(description.credential_schema)
    errors = [error for e in validator.iter_errors(credentials) for error in _rule_errors(e)]
    if errors:
        raise CredentialsRejected(REVIEW, errors=errors)
    settings = load_settings(session, tenant_id)
    if description.currencies and settings.currency not in description.currencies:
        raise ValidationFailed(f"{description.display_name} does not support the tenant "
                               f"currency {settings.currency}", field="currency")
    row = get_row(session, tenant_id, kind, create=True)
    old = _readable_credentials(ctx, row)
    stored = _checked(ctx, config_value(ctx, session, row, old or {}), credentials)
    row.credentials_encrypted = ctx.secrets.encrypt(stored)
    row.credentials_masked = masked_credentials(stored, description.secret_fields)
    if old != stored:  # untested: a test started before, paid later, does not connect
        row.connected = False
        row.connected_at = None
        row.test_payment_id = None
        row.test_response = {}
    audit.record(session, actor, "gateway.configured", "gateway", kind,
                 after={"credentials": row.credentials_masked, "connected": row.connected},
                 tenant_id=tenant_id)
    _track(ctx, session, tenant_id, actor, "gateway.configured", {"gateway": kind})
    return row


REVIEW = "Please review all the details entered above and retry to connect"


def _readable_credentials(ctx, row: GatewayConfiguration) -> dict | None:
    """A configuration's stored credentials, or ``None`` when it has none or no configured
    key decrypts them (entering them again replaces them)."""
    if not row.credentials_encrypted:
        return None
    try:
        return ctx.secrets.decrypt(row.credentials_encrypted)
    except ConfigurationError:
        log.warning("gateway configuration %s: no configured key decrypts its stored "
                    "credentials; the ones entered replace them", row.id)
        return None


def _rule_errors(error: jsonschema.ValidationError) -> list[dict]:
    """``{field, message}`` for one schema violation of entered credentials, naming the
    field and the rule but never the value (a refused value may be a real secret)."""
    field = ".".join(str(p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    rule = error.validator
    if rule == "required":
        return [{"field": name, "message": "is required"} for name in error.validator_value
                if isinstance(error.instance, dict) and name not in error.instance]
    if rule == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        return [{"field": name, "message": "is not a field of this gateway"}
                for name in sorted(set(error.instance) - known)]
    messages = {
        "pattern": f"does not have the expected format"
                   f"{': ' + schema['description'] if schema.get('description') else ''} "
                   f"(pattern {error.validator_value})",
        "type": f"must be of type {error.validator_value}",
        "minLength": f"must be at least {error.validator_value} characters long",
        "maxLength": f"must be at most {error.validator_value} characters long",
        "enum": "must be one of " + ", ".join(map(str, error.validator_value or ())),
    }
    return [{"field": field or "credentials",
             "message": messages.get(str(rule), f"breaks the rule {rule!r} of this field")}]


def _checked(ctx, config: GatewayConfig, credentials: dict) -> dict:
    """The gateway's own format and live check of credentials, its failures answered with
    one sentence and a reason (``wrong_key``, ``unreachable``, ``refused``); the
    exception itself goes to the log, never to the caller.

    :raises CredentialsRejected: the gateway refused the keys or their format (422).
    :raises CredentialsCheckFailed: the gateway could not be reached (``unreachable``) or
        failed otherwise (``refused``).
    """
    try:
        return ctx.plugins.validate_credentials(config, credentials)
    except CredentialsRejected as exc:
        exc.reason = "wrong_key"
        raise
    except GatewayError as exc:
        reason = "unreachable" if exc.category == "network" else "refused"
        log.warning("%s credential check failed (%s): %s %s", config.kind, reason, exc.detail,
                    exc.gateway_message or "")
        raise CredentialsCheckFailed(
            REVIEW, reason=reason, gateway_code=exc.gateway_code,
            gateway_message=None if reason == "unreachable" else exc.gateway_message) from exc
    except (OSError, TimeoutError) as exc:
        log.warning("%s credential check could not reach the gateway", config.kind,
                    exc_info=True)
        raise CredentialsCheckFailed(REVIEW, reason="unreachable") from exc


def connect(ctx, session: Session, actor: audit.Actor, tenant_id: int, kind: str) -> Payment:
    """Start the test transaction of 1 unit of the tenant currency (or the gateway's minimum,
    said in ``gateway_details["note"]``). The gateway becomes connected when its webhook
    reports the payment succeeded; the payment is then refunded.

    :returns: the test payment, whose ``redirect_url`` the admin opens.
    """
    description = ctx.plugins.gateway(split_name(kind)[0])
    row = get_row(session, tenant_id, kind)
    if not row.credentials_encrypted:
        raise ValidationFailed(f"enter the {description.display_name} credentials first",
                               field="credentials")
    if not row.active:
        raise ValidationFailed(f"activate {description.display_name} first", field="active")
    settings = load_settings(session, tenant_id)
    currency = settings.currency
    unit = 10 ** minor_digits(currency)
    minimum = description.minimum_charge.get(currency, Money.zero(currency)).amount
    amount = max(unit, minimum)
    note = "" if amount == unit else (
        f"1 {currency} is below {description.display_name}'s minimum charge; the test "
        f"payment is {Money(minimum, currency).format()} instead")
    now = ctx.now()
    expires_at = now + _timeout(settings)
    payment = Payment(
        tenant_id=tenant_id, number=take_number(session, settings, tenant_id, "payment", now),
        gateway_configuration_id=row.id, channel="online", method="online",
        payment_type="test", status=PaymentStatus.INITIATED, currency=currency, amount=amount,
        amount_received=amount, is_test=True, created_by=actor.name, created_at=now,
        expires_at=expires_at, gateway_details={"note": note} if note else {},
    )
    session.add(payment)
    session.flush()
    config = config_value(ctx, session, row)
    return_url, cancel_url = return_urls(ctx, tenant_id, payment.number, payment.created_at)
    request = CheckoutRequest(
        payment_id=payment.number, amount=Money(amount, currency),
        items=(CheckoutItem("test", payment.number, "loket connection test",
                            Money(amount, currency)),),
        customer=Customer(account_number="loket-test", name="loket connection test"),
        return_url=return_url, cancel_url=cancel_url,
        expires_at=expires_at, description="loket connection test", is_test=True,
        created_at=payment.created_at,
    )
    checkout = ctx.plugins.charge(config, request)
    payment.gateway_reference = checkout.gateway_reference
    payment.redirect_url = checkout.redirect_url
    row.test_payment_id = payment.id
    row.test_response = {"charge": json_safe(checkout.raw)}
    audit.record(session, actor, "gateway.test_started", "gateway", kind,
                 after={"payment": payment.number, "amount": amount}, tenant_id=tenant_id)
    _track(ctx, session, tenant_id, actor, "gateway.test_transaction", {"gateway": kind})
    return payment


def _timeout(settings) -> dt.timedelta:
    return dt.timedelta(minutes=settings["payment_timeout_minutes"])


def _track(ctx, session: Session, tenant_id: int, actor: audit.Actor, name: str,
           properties: dict) -> None:
    event = TrackingEvent(tenant_id=tenant_id, name=name, actor=actor.name,
                          properties=properties, at=ctx.now())
    plugins = ctx.plugins
    after_commit(session, lambda: plugins.track(event))
