"""Idempotency-Key: a claim whose request died is not locked forever (it carries a lease),
and the header's rules from the OpenAPI document are enforced."""

from __future__ import annotations

import datetime as dt

import pytest
from support.api import api, problem  # noqa: F401 - fixtures

BODY = {"account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "amount_received": "20.00", "paid_on": "2025-01-15"}


class Died(BaseException):
    """The process serving the request is gone (nothing after this point runs)."""


class DieOnce:
    """Kills the first request, before its work (``when="before"``) or after its work
    committed but before the response was stored (``when="after"``)."""

    def __init__(self, when: str):
        self.when = when
        self.armed = True

    def process_resource(self, req, resp, resource, params):
        if self.when == "before" and self.armed:
            self.armed = False
            raise Died()

    def process_response(self, req, resp, resource, req_succeeded):
        if self.when == "after" and self.armed:
            self.armed = False
            raise Died()


def _later(api, seconds: int) -> None:
    start = api.ctx.now()
    api.ctx.clock = lambda: start + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_key_whose_request_died_is_free_again_once_its_lease_lapses(api, when):
    api.client.app.add_middleware(DieOnce(when))
    with pytest.raises(Died):
        api.post("/v1/payments/counter", BODY, headers={"Idempotency-Key": "k-died"})
    busy = api.post("/v1/payments/counter", BODY, headers={"Idempotency-Key": "k-died"})
    assert busy.status_code == 409 and "in progress" in problem(busy)["detail"]

    _later(api, api.ctx.config.idempotency_lease_seconds + 1)
    retry = api.post("/v1/payments/counter", BODY, headers={"Idempotency-Key": "k-died"})
    assert retry.status_code == 201, retry.text
    again = api.post("/v1/payments/counter", BODY, headers={"Idempotency-Key": "k-died"})
    assert again.status_code == 201
    assert again.json["information"]["number"] == retry.json["information"]["number"]
    # Whether the first attempt committed or not, the money was taken exactly once.
    assert api.get("/v1/payments").json["total"] == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "caf\u00e9"])
def test_keys_outside_the_documented_rules_are_refused(api, key):
    refused = api.post("/v1/payments/counter", BODY,
                       headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert refused.status_code == 422, refused.text
    assert problem(refused)["errors"][0]["field"] == "Idempotency-Key"
    assert api.get("/v1/payments").json["total"] == 0


def test_a_200_character_key_is_accepted(api):
    done = api.post("/v1/payments/counter", BODY, headers={"Idempotency-Key": "k" * 200})
    assert done.status_code == 201
