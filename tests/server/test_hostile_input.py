"""Input the database cannot store or that means two things is refused naming the field;
strangers hammering the public endpoints get 429 with Retry-After, counted across
processes."""

from __future__ import annotations

import attrs
import falcon.testing
import pytest
from support.api import api, problem  # noqa: F401 - fixtures

from loket.server.app import create_app

BODY = {"account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "amount_received": "1.00"}


def _raw(api, text: str, role: str = "cso_admin"):
    return api.client.simulate_post("/v1/payments/counter", body=text.encode(),
                                    headers={**api.headers(role),
                                             "Content-Type": "application/json"})


@pytest.mark.parametrize("field", ["account_number", "notes"])
def test_a_lone_surrogate_in_a_string_is_422_naming_the_field(api, field):
    text = ('{"account_number": "CRN29391", "payment_type": "bill", "method": "cash", '
            '"amount_received": "1.00", "notes": "ok"}').replace(
        f'"{field}": "', f'"{field}": "x\\ud800y')
    refused = _raw(api, text)
    assert refused.status_code == 422, refused.text
    assert problem(refused)["errors"][0]["field"] == field
    assert "surrogate" in problem(refused)["errors"][0]["message"]
    assert api.get("/v1/payments").json["total"] == 0


def test_a_lone_surrogate_in_a_key_is_422(api):
    refused = _raw(api, '{"account_number": "CRN29391", "x\\udc00": 1}')
    assert refused.status_code == 422


def test_a_repeated_json_key_is_refused_not_the_last_one_taken(api):
    text = ('{"account_number": "CRN29391", "payment_type": "bill", "method": "cash", '
            '"amount_received": "1.00", "amount_received": "999.00"}')
    refused = _raw(api, text)
    assert refused.status_code == 422, refused.text
    assert problem(refused)["errors"][0]["field"] == "amount_received"
    assert api.get("/v1/payments").json["total"] == 0


def _limited(ctx, limit: int):
    ctx.config = attrs.evolve(ctx.config, public_rate_limit=limit, webhook_rate_limit=limit)
    return falcon.testing.TestClient(create_app(ctx))


def test_the_public_endpoints_answer_429_past_the_per_source_limit(api):
    client = _limited(api.ctx, 3)
    for _ in range(3):
        assert client.simulate_get("/v1/return/PAY-1", params={"sig": "forged"},
                                   remote_addr="198.51.100.7").status_code == 404
    refused = client.simulate_get("/v1/return/PAY-1", params={"sig": "forged"},
                                  remote_addr="198.51.100.7")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    # Another source is not affected; staff endpoints are not limited.
    assert client.simulate_get("/v1/return/PAY-1", params={"sig": "forged"},
                               remote_addr="198.51.100.8").status_code == 404
    assert client.simulate_get("/v1/payments", headers=api.headers("cso_admin"),
                               remote_addr="198.51.100.7").status_code == 200


def test_the_limit_is_shared_by_every_process_on_the_database(api):
    first, second = _limited(api.ctx, 4), _limited(api.ctx, 4)  # two API processes
    for client in (first, second, first, second):
        assert client.simulate_post("/v1/webhooks/sandbox/unknown-token",
                                    body=b"{}", remote_addr="192.0.2.1").status_code == 404
    assert second.simulate_post("/v1/webhooks/sandbox/unknown-token", body=b"{}",
                                remote_addr="192.0.2.1").status_code == 429


def test_a_window_later_the_source_may_call_again(api):
    import datetime as dt
    client = _limited(api.ctx, 1)
    assert client.simulate_get("/v1/return/P", remote_addr="192.0.2.9").status_code == 404
    assert client.simulate_get("/v1/return/P", remote_addr="192.0.2.9").status_code == 429
    start = api.ctx.now()
    api.ctx.clock = lambda: start + dt.timedelta(seconds=61)
    assert client.simulate_get("/v1/return/P", remote_addr="192.0.2.9").status_code == 404
