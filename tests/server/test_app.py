"""The API on a real server (loopback port, threads), driven with ``requests`` the way the
host and a payer's browser would: the admin connects the sandbox by paying its test
payment on the hosted page; a consumer then pays and comes back through the signed return
URL."""

from __future__ import annotations

import attrs
import pytest
import requests
from support.api import make_api

from loket.demo import SANDBOX_CREDENTIALS
from loket.server.devserver import serve_in_thread


@pytest.fixture
def live(ctx, tenant_id):
    """A running server on 127.0.0.1 whose base URL is its own address."""
    api = make_api(ctx, tenant_id)
    server = serve_in_thread(api.client.app)
    base = f"http://127.0.0.1:{server.server_port}"
    ctx.config = attrs.evolve(ctx.config, base_url=base)
    yield api, base
    server.shutdown()
    server.server_close()


def test_connect_and_pay_over_real_http(live):
    api, base = live
    admin = {"Authorization": f"Bearer {api.keys['tenant_admin']}"}
    http = requests.Session()
    assert http.get(f"{base}/health", timeout=5).json()["database"] == "ok"
    assert http.put(f"{base}/v1/gateways/sandbox/active", json={"active": True},
                    headers=admin, timeout=5).status_code == 200
    saved = http.put(f"{base}/v1/gateways/sandbox/credentials",
                     json={"credentials": SANDBOX_CREDENTIALS}, headers=admin, timeout=5)
    assert saved.status_code == 200 and saved.json()["configured"] is True
    started = http.post(f"{base}/v1/gateways/sandbox/connect", headers=admin, timeout=5)
    assert started.status_code == 201, started.text
    page = http.get(started.json()["redirect_url"], timeout=5)
    assert "Sandbox checkout" in page.text and "1.00" in page.text
    # The admin presses Pay: the sandbox sends its webhook to loket over HTTP, then sends
    # the browser back to loket's signed return URL.
    back = http.post(started.json()["redirect_url"], data={"action": "pay"}, timeout=10)
    assert back.status_code == 200 and back.url.startswith(f"{base}/v1/return/")
    assert back.json()["status"] in ("succeeded", "refunded")
    gateway = http.get(f"{base}/v1/gateways/sandbox", headers=admin, timeout=5).json()
    assert gateway["connected"] is True

    token = http.post(f"{base}/v1/consumers/WU-10001/token", json={"ttl_seconds": 600},
                      headers={"Authorization": f"Bearer {api.keys['customer_executive']}"},
                      timeout=5).json()["token"]
    consumer = {"Authorization": f"Bearer {token}"}
    assert [g["kind"] for g in http.get(f"{base}/v1/me/gateways", headers=consumer,
                                        timeout=5).json()["items"]] == ["sandbox"]
    checkout = http.post(f"{base}/v1/me/checkout", headers={**consumer,
                                                            "Idempotency-Key": "live-1"},
                         json={"gateway": "sandbox", "items": [
                             {"kind": "bill", "reference": "INV-2025-001234"},
                             {"kind": "service", "reference": "SRV-LATE-0001"}]}, timeout=10)
    assert checkout.status_code == 201, checkout.text
    declined = http.post(checkout.json()["redirect_url"], data={"action": "decline"},
                         timeout=10).json()
    assert declined["status"] == "failed" and declined["can_retry"] is True
    assert "insufficient funds" in declined["message"]

    retry = http.post(f"{base}/v1/me/checkout", headers=consumer, json={
        "gateway": "sandbox", "items": [{"kind": "bill", "reference": "INV-2025-001234"}]},
        timeout=10).json()
    paid = http.post(retry["redirect_url"], data={"action": "pay"}, timeout=10).json()
    assert paid["status"] == "succeeded" and "successful" in paid["message"]
    staff = {"Authorization": f"Bearer {api.keys['cso_executive']}"}
    listed = http.get(f"{base}/v1/payments", params={"q": "doe"}, headers=staff,
                      timeout=5).json()
    assert {p["status"] for p in listed["items"]} == {"failed", "succeeded"}
    assert http.get(f"{base}/v1/gateways", headers=staff, timeout=5).status_code == 403
