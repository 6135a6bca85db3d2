"""Tenants, API keys (stored hashed) and consumer tokens (signed, expiring, one account)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets as pysecrets
import time

from itsdangerous import BadData, Signer, URLSafeSerializer
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.models import ApiKey, Consumer, Tenant
from loket.core.settings import save_settings
from loket.errors import Conflict, NotFound, Unauthorized, ValidationFailed

ROLES = ("tenant_admin", "cso_admin", "cso_executive", "billing_manager",
         "recovery_executive", "customer_executive", "consumer")
STAFF_ROLES = ROLES[:-1]
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""A tenant's slug: it is a segment of the tenant's URLs (``/guest/{slug}``) and of a cookie
path, so lowercase letters, digits and hyphens, at most 64, not starting with a hyphen."""


def create_tenant(session: Session, actor: audit.Actor, slug: str, name: str,
                  settings: dict | None = None) -> Tenant:
    """Create a tenant with validated settings; refuses a slug already taken or one that
    does not fit in a URL (:data:`SLUG`)."""
    if not SLUG.fullmatch(slug):
        raise ValidationFailed("a tenant's slug is 1 to 64 lowercase letters, digits and "
                               "hyphens, starting with a letter or digit", field="slug")
    if session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise Conflict(f"tenant {slug!r} already exists", field="slug")
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    session.flush()
    merged = save_settings(session, tenant.id, settings or {})
    audit.record(session, actor, "tenant.created", "tenant", tenant.id,
                 after={"slug": slug, "name": name, "currency": merged.currency},
                 tenant_id=tenant.id)
    return tenant


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    """Return the tenant with ``slug`` or raise NotFound."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def tenant_by_id(session: Session, tenant_id: int) -> Tenant:
    """Return the tenant ``tenant_id`` (its name heads every page) or raise NotFound."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    return tenant


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, actor: audit.Actor, tenant_id: int, role: str,
                   name: str = "") -> str:
    """Create an API key for a role; returns the key itself, which is never stored."""
    if role not in STAFF_ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(STAFF_ROLES)}", field="role")
    key = f"lk_{pysecrets.token_urlsafe(32)}"
    row = ApiKey(tenant_id=tenant_id, role=role, name=name or role, prefix=key[:10],
                 key_hash=_hash_key(key))
    session.add(row)
    session.flush()
    audit.record(session, actor, "apikey.created", "api_key", row.id,
                 after={"role": role, "name": row.name, "prefix": row.prefix},
                 tenant_id=tenant_id)
    return key


def list_api_keys(session: Session, tenant_id: int, *, include_revoked: bool = False
                  ) -> list[ApiKey]:
    """The tenant's API keys, oldest first (their prefixes and names; keys are never kept)."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_api_key(session: Session, actor: audit.Actor, tenant_id: int, prefix: str,
                   now: dt.datetime) -> ApiKey:
    """Revoke the tenant's live key whose prefix (``lk_xxxxxxx``, as listed) is ``prefix``.

    :raises NotFound: no live key of this tenant has that prefix.
    :raises Conflict: several live keys share it (give more of the key).
    """
    rows = [row for row in list_api_keys(session, tenant_id) if prefix.startswith(row.prefix)]
    if len(rows) != 1:
        if rows:
            raise Conflict(f"{len(rows)} live keys start with {prefix!r}")
        raise NotFound(f"no live API key starting with {prefix!r}")
    row = rows[0]
    row.revoked_at = now
    audit.record(session, actor, "apikey.revoked", "api_key", row.id,
                 after={"role": row.role, "name": row.name, "prefix": row.prefix},
                 tenant_id=tenant_id)
    return row


def authenticate_key(session: Session, key: str) -> ApiKey:
    """Find the live API key row for ``key`` or raise Unauthorized."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return row


def issuer_live(session: Session, tenant_id: int, key_id: int) -> bool:
    """Whether the API key ``key_id`` that issued a consumer token of ``tenant_id`` is still
    live (not revoked, the tenant's own)."""
    row = session.get(ApiKey, key_id)
    return row is not None and row.tenant_id == tenant_id and row.revoked_at is None


class TokenSigner:
    """Signs and checks consumer tokens and signed URLs (itsdangerous, HMAC-SHA256).

    :param keys: the signing keys, newest first (each derived from one ``LOKET_SECRET_KEY``
        entry). The newest signs; every key verifies, so a rotation keeps payers' sessions
        and return links working until the old key is removed from the list.
    """

    def __init__(self, *keys: bytes):
        if not keys:
            raise ValueError("TokenSigner needs at least one key")
        derived = [hashlib.sha256(b"loket-token:" + key).digest() for key in keys]
        # itsdangerous signs with the last key of its list and verifies with all of them.
        self._serializer = URLSafeSerializer(list(reversed(derived)), salt="loket-token",
                                             signer_kwargs={"digest_method": hashlib.sha256})
        self._signer = Signer(list(reversed(derived)), salt="loket-mac",
                              digest_method=hashlib.sha256)

    @classmethod
    def for_keys(cls, secret_keys: tuple[str, ...]) -> TokenSigner:
        """The signer of a configuration's ``secret_keys`` (``LOKET_SECRET_KEY``, newest
        first); what every part of loket that signs or verifies a token uses."""
        return cls(*(key.encode() for key in secret_keys))

    def sign(self, claims: dict) -> str:
        """Return the signed, URL-safe token for ``claims`` (signed with the newest key)."""
        return str(self._serializer.dumps(claims))

    def mac(self, text: str) -> str:
        """The URL-safe signature of ``text`` with the newest key: for values signed in bulk
        (a link in each of a settlement's messages), a fifth of :meth:`sign`'s cost, since
        the caller keeps the text and only the signature travels."""
        return self._signer.get_signature(text).decode()

    def mac_matches(self, text: str, mac: str) -> bool:
        """Whether ``mac`` is the signature of ``text`` with any configured key."""
        return self._signer.verify_signature(text, mac)

    def verify(self, token: str, now: int | None = None) -> dict:
        """Return the claims of a valid, unexpired token signed with any configured key, or
        raise Unauthorized."""
        try:
            claims = self._serializer.loads(token)
        except (BadData, ValueError, TypeError):
            raise Unauthorized("invalid token") from None
        if not isinstance(claims, dict):
            raise Unauthorized("invalid token")
        expires = claims.get("exp", 0)
        if not isinstance(expires, int) or \
                expires < (now if now is not None else int(time.time())):
            raise Unauthorized("token expired")
        return claims

    def consumer_token(self, tenant_id: int, account_number: str, ttl_seconds: int,
                       now: int | None = None, issuer: int | None = None) -> str:
        """Issue a token that lets its bearer see and pay only ``account_number``.

        :param issuer: the id of the API key that asked for it: the token is refused once
            that key is revoked (:func:`issuer_live`). Tokens of the command line and the
            demo have none and hold until they expire.
        """
        issued = now if now is not None else int(time.time())
        claims = {"typ": "consumer", "tid": tenant_id, "acct": account_number,
                  "exp": int(issued + ttl_seconds)}
        if issuer is not None:
            claims["kid"] = issuer
        return self.sign(claims)


_BY_ACCOUNT = select(Consumer).where(Consumer.tenant_id == bindparam("tenant_id"),
                                    Consumer.account_number == bindparam("account"))


def consumer_by_account(session: Session, tenant_id: int, account_number: str) -> Consumer:
    """Return the tenant's consumer with ``account_number`` or raise NotFound.

    The last consumer looked up is remembered for the rest of the transaction: a request
    that finds its consumer, then hands the account number to an engine step that finds it
    again, costs one statement.
    """
    last = session.info.get("last_consumer")
    if last is not None and last in session and last not in session.deleted:
        state = inspect(last)
        loaded = state.dict  # what is loaded now, without refreshing expired attributes
        if not state.deleted and loaded.get("tenant_id") == tenant_id and \
                loaded.get("account_number") == account_number:
            return last
    consumer = session.scalar(_BY_ACCOUNT, {"tenant_id": tenant_id, "account": account_number})
    if consumer is None:
        raise NotFound(f"no consumer with account number {account_number!r}")
    session.info["last_consumer"] = consumer
    return consumer


def require_payable(consumer: Consumer, lump_sum: bool) -> None:
    """Refuse a payment to a blocked or disabled account unless it is a lump-sum settlement
    of the account's open items (debt collection).

    :raises ValidationFailed: naming ``account_number`` and the host's reason.
    """
    status = getattr(consumer, "account_status", None) or "active"
    if status == "active" or lump_sum:
        return
    reason = f" ({consumer.account_status_reason})" if consumer.account_status_reason else ""
    raise ValidationFailed(f"account {consumer.account_number} is {status}{reason}: only a "
                           f"lump-sum settlement of its open items is accepted",
                           field="account_number")
