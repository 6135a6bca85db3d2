"""Behaviour tracking: what staff and consumers do through the API is recorded by the
``loket_track`` sink (searched, viewed, dashboard, history, reconciliation report)."""

import pytest
from sqlalchemy import select
from support.api import api  # noqa: F401 - fixture
from support.engine import post

from loket.core.models import TrackingEventRow
from loket.core.tracking import writer
from loket.tracking.sink import TrackingSink


@pytest.fixture
def sink(api):
    bound = TrackingSink(writer(api.ctx.sessions))
    api.ctx.plugins.pm.register(bound, name="test-tracking-sink")
    yield bound
    api.ctx.plugins.pm.unregister(bound)


def test_searches_views_and_reports_are_tracked(api, sink):
    payment = post(api.ctx, api.tenant_id, amount_received="145.50",
                   references=("INV-2025-001234",))
    assert api.get("/v1/payments?q=john&status=posted", role="cso_executive").status_code == 200
    assert api.get(f"/v1/payments/{payment.number}", role="cso_executive").status_code == 200
    assert api.get("/v1/kpis", role="billing_manager").status_code == 200
    assert api.get("/v1/me/payments", role="consumer").status_code == 200
    assert api.get("/v1/reconciliation", role="billing_manager").status_code == 200
    with api.ctx.transaction() as session:
        rows = {r.name: r for r in session.scalars(select(TrackingEventRow))}
    assert {"payment.searched", "payment.details_viewed", "dashboard.viewed",
            "payment.history_viewed", "report.generated"} <= set(rows)
    assert rows["payment.searched"].properties == {"q": "john", "status": "posted",
                                                   "results": 1}
    assert rows["payment.searched"].actor == "test cso_executive"
    assert rows["payment.details_viewed"].properties == {"payment": payment.number}
    assert rows["payment.history_viewed"].tenant_id == api.tenant_id
