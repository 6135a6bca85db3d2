"""On PostgreSQL, guest identification attempts sent together from one source: only as many
as the tenant allows are checked, the rest are refused as too many (429); another source is
not held back by them."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from support.engine import seed

from loket.core.guests import identification
from loket.core.guests.rate_limit import TooManyAttempts
from loket.core.models import GuestAttempt
from loket.core.settings import load_settings, save_settings
from loket.errors import Unauthorized

pytestmark = pytest.mark.postgres
ATTEMPTS = 3
RIGHT = {"name": "John Doe", "last_bill_amount": "152.25"}


def _at_once(count, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


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

    results = _at_once(12, guess)
    checked = [r for r in results if isinstance(r, Unauthorized)]
    limited = [r for r in results if isinstance(r, TooManyAttempts)]
    assert (len(checked), len(limited)) == (ATTEMPTS, 12 - ATTEMPTS), results
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(GuestAttempt).where(
            GuestAttempt.source == "203.0.113.7")) == ATTEMPTS
    found = identification.identify(ctx, "t1", "WU-10001", RIGHT, "198.51.100.2")
    assert found.account_number == "WU-10001"
