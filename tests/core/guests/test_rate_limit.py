"""On PostgreSQL, guest identification attempts sent together from one source: only as many
as the tenant allows are checked, the rest are refused as too many (429); another source is
not held back by them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.concurrency import at_once
from support.engine import seed

from loket.core.guests import identification
from loket.core.guests.rate_limit import TooManyAttempts
from loket.core.models import GuestAttempt
from loket.core.settings import load_settings, save_settings
from loket.errors import Unauthorized

pytestmark = pytest.mark.postgres
ATTEMPTS = 3
RIGHT = {"name": "John Doe", "last_bill_amount": "152.25"}


def test_parallel_attempts_from_one_source_are_checked_no_more_than_allowed(pg_ctx):
    ctx = pg_ctx
    tenant_id = seed(ctx)
    with ctx.transaction() as session:
        document = load_settings(session, tenant_id).document
        document["guest"] = {**document.get("guest", {}), "enabled": True,
                             "attempts": ATTEMPTS, "window_seconds": 900}
        save_settings(session, tenant_id, document)

    def guess(index):
        return identification.identify(ctx, "t1", "WU-10001", {
            "name": "John Doe", "last_bill_amount": f"{index}.00"}, "203.0.113.7")

    results = at_once(guess, 12)
    checked = [r for r in results if isinstance(r, Unauthorized)]
    limited = [r for r in results if isinstance(r, TooManyAttempts)]
    assert (len(checked), len(limited)) == (ATTEMPTS, 12 - ATTEMPTS), results
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(GuestAttempt).where(
            GuestAttempt.source == "203.0.113.7")) == ATTEMPTS
    found = identification.identify(ctx, "t1", "WU-10001", RIGHT, "198.51.100.2")
    assert found.account_number == "WU-10001"
