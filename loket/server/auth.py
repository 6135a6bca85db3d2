"""Authentication (``Authorization: Bearer <API key or consumer token>``) and the role
matrix check, for every request, in one middleware."""

from __future__ import annotations

import logging

import attrs

from loket.core import audit, tenants
from loket.errors import Forbidden, LoketError, Unauthorized
from loket.server import roles

log = logging.getLogger(__name__)


@attrs.frozen
class Principal:
    """Who is calling: a tenant's API key (a staff role) or a consumer token (one account).

    :param key: a stable id of the credential, used to scope idempotency keys.
    """

    tenant_id: int
    role: str
    name: str
    key: str
    account_number: str | None = None
    request_id: str | None = None

    def actor(self) -> audit.Actor:
        """The audit actor for this caller and request."""
        return audit.Actor(self.name, self.role, self.tenant_id, self.account_number,
                           self.request_id)


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
                             key=f"k{row.id}", request_id=request_id)
    claims = ctx.signer.verify(
        credential, now=int(ctx.now().timestamp()))
    if claims.get("typ") != "consumer" or not isinstance(claims.get("tid"), int) or \
            not isinstance(claims.get("acct"), str):
        raise Unauthorized("invalid token")
    return Principal(tenant_id=claims["tid"], role="consumer", name=claims["acct"],
                     key=f"c{claims['tid']}:{claims['acct']}"[:60],
                     account_number=claims["acct"], request_id=request_id)


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
