"""Authentication (``Authorization: Bearer <API key or consumer token>``) and the role
matrix check, for every request, in one middleware."""

from __future__ import annotations

import hashlib
import logging
import time

import attrs

from loket.core import audit, tenants
from loket.errors import Forbidden, LoketError, Unauthorized
from loket.server import roles

log = logging.getLogger(__name__)
KEY_MAX = 60  # characters of a principal's key, as idempotency scopes store it


@attrs.frozen
class Principal:
    """Who is calling: a tenant's API key (a staff role) or a consumer token (one account).

    :param key: a stable id of the credential, used to scope idempotency keys.
    :param api_key_id: the API key's row id (``None`` for a consumer token or a guest).
    """

    tenant_id: int
    role: str
    name: str
    key: str
    account_number: str | None = None
    request_id: str | None = None
    api_key_id: int | None = None

    def actor(self) -> audit.Actor:
        """The audit actor for this caller and request."""
        return audit.Actor(self.name, self.role, self.tenant_id, self.account_number,
                           self.request_id, key_id=self.api_key_id)


def authenticate(ctx, header: str | None, request_id: str | None) -> Principal:
    """Resolve a bearer credential.

    :raises Unauthorized: no, malformed, unknown, revoked, forged or expired credential.
    """
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("send 'Authorization: Bearer <API key or consumer token>'",
                           field="Authorization")
    credential = credential.strip()
    if credential.startswith("lk_"):
        with ctx.transaction() as session:
            row = tenants.authenticate_key(session, credential)
            return Principal(tenant_id=row.tenant_id, role=row.role, name=row.name or row.role,
                             key=f"k{row.id}", request_id=request_id, api_key_id=row.id)
    claims = ctx.signer.verify(
        credential, now=int(ctx.now().timestamp()))
    if claims.get("typ") != "consumer" or not isinstance(claims.get("tid"), int) or \
            not isinstance(claims.get("acct"), str):
        raise Unauthorized("invalid token")
    if "kid" in claims:
        _check_issuer(ctx, claims["tid"], claims["kid"])
    return Principal(tenant_id=claims["tid"], role="consumer", name=claims["acct"],
                     key=consumer_key(claims["tid"], claims["acct"]),
                     account_number=claims["acct"], request_id=request_id)


def consumer_key(tenant_id: int, account_number: str) -> str:
    """The stable id of a consumer's credentials (:attr:`Principal.key`): at most 60
    characters and one per account (a long account number is replaced by its digest, so two
    accounts sharing their first characters never share idempotency keys)."""
    key = f"c{tenant_id}:{account_number}"
    if len(key) <= KEY_MAX:
        return key
    return f"c{tenant_id}:#{hashlib.sha256(account_number.encode()).hexdigest()[:40]}"


ISSUER_CHECKED_FOR = 30.0
"""Seconds a process trusts that a consumer token's issuing key is live before it looks
again: a revoked key's tokens are refused within this time."""
_live_issuers: dict[tuple[int, int], float] = {}


def _check_issuer(ctx, tenant_id: int, key_id) -> None:
    """Refuse a consumer token whose issuing API key was revoked.

    :raises Unauthorized: the key is revoked, unknown or another tenant's.
    """
    if not isinstance(key_id, int):
        raise Unauthorized("invalid token")
    now = time.monotonic()
    if now - _live_issuers.get((tenant_id, key_id), -ISSUER_CHECKED_FOR) < ISSUER_CHECKED_FOR:
        return
    with ctx.transaction() as session:
        live = tenants.issuer_live(session, tenant_id, key_id)
    if not live:
        _live_issuers.pop((tenant_id, key_id), None)
        raise Unauthorized("the key that issued this token was revoked")
    _live_issuers[(tenant_id, key_id)] = now


class AuthMiddleware:
    """Authenticates every non-public operation and applies :data:`roles.MATRIX`: a role
    not in the operation's row gets 403; an operation missing from the matrix is refused to
    everyone (deny by default). Routes that plugins add (``plugin_routes``) do their own
    checks, like the sandbox's hosted page."""

    def __init__(self, ctx, plugin_routes: frozenset[str] = frozenset()):
        self.ctx = ctx
        self.plugin_routes = plugin_routes

    def process_resource(self, req, resp, resource, params):
        """Set ``req.context.principal`` or raise 401/403."""
        req.context.principal = None
        template = req.uri_template
        if resource is None or template is None or template in self.plugin_routes:
            return
        if not hasattr(resource, f"on_{req.method.lower()}"):
            return  # Falcon answers 405
        if (req.method, template) in roles.PUBLIC:
            return
        try:
            principal = authenticate(self.ctx, req.get_header("Authorization"),
                                     req.context.request_id)
        except LoketError:
            resp.set_header("WWW-Authenticate", 'Bearer realm="loket"')
            raise
        req.context.principal = principal
        if principal.role not in roles.allowed(req.method, template):
            log.info("request %s: role %s may not %s %s", req.context.request_id,
                     principal.role, req.method, template)
            raise Forbidden(f"the {principal.role} role may not {req.method} {template}")
