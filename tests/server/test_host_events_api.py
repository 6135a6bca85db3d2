"""``/v1/host/webhook-endpoints``: a URL loket must not send to is a 422 naming ``url`` (a
malformed one too, never a 500), and a delivery's error is told in coarse words, never as
the network's own (no port scan through the deliveries list)."""

from __future__ import annotations

import socket

import attrs
from support.api import api, fields  # noqa: F401 - fixture

from loket.core.outbox import delivery, events


def test_an_endpoint_into_the_operators_network_is_refused(api):  # noqa: F811 - fixture
    api.ctx.config = attrs.evolve(api.ctx.config, host_webhooks_allow_private=False)
    for url in ("http://169.254.169.254/latest", "https://127.0.0.1:8080/", "https://[::1]/",
                "https://localhost/", "http://[::1/x", "https://hooks.example.com:x/"):
        for role in ("tenant_admin", "billing_manager"):
            answer = api.post("/v1/host/webhook-endpoints", {"url": url}, role=role)
            assert answer.status_code == 422, (url, answer.text)
            assert fields(answer) == {"url"}
    assert api.get("/v1/host/webhook-endpoints", role="tenant_admin").json["items"] == []


def test_a_malformed_url_is_a_422_even_when_private_targets_are_allowed(api):  # noqa: F811
    answer = api.post("/v1/host/webhook-endpoints", {"url": "http://[::1/x"},
                      role="tenant_admin")
    assert answer.status_code == 422 and fields(answer) == {"url"}


def test_a_failed_delivery_is_listed_without_the_networks_words(api):  # noqa: F811
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    made = api.post("/v1/host/webhook-endpoints", {"url": f"http://127.0.0.1:{port}/"},
                    role="billing_manager")
    assert made.status_code == 201, made.text
    with api.ctx.transaction() as session:
        events.emit(session, api.tenant_id, "todo.raised", {"x": 1}, "k", api.ctx.now())
    assert delivery.deliver_due(api.ctx) == {"retrying": 1}
    (item,) = api.get(f"/v1/host/webhook-endpoints/{made.json['id']}/deliveries",
                      role="billing_manager").json["items"]
    assert (item["last_status_code"], item["last_error"]) == (None, "connection failed")
