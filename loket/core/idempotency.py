"""Idempotency keys: a repeated request returns the first result; a reused key with other
content is refused. The unique key in the database refuses duplicates, not a check.

A claim made in its own transaction ahead of the work (the HTTP layer's) carries a lease:
while it runs, a repeat is refused as in progress; once the lease has lapsed without a
stored result, the request that claimed it is taken to have died and one repeat takes the
claim over (a compare-and-set on the lease, so only one does). Operations that move money
claim the same key again inside their own transaction, so a repeat of one whose first
attempt did commit gets that attempt's result instead of running again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from loket.core.db import insert_if_absent
from loket.core.models import IdempotencyKey
from loket.errors import Conflict, ValidationFailed


def fingerprint(payload) -> str:
    """A stable hash of a request's content."""
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,200}")
"""What an ``Idempotency-Key`` may be: 1 to 200 printable ASCII characters, no spaces."""


def check_key(key: str) -> None:
    """Refuse a key outside :data:`KEY_PATTERN` (called for every key a client sends).

    :raises ValidationFailed: naming the ``Idempotency-Key`` header and the rule.
    """
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationFailed("Idempotency-Key must be 1 to 200 printable ASCII characters "
                               "without spaces", field="Idempotency-Key")


def claim(session: Session, tenant_id: int, scope: str, key: str | None, payload,
          lease_until: dt.datetime | None = None,
          now: dt.datetime | None = None) -> tuple[IdempotencyKey | None, dict | None]:
    """Claim ``key`` for this request inside the caller's transaction: :func:`claim_or_take_over`
    without saying which of the two it was."""
    row, prior, _ = claim_or_take_over(session, tenant_id, scope, key, payload, lease_until,
                                       now)
    return row, prior


def claim_or_take_over(session: Session, tenant_id: int, scope: str, key: str | None, payload,
                       lease_until: dt.datetime | None = None, now: dt.datetime | None = None
                       ) -> tuple[IdempotencyKey | None, dict | None, bool]:
    """Claim ``key`` for this request inside the caller's transaction.

    :param lease_until: for a claim committed ahead of the work: until when it belongs to
        this request (``now`` is then the current time). Without it the claim lives and dies
        with the caller's transaction.
    :returns: ``(row, None, taken_over)`` when the key is new or its lapsed claim was taken
        over (store the result with :func:`remember` before commit; ``taken_over`` says the
        request that claimed it may have done its work before it died), ``(None, result,
        False)`` when the same request was already done, and ``(None, None, False)`` when no
        key was given.
    :raises Conflict: the key was used with different content, or its request is still
        running (within its lease).
    """
    if not key:
        return None, None, False
    check_key(key)
    digest = fingerprint(payload)
    # The unique (tenant, scope, key) lets one claim in; a key already there inserts nothing.
    row = insert_if_absent(session, IdempotencyKey, {
        "tenant_id": tenant_id, "scope": scope, "key": key, "request_hash": digest,
        "claimed_until": lease_until}, ("tenant_id", "scope", "key"))
    if row is not None:
        return row, None, False
    existing = session.scalar(_FIND, {"tenant_id": tenant_id, "scope": scope, "key": key})
    if existing is None or existing.request_hash != digest:
        raise Conflict("this Idempotency-Key was already used for a different request",
                       field="Idempotency-Key")
    if existing.result is None:
        if _take_over(session, existing, lease_until, now):
            return existing, None, True
        raise still_in_progress()
    return None, existing.result, False


def still_in_progress() -> Conflict:
    """The refusal of a repeat whose first request is still running."""
    return Conflict("a request with this Idempotency-Key is still in progress",
                    field="Idempotency-Key")


_FIND = select(IdempotencyKey).where(IdempotencyKey.tenant_id == bindparam("tenant_id"),
                                     IdempotencyKey.scope == bindparam("scope"),
                                     IdempotencyKey.key == bindparam("key"))

STORE = update(IdempotencyKey).where(IdempotencyKey.id == bindparam("row_id")).values(
    result=bindparam("result"))
"""Store a claimed key's result: ``connection.execute(STORE, {"row_id": …, "result": …})``."""


def remember(session: Session, row: IdempotencyKey, result: dict) -> None:
    """Store ``result`` on the key ``row`` that :func:`claim` returned, in the caller's
    transaction: a repeat of the request gets it (called once the operation is done).

    Written at once by one statement, not by the next flush: the row itself stays as
    written (not pending)."""
    session.connection().execute(STORE, {"row_id": row.id, "result": result})
    set_committed_value(row, "result", result)


def _take_over(session: Session, existing: IdempotencyKey, lease_until: dt.datetime | None,
               now: dt.datetime | None) -> bool:
    """Take a claim whose lease lapsed without a result; ``True`` for the one caller whose
    compare-and-set on the old lease wins."""
    lapsed = existing.claimed_until  # none: claimed before leases existed, so long dead
    if lease_until is None or now is None or (lapsed is not None and lapsed > now):
        return False
    same_lease = IdempotencyKey.claimed_until.is_(None) if lapsed is None else \
        IdempotencyKey.claimed_until == lapsed
    taken = session.execute(update(IdempotencyKey).where(
        IdempotencyKey.id == existing.id, same_lease).values(claimed_until=lease_until))
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        return False
    set_committed_value(existing, "claimed_until", lease_until)  # as written just now
    return True
