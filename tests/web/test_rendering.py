"""Dates on the pages: a calendar day is that day wherever the tenant is; a moment is dated
on the tenant's clocks."""

from __future__ import annotations

import datetime as dt

from loket.web import rendering


def test_a_calendar_day_is_that_day_west_and_east_of_utc():
    for zone in ("America/New_York", "UTC", "Asia/Jakarta"):
        assert rendering.format_day("2025-03-31", "en_US", zone) == "Mar 31, 2025", zone
        assert rendering.format_day(dt.date(2025, 3, 31), "en_US", zone) == "Mar 31, 2025"
    assert rendering.format_day("2025-03-31", "id_ID", "America/New_York") == "31 Mar 2025"


def test_a_moment_is_dated_on_the_tenants_clocks():
    moment = "2025-04-01T02:00:00+00:00"  # the evening of Mar 31 in New York
    assert rendering.format_day(moment, "en_US", "America/New_York") == "Mar 31, 2025"
    assert rendering.format_day(moment, "en_US", "Asia/Jakarta") == "Apr 1, 2025"
    naive = dt.datetime(2025, 4, 1, 2)  # SQLite's naive UTC
    assert rendering.format_day(naive, "en_US", "America/New_York") == "Mar 31, 2025"
    assert rendering.format_day(None) == rendering.format_day("") == ""
