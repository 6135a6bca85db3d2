"""Idempotency keys: a repeated request returns the first result; a reused key with other
content is refused. The unique key in the database refuses duplicates, not a check."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loket.core.models import IdempotencyKey
from loket.errors import Conflict, ValidationFailed


def fingerprint(payload) -> str:
    """A stable hash of a request's content."""
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def claim(session: Session, tenant_id: int, scope: str, key: str | None,
          payload) -> tuple[IdempotencyKey | None, dict | None]:
    """Claim ``key`` for this request inside the caller's transaction.

    :returns: ``(row, None)`` when the key is new (store the result on ``row.result``
        before commit), ``(None, result)`` when the same request was already done, and
        ``(None, None)`` when no key was given.
    :raises Conflict: the key was used with different content.
    """
    if not key:
        return None, None
    if len(key) > 255:
        raise ValidationFailed("Idempotency-Key is longer than 255 characters",
                               field="Idempotency-Key")
    digest = fingerprint(payload)
    try:
        with session.begin_nested():
            row = IdempotencyKey(tenant_id=tenant_id, scope=scope, key=key, request_hash=digest)
            session.add(row)
            session.flush()
        return row, None
    except IntegrityError:
        existing = session.scalar(select(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.scope == scope,
            IdempotencyKey.key == key))
        if existing is None or existing.request_hash != digest:
            raise Conflict("this Idempotency-Key was already used for a different request",
                           field="Idempotency-Key") from None
        if existing.result is None:
            raise Conflict("a request with this Idempotency-Key is still in progress",
                           field="Idempotency-Key") from None
        return None, existing.result
