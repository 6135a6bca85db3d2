"""What every resource shares: the caller, the audit actor, the parsed request."""

from __future__ import annotations

import datetime as dt

import falcon

from loket.core.settings import load_settings
from loket.money import Money
from loket.types import TrackingEvent


class Resource:
    """Base of the API resources: takes the container in its constructor."""

    def __init__(self, ctx):
        self.ctx = ctx

    @staticmethod
    def principal(req):
        """The authenticated caller (set by the auth middleware)."""
        return req.context.principal

    @staticmethod
    def actor(req):
        """The audit actor of this request (with its request id)."""
        return req.context.principal.actor()

    @staticmethod
    def tenant(req) -> int:
        """The caller's tenant id."""
        return req.context.principal.tenant_id

    @staticmethod
    def body(req) -> dict:
        """The validated JSON body."""
        return req.context.body or {}

    @staticmethod
    def query(req) -> dict:
        """The validated query parameters."""
        return req.context.query

    @staticmethod
    def key(req) -> str | None:
        """The request's Idempotency-Key, passed on to engine operations."""
        return getattr(req.context, "idempotency_key", None)

    def track(self, req, name: str, **properties) -> None:
        """Record a behaviour-tracking event for this request (after its work is done)."""
        principal = self.principal(req)
        self.ctx.plugins.track(TrackingEvent(
            tenant_id=principal.tenant_id, name=name, actor=principal.actor().name,
            properties={k: v for k, v in properties.items() if v not in (None, "", False)},
            at=self.ctx.now()))

    @staticmethod
    def paging(req) -> tuple[int, int, bool]:
        """``(page, limit, newest_first)`` from the query."""
        q = req.context.query
        return q.get("page", 1), q.get("limit", 20), q.get("sort", "-created_at") != "created_at"


def created(resp, media: dict) -> None:
    """Answer 201 with ``media``."""
    resp.status = falcon.HTTP_201
    resp.media = media


def date_param(value: str | None) -> dt.date | None:
    """A validated ``YYYY-MM-DD`` query value as a date."""
    return dt.date.fromisoformat(value) if value else None


def money_param(session, tenant_id: int, value: str | None, field: str) -> int | None:
    """A decimal string in the tenant currency as minor units."""
    if value is None:
        return None
    return Money.parse(value, load_settings(session, tenant_id).currency, field=field).amount
