"""The payer's way back from a gateway: what loket does when the payer returns, and the
signed result it hands to the tenant's own site.

When a tenant sets ``return_url``, loket sends the payer there with the payment's result
signed, so the tenant's page can trust it without asking loket. The signature is
``hex(HMAC-SHA256(secret, "<t>.payment=<number>&status=<status>&result=<result>"))`` with
``t`` the unix time it was made; the tenant's secret is :func:`result_secret` (shown to its
admins in the console). While ``LOKET_SECRET_KEY`` lists more than one key (a rotation),
``sig`` holds one signature per key, newest first, comma-separated: a page still holding the
secret of the previous key keeps accepting results until that key is removed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments.posting import lock_payment, refresh_state, snapshot
from loket.core.webhooks import outcomes
from loket.errors import GatewayError
from loket.types import EventType, PaymentStatus


def handle_return(ctx, session: Session, payment: Payment, result: str) -> Payment:
    """The payer came back from the gateway.

    ``cancel``: a payer who comes back without paying ends ``failed`` (abandoned) unless the
    gateway already took the money; when the gateway cannot be asked, the payment stays
    ``initiated`` (its webhook or the timeout sweep decides it). ``success``: if no webhook
    has arrived yet, ask the gateway once (fetch status) and apply what it says.
    """
    payment = lock_payment(session, payment.id)
    if payment.status != PaymentStatus.INITIATED or payment.gateway_configuration_id is None:
        return payment
    row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
    config = configs.config_value(ctx, session, row)
    try:
        event = ctx.plugins.fetch_status(config, payment.number, payment.gateway_reference)
    except GatewayError:  # the payer may have paid: nothing is decided on their word alone
        return payment
    if event is not None and event.type != EventType.PENDING:
        outcomes.apply_event(ctx, session, row, event)
    elif result == "cancel":
        before = snapshot(payment)
        payment.failure_category = "abandoned"
        payment.failure_message = "The payer left the checkout without paying"
        refresh_state(ctx, session, audit.SYSTEM, payment, "payment.abandoned", before)
    return session.get_one(Payment, payment.id)

SIGNED_FIELDS = ("payment", "status", "result")
TOLERANCE_SECONDS = 300


def result_secret(ctx: Any, tenant_id: int) -> str:
    """The tenant's key for signed results, shown to its admins in the console: derived from
    loket's newest secret key, so it needs no storage (it changes when that key is rotated)."""
    return result_secrets(ctx, tenant_id)[0]


def result_secrets(ctx: Any, tenant_id: int) -> tuple[str, ...]:
    """The tenant's result secret under each configured ``LOKET_SECRET_KEY`` key, newest
    first: what a payer's result is signed with (:func:`signed_result_url`)."""
    return tuple(hmac.new(str(key).encode(), f"loket-return:{tenant_id}".encode(),
                          hashlib.sha256).hexdigest() for key in ctx.config.secret_keys)


def _message(t: int, values: dict[str, str]) -> bytes:
    return f"{t}.{urlencode([(k, values[k]) for k in SIGNED_FIELDS])}".encode()


def signed_result_url(secrets: tuple[str, ...], return_url: str, number: str, status: str,
                      result: str, now: int) -> str:
    """``return_url`` with ``payment``, ``status``, ``result``, ``t`` and ``sig`` added to
    its query (keeping what it already had); called when a payer comes back from a gateway.

    :param secrets: the tenant's :func:`result_secrets`; ``sig`` carries one signature per
        secret, in that order, comma-separated.
    :param now: unix seconds, the signature's time.
    """
    values = {"payment": number, "status": status, "result": result}
    sig = ",".join(hmac.new(secret.encode(), _message(now, values), hashlib.sha256).hexdigest()
                   for secret in secrets)
    parts = urlsplit(return_url)
    query = "&".join(q for q in (parts.query, urlencode({**values, "t": now, "sig": sig})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def verify_signed_result(secret: str, params: dict[str, str], now: int,
                         tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether the query ``params`` of a signed result are loket's and fresh (what a tenant's
    return page does; loket's tests use it too): one of the comma-separated signatures in
    ``sig`` is ``secret``'s."""
    try:
        t = int(params["t"])
        values = {k: params[k] for k in SIGNED_FIELDS}
        sig = params["sig"]
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), _message(t, values), hashlib.sha256).hexdigest()
    return any([hmac.compare_digest(expected, given) for given in sig.split(",")])
