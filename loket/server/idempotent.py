"""``Idempotency-Key`` on every POST: the first response (status and body) is stored in
``idempotency_keys`` and replayed for a repeat; the same key with another request is
refused (409); a repeat while the first is still running is refused (409). A claim holds
for ``AppConfig.idempotency_lease_seconds``: a repeat after that, with no stored response,
takes the claim over and runs (see :mod:`loket.core.idempotency`).

Responses of 500 and above are not stored (the key is released so the client can retry).
The key is also passed on (``req.context.idempotency_key``) to engine operations that take
one, so the operation itself is deduplicated in its own transaction too.

A resource whose whole work is one transaction (a checkout) sets ``claims_in_transaction``:
the key is then claimed inside that transaction (:func:`replayed`) and the response stored
in it (:func:`keep`), so the claim, the work and the stored response commit together or not
at all, and the engine operation is not given the key (the claim already commits with its
work; only a claim an earlier release made ahead and left without an answer, once taken
over, is passed on). A repeat while the first request runs waits for it, up to
:data:`WAIT_FOR_FIRST` on PostgreSQL, and gets its response (else 409 as above); an answer
that is not stored (a 4xx the transaction rolled back, a gateway's refusal) leaves the key
free. No transactions of their own, and on SQLite two statements instead of four (on
PostgreSQL two more bound the wait).

A guest's payer token is read by its route, after this middleware ran: such routes claim
in their transaction, once they know their caller.

A resource whose answer carries a credential (a consumer token) names those fields in
``sealed_fields``: they are stored encrypted with ``LOKET_SECRET_KEY`` and decrypted for
the replay, so the ``idempotency_keys`` table holds no usable credential.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import attrs
from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError, OperationalError

from loket.core import idempotency
from loket.core.models import IdempotencyKey
from loket.errors import ConfigurationError, Conflict

log = logging.getLogger(__name__)


class IdempotencyMiddleware:
    """Claims, replays and stores idempotency keys for authenticated POSTs (and notes the
    key of a route that claims it in its own transaction)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_resource(self, req, resp, resource, params):
        """Replay a stored response, or claim the key for this request (for a resource with
        ``claims_in_transaction``: only note what to claim, see :func:`replayed`)."""
        req.context.idempotency_key = None
        req.context.idempotency_row = None
        key = req.get_header("Idempotency-Key")
        principal = getattr(req.context, "principal", None)
        in_transaction = getattr(resource, "claims_in_transaction", False)
        if req.method != "POST" or key is None or (principal is None and not in_transaction):
            return
        payload = {"path": req.path, "query": req.context.query,
                   "body": req.context.body}
        now = self.ctx.now()
        lease = dt.timedelta(seconds=self.ctx.config.idempotency_lease_seconds)
        pending = _Pending(key, f"POST {req.uri_template}", payload, now + lease, now)
        if in_transaction:  # checked and claimed once the resource knows its caller (a
            req.context.idempotency_pending = pending  # guest's token): 401 before 422
            return
        idempotency.check_key(key)
        with self.ctx.statements() as session:
            row, prior, _ = pending.claim(session, principal)
            row_id = row.id if row is not None else None
        if prior is not None:
            _replay(resp, _unsealed(self.ctx, resource, prior))
            resp.complete = True
            return
        req.context.idempotency_key = key
        req.context.idempotency_row = row_id

    def process_response(self, req, resp, resource, req_succeeded):
        """Store the response for the claimed key (or release the key on a 5xx)."""
        row_id = getattr(req.context, "idempotency_row", None)
        if row_id is None:
            return
        status = resp.status_code
        try:
            with self.ctx.statements() as session:
                if status >= 500:
                    _release(session, row_id)
                    return
                if resp.media is not None:
                    body = resp.media
                else:
                    body = json.loads(resp.text) if resp.text else None
                _store(session, row_id, status, resp.content_type,
                       _sealed(self.ctx, resource, body))
        except DBAPIError:
            # The work has committed (or failed): its answer stands. The key stays claimed
            # until its lease ends, then a repeat takes it over, as after a crash here.
            log.exception("the response for idempotency key row %s could not be stored",
                          row_id)


def replayed(session, req, resp) -> bool:
    """For a resource with ``claims_in_transaction``, at the start of its transaction:
    claim the request's Idempotency-Key in ``session`` (a repeat still running elsewhere is
    waited for), or answer the stored response of a repeat.

    :returns: ``True`` when ``resp`` now holds the first request's response (do nothing
        more); ``False`` when the work should run (without a key, too).
    :raises ValidationFailed: the key is malformed.
    :raises Conflict: the key was used for a different request, or the first request is
        still running after :data:`WAIT_FOR_FIRST` seconds.
    """
    pending = getattr(req.context, "idempotency_pending", None)
    principal = getattr(req.context, "principal", None)
    if pending is None or principal is None:
        return False
    idempotency.check_key(pending.key)
    bounded = session.get_bind().dialect.name == "postgresql"
    if bounded:  # a worker is held while it waits for the first request's claim
        _driver(session).execute(_WAIT_AT_MOST)
    try:
        row, prior, taken_over = pending.claim(session, principal)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise idempotency.still_in_progress() from None
        raise
    if bounded:  # the work's own waits (rows other transactions lock) are not bounded
        _driver(session).execute(_WAIT_AS_BEFORE)
    if prior is not None:
        _replay(resp, prior)
        return True
    req.context.idempotency_held = row.id
    if taken_over:
        # Claimed ahead by an earlier release whose request died: its checkout may have
        # committed, and its engine claim knows.
        req.context.idempotency_key = pending.key
    return False


WAIT_FOR_FIRST = 3
"""Seconds a repeat waits for the first request with its key to finish, on PostgreSQL
(SQLite's writers wait for each other anyway); then it is refused as still in progress."""

_WAIT_AT_MOST = f"SET LOCAL lock_timeout = '{WAIT_FOR_FIRST}s'"
_WAIT_AS_BEFORE = "SET LOCAL lock_timeout = DEFAULT"
_LOCK_NOT_AVAILABLE = "55P03"


def _driver(session):
    # A setting of the transaction: sent as it is, without SQLAlchemy's statement handling
    # (the session's transaction has begun on this connection).
    return session.connection().connection.driver_connection


def keep(session, req, status: int, media: Any) -> None:
    """For a resource with ``claims_in_transaction``, at the end of its transaction: store
    the response it is about to give (``status`` below 500), or free the key (500 and
    above: the client may try again with it). Nothing to do without a claimed key."""
    row_id = getattr(req.context, "idempotency_held", None)
    if row_id is None:
        return
    if status >= 500:
        _release(session, row_id)
    else:
        _store(session, row_id, status, "application/json", media)


@attrs.frozen
class _Pending:
    """A key to claim for one request: for which route, with what content."""

    key: str
    route: str
    payload: dict
    lease_until: dt.datetime
    now: dt.datetime

    def claim(self, session, principal) -> tuple[IdempotencyKey | None, dict | None, bool]:
        """Claim the key among the caller's own (``principal.key`` scopes it); see
        :func:`loket.core.idempotency.claim_or_take_over`."""
        scope = f"http:{principal.key}:{self.route}"[:100]
        return idempotency.claim_or_take_over(session, principal.tenant_id, scope, self.key,
                                              self.payload, self.lease_until, self.now)


def _release(session, row_id: int) -> None:
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))


def _store(session, row_id: int, status: int, content_type: str | None, body: Any) -> None:
    session.connection().execute(idempotency.STORE, {"row_id": row_id, "result": {
        "status": status, "content_type": content_type,
        "body": json.loads(json.dumps(body, default=str))}})


def _sealed(ctx, resource, body: Any) -> Any:
    """``body`` with the resource's ``sealed_fields`` encrypted, as it is stored."""
    fields = getattr(resource, "sealed_fields", ())
    if not fields or not isinstance(body, dict):
        return body
    return {name: {SEALED: ctx.secrets.encrypt({"value": value})}
            if name in fields and value is not None else value
            for name, value in body.items()}


def _unsealed(ctx, resource, prior: dict) -> dict:
    """A stored answer with its sealed fields decrypted again, for the replay.

    :raises Conflict: a field sealed under a key ``LOKET_SECRET_KEY`` no longer lists.
    """
    body = prior.get("body")
    fields = getattr(resource, "sealed_fields", ())
    if not fields or not isinstance(body, dict):
        return prior
    try:
        return {**prior, "body": {
            name: ctx.secrets.decrypt(value[SEALED])["value"]
            if name in fields and isinstance(value, dict) and SEALED in value else value
            for name, value in body.items()}}
    except ConfigurationError:  # sealed under a key no longer configured
        raise Conflict("the answer to the first request with this Idempotency-Key can no "
                       "longer be shown; send the request again with a new key",
                       field="Idempotency-Key") from None


SEALED = "sealed"
"""The key under which a sealed field's ciphertext is stored."""


def _replay(resp, prior: dict) -> None:
    resp.status = prior["status"]
    resp.content_type = prior.get("content_type") or "application/json"
    resp.text = json.dumps(prior["body"])
    resp.set_header("Idempotent-Replayed", "true")
