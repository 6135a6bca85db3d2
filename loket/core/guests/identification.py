"""Guest payments: a payer without a login identifies an account with the facts the
tenant's settings require, and receives a short-lived payer token scoped to that account's
open items, the destination targets of that account, and the payments made with it.

A failed identification says nothing about which fact was wrong, or whether the account
exists; every attempt is audited (the fact names, never their values) and rate limited per
source.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import unicodedata

import attrs
from sqlalchemy import select

from loket.core import audit
from loket.core.guests import rate_limit
from loket.core.models import Consumer, Receivable
from loket.core.settings import load_settings
from loket.core.tenants import tenant_by_slug
from loket.errors import NotFound, Unauthorized, ValidationFailed
from loket.money import Money

GUEST_TOKEN = "guest"
NO_MATCH = ("we could not identify an account with these details; check them and try again")


@attrs.frozen
class GuestSession:
    """What a valid payer token grants."""

    tenant_id: int
    account_number: str
    session_id: str
    expires_at: int


@attrs.frozen
class Identified:
    """The answer to a successful identification."""

    token: str
    expires_at: dt.datetime
    account_number: str
    name: str


def _norm(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    return " ".join(text.replace(",", " ").split())


def _expected(session, consumer: Consumer, fact: str, currency: str) -> str | None:
    if fact == "name":
        return _norm(consumer.name)
    if fact == "postcode":
        return _norm(consumer.postcode).replace(" ", "") if consumer.postcode else None
    if fact in ("email", "phone"):
        value = getattr(consumer, fact)
        return _norm(value).replace(" ", "") if value else None
    latest = session.scalar(select(Receivable).where(
        Receivable.consumer_id == consumer.id, Receivable.kind == "bill",
        Receivable.status != "cancelled").order_by(
        Receivable.due_date.is_(None), Receivable.due_date.desc(), Receivable.id.desc()).limit(1))
    return str(latest.amount) if latest is not None else None


def _given(fact: str, value: object, currency: str) -> str | None:
    if fact == "last_bill_amount":
        try:
            return str(Money.parse(str(value), currency, field=fact).amount)
        except ValidationFailed:
            return None
    normalized = _norm(value)
    return normalized if fact == "name" else normalized.replace(" ", "")


def identify(ctx, tenant_slug: str, account_number: str, facts: dict, source: str
             ) -> Identified:
    """Identify a guest payer (``POST /v1/public/{tenant}/identify``).

    Every fact the tenant's ``guest.verify`` names must be given; each is compared in
    constant time after normalizing case and spaces (amounts as money). The attempt and
    its audit row are committed whatever the outcome.

    :returns: the payer token and the name on the account.
    :raises NotFound: no such tenant, or it does not offer guest payments.
    :raises ValidationFailed: a required fact is missing (naming it).
    :raises rate_limit.TooManyAttempts: too many attempts from ``source``.
    :raises Unauthorized: the facts do not identify an account (the same words whatever
        was wrong).
    """
    actor = audit.Actor(f"guest@{source}"[:100], GUEST_TOKEN)
    with ctx.transaction() as session:
        tenant = tenant_by_slug(session, tenant_slug)
        settings = load_settings(session, tenant.id)
        rules = settings["guest"]
        if not rules.get("enabled"):
            raise NotFound(f"tenant {tenant_slug!r} does not take guest payments")
        missing = [f for f in rules["verify"] if not str(facts.get(f) or "").strip()]
        if missing:
            raise ValidationFailed("these details are required: " + ", ".join(missing),
                                   errors=[{"field": f"facts.{f}", "message": "required"}
                                           for f in missing])
        now = ctx.now()
        attempt = rate_limit.count_attempt(session, tenant.id, source, now, rules["attempts"],
                                           rules["window_seconds"])
        consumer = session.scalar(select(Consumer).where(
            Consumer.tenant_id == tenant.id, Consumer.account_number == account_number))
        matches = consumer is not None
        for fact in rules["verify"]:
            expected = _expected(session, consumer, fact, settings.currency) if consumer else None
            given = _given(fact, facts.get(fact), settings.currency)
            same = hmac.compare_digest((expected or "\x00").encode(),
                                       (given or "\x01").encode())
            matches = matches and same and expected is not None
        attempt.succeeded = matches
        audit.record(session, actor, "guest.identified" if matches else "guest.refused",
                     "account", account_number[:60],
                     after={"source": source, "facts": sorted(rules["verify"])},
                     tenant_id=tenant.id)
        if matches:
            expires = now + dt.timedelta(minutes=rules["token_minutes"])
            token = ctx.signer.sign({"typ": GUEST_TOKEN, "tid": tenant.id,
                                     "acct": account_number, "sid": secrets.token_hex(8),
                                     "exp": int(expires.timestamp())})
            result = Identified(token, expires, account_number, consumer.name)
    if not matches:
        raise Unauthorized(NO_MATCH)
    return result


def verify_token(ctx, header: str | None, tenant_id: int) -> GuestSession:
    """Check ``Authorization: Bearer <payer token>`` for this tenant.

    :raises Unauthorized: missing, forged, expired, another tenant's, or not a payer token.
    """
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("send 'Authorization: Bearer <payer token>' from identify",
                           field="Authorization")
    claims = ctx.signer.verify(credential.strip(), now=int(ctx.now().timestamp()))
    if claims.get("typ") != GUEST_TOKEN or claims.get("tid") != tenant_id or \
            not isinstance(claims.get("acct"), str) or not isinstance(claims.get("sid"), str):
        raise Unauthorized("invalid payer token")
    return GuestSession(tenant_id, claims["acct"], claims["sid"], claims["exp"])
