"""Idempotency-Key: a claim whose request died is not locked forever (it carries a lease),
the header's rules from the OpenAPI document are enforced, and a checkout (whose key is
claimed and answered inside its own transaction) is started once whatever the repeats."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import text
from support.api import api, connected_api, make_api, problem  # noqa: F401 - fixtures
from support.engine import ACTOR, seed

from loket.core import audit, idempotency
from loket.core.host import receivables
from loket.core.payments import checkout
from loket.plugin_api import GatewayError, hookimpl
from loket.server import idempotent

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


CHECKOUT = {"gateway": "sandbox", "items": [{"kind": "bill", "reference": "INV-2025-001234"}]}


def _checkout(api, key: str, body: dict | None = None):
    return api.post("/v1/me/checkout", body or CHECKOUT, role="consumer",
                    headers={"Idempotency-Key": key})


def _my_payments(api) -> list[dict]:
    return api.get("/v1/me/payments", role="consumer").json["items"]


def test_a_repeated_checkout_gets_the_first_answer_and_starts_one_payment(connected_api):
    api = connected_api
    first = _checkout(api, "co-1")
    assert first.status_code == 201, first.text
    again = _checkout(api, "co-1")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    other = _checkout(api, "co-1", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001567"}]})
    assert other.status_code == 409
    assert problem(other)["errors"][0]["field"] == "Idempotency-Key"
    assert [p["number"] for p in _my_payments(api)] == [first.json["payment"]["number"]]


def test_a_checkout_whose_process_died_after_its_commit_is_answered_at_once(connected_api):
    api = connected_api
    api.client.app.add_middleware(DieOnce("after"))
    with pytest.raises(Died):
        _checkout(api, "co-died")
    retry = _checkout(api, "co-died")  # at once: no lease to wait for
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"  # stored with the payment
    assert [p["number"] for p in _my_payments(api)] == [retry.json["payment"]["number"]]


class _FailsOnce:
    """A gateway plugin whose first charge raises ``error`` (the sandbox answers after)."""

    LOKET_CONTRACT = "1"

    def __init__(self, error: Exception):
        self.error: Exception | None = error

    @hookimpl(tryfirst=True)
    def loket_gateway_charge(self, config, request):
        """Raise the error once."""
        error, self.error = self.error, None
        if error is not None:
            raise error


def test_a_checkout_that_failed_before_its_commit_leaves_nothing_behind(connected_api):
    api = connected_api
    api.ctx.plugins.register(_FailsOnce(RuntimeError("the plugin broke")), name="break-once")
    try:
        broken = _checkout(api, "co-broken")
        retry = _checkout(api, "co-broken")
    finally:
        api.ctx.plugins.pm.unregister(name="break-once")
    assert broken.status_code == 500
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert [p["number"] for p in _my_payments(api)] == [retry.json["payment"]["number"]]


def test_a_key_an_earlier_release_claimed_ahead_still_finds_its_committed_checkout(
        connected_api):
    """Before checkouts claimed their key in their transaction, the HTTP layer claimed it
    ahead (with a lease) and the checkout claimed it again with its payment. A process that
    died between the two commits left the first claim without an answer."""
    api = connected_api
    account, scope = "WU-10001", "http:c{}:WU-10001:POST /v1/me/checkout"
    now = api.ctx.now()
    with api.ctx.transaction() as session:
        idempotency.claim(session, api.tenant_id, scope.format(api.tenant_id), "co-old",
                          {"path": "/v1/me/checkout", "query": {}, "body": CHECKOUT},
                          lease_until=now + dt.timedelta(seconds=60), now=now)
        first = checkout.start_checkout(
            api.ctx, session, audit.Actor(account, "consumer", account_number=account),
            api.tenant_id, account, "sandbox", CHECKOUT["items"], idempotency_key="co-old")
    _later(api, 61)
    retry = _checkout(api, "co-old")
    assert retry.status_code == 201, retry.text
    assert retry.json["payment"]["number"] == first.number
    assert [p["number"] for p in _my_payments(api)] == [first.number]


def test_a_refused_checkout_leaves_its_key_free_for_a_new_attempt(connected_api):
    api = connected_api
    refusal = GatewayError("the gateway is unavailable", gateway_message="upstream 503")
    api.ctx.plugins.register(_FailsOnce(refusal), name="refuse-once")
    try:
        refused = _checkout(api, "co-refused")
        retry = _checkout(api, "co-refused")
    finally:
        api.ctx.plugins.pm.unregister(name="refuse-once")
    assert refused.status_code == 502, refused.text
    assert problem(refused)["gateway_message"] == "upstream 503"
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    statuses = {p["number"]: p["status"] for p in _my_payments(api)}
    assert statuses == {retry.json["payment"]["number"]: "initiated",
                        **{n: "failed" for n in statuses if n != retry.json["payment"]["number"]}}
    assert list(statuses.values()).count("failed") == 1


class _SlowCharge:
    """A gateway that takes its time to answer (the sandbox answers after it); says when the
    first charge has begun."""

    LOKET_CONTRACT = "1"

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.charging = threading.Event()

    @hookimpl(tryfirst=True)
    def loket_gateway_charge(self, config, request):
        """Wait, then leave the answer to the sandbox."""
        self.charging.set()
        time.sleep(self.seconds)


def _race(api, slow: _SlowCharge) -> tuple:
    """The same checkout twice with one key, the second sent while the first is charging
    (its key claimed, its transaction open)."""
    answers: dict[str, object] = {}

    def send(name: str) -> None:
        answers[name] = _checkout(api, "co-racing")

    api.ctx.plugins.register(slow, name="slow-charge")
    try:
        first = threading.Thread(target=send, args=("first",))
        first.start()
        assert slow.charging.wait(10)
        send("second")
        first.join()
    finally:
        api.ctx.plugins.pm.unregister(name="slow-charge")
    return answers["first"], answers["second"]


def test_a_repeat_sent_while_the_first_checkout_runs_waits_for_its_answer(connected_api):
    one, two = _race(connected_api, _SlowCharge(0.3))
    assert (one.status_code, two.status_code) == (201, 201), (one.text, two.text)
    assert two.headers.get("Idempotent-Replayed") == "true"
    assert one.json == two.json
    assert len(_my_payments(connected_api)) == 1


def test_a_repeat_waits_a_bounded_time_for_the_first_checkout(pg_ctx, monkeypatch):
    """On PostgreSQL a waiting repeat holds a worker: past the bound it is refused as in
    progress (as a key claimed ahead is), and may try again later."""
    api = make_api(pg_ctx, seed(pg_ctx))
    api.connect_sandbox()
    monkeypatch.setattr(idempotent, "_WAIT_AT_MOST", "SET LOCAL lock_timeout = '200ms'")
    one, two = _race(api, _SlowCharge(1.0))
    assert one.status_code == 201, one.text
    assert two.status_code == 409 and "in progress" in problem(two)["detail"]
    again = _checkout(api, "co-racing")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(_my_payments(api)) == 1


def test_only_the_wait_for_the_first_request_is_bounded(pg_ctx, monkeypatch):
    """A keyed checkout still waits, as any other, for a row another transaction holds (a
    bill an import is updating): the bound is for the first request's claim only."""
    api = make_api(pg_ctx, seed(pg_ctx))
    api.connect_sandbox()
    monkeypatch.setattr(idempotent, "_WAIT_AT_MOST", "SET LOCAL lock_timeout = '200ms'")
    locked, released = threading.Event(), threading.Event()

    def hold_the_bill() -> None:
        with pg_ctx.engine.begin() as connection:
            connection.execute(text("SELECT id FROM receivables WHERE reference = :r FOR UPDATE"),
                               {"r": "INV-2025-001234"})
            locked.set()
            time.sleep(0.6)
        released.set()

    holder = threading.Thread(target=hold_the_bill)
    holder.start()
    assert locked.wait(10)
    started = _checkout(api, "co-waits")
    holder.join()
    assert started.status_code == 201, started.text
    assert released.is_set()


def test_consumers_whose_long_account_numbers_start_alike_keep_their_keys_apart(
        connected_api, ctx, tenant_id):
    api = connected_api
    accounts = ["A" * 56 + "-0001", "A" * 56 + "-0002"]
    with ctx.transaction() as session:
        for n, account in enumerate(accounts):
            receivables.upsert_consumer(session, ACTOR, tenant_id, {
                "account_number": account, "name": f"Holder {n}"})
            receivables.upsert_receivable(session, ACTOR, tenant_id, {
                "account_number": account, "kind": "bill", "reference": f"B-{n}",
                "amount": "10.00", "due_date": "2025-02-15"})
    numbers = []
    for account in accounts:
        token = ctx.signer.consumer_token(tenant_id, account, 3600,
                                          now=int(ctx.now().timestamp()))
        started = api.client.simulate_post("/v1/me/checkout", json={
            "gateway": "sandbox", "all_open": True}, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": "checkout-1"})
        assert started.status_code == 201, started.text
        assert "Idempotent-Replayed" not in started.headers
        numbers.append(started.json["payment"]["number"])
    assert len(set(numbers)) == 2


def test_an_issued_consumer_token_is_replayed_but_never_stored_in_clear(api):
    first = api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600},
                     headers={"Idempotency-Key": "token-1"})
    again = api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600},
                     headers={"Idempotency-Key": "token-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json  # the same token, not a second one
    token = first.json["token"]
    with api.ctx.engine.connect() as connection:
        stored = [str(row[0]) for row in connection.execute(text(
            "SELECT result FROM idempotency_keys WHERE key = 'token-1'"))]
    assert stored and all(token not in row for row in stored)
    me = api.client.simulate_get("/v1/me/items", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


def test_a_token_sealed_under_a_key_since_removed_is_not_shown_again(api):
    from loket.core.secrets import SecretBox
    api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600},
             headers={"Idempotency-Key": "token-2"})
    api.ctx.secrets = SecretBox((SecretBox.generate_key(),))  # the old key removed
    again = api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600},
                     headers={"Idempotency-Key": "token-2"})
    assert again.status_code == 409 and problem(again)["errors"][0]["field"] == \
        "Idempotency-Key", again.text
