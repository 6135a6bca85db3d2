"""Making payment plans: a plan number staff gave a plan by hand is passed over by the
automatic numbering, which goes on making plans."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from support.engine import ACTOR

from loket.core.host import plan_changes
from loket.core.models import PaymentPlan


def _make(ctx, tenant_id: int, reference: str | None = None) -> str:
    """A plan of 100.00 in two for WU-10001 (numbered automatically without
    ``reference``), made in its own transaction; returns its reference."""
    with ctx.transaction() as session:
        return plan_changes.create_plan(ctx, session, ACTOR, tenant_id, {
            "action": "create", "account_number": "WU-10001", "amount": "100.00",
            "installments": 2, "reference": reference,
            "first_due_on": (ctx.now().date() + dt.timedelta(days=10)).isoformat()}).reference


def _following(reference: str, step: int = 1) -> str:
    """The automatic number ``step`` after ``reference`` (``PP-2026-0001`` -> ``…0002``)."""
    head, seq = re.fullmatch(r"(.*?)(\d+)", reference).groups()
    return f"{head}{int(seq) + step:0{len(seq)}d}"


def test_numbers_given_by_hand_are_passed_over_by_the_automatic_numbering(ctx, tenant_id):
    first = _make(ctx, tenant_id)
    _make(ctx, tenant_id, reference=_following(first))  # the next number, taken by hand
    _make(ctx, tenant_id, reference=_following(first, 3))
    made = [_make(ctx, tenant_id) for _ in range(3)]
    assert made == [_following(first, 2), _following(first, 4), _following(first, 5)]
    with ctx.transaction() as session:
        assert len(session.scalars(select(PaymentPlan.id)).all()) == 7  # 6 + the demo's
