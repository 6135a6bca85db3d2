"""The outbox: events written in the change's own transaction, delivered to the host signed,
at least once, in order per payment, with backoff, surviving a worker killed mid-delivery."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from support.engine import ACTOR
from support.jobs import Clock
from support.outbox import Receiver, Trickler

from loket.core.backoffice import administration
from loket.core.models import HostWebhookEndpoint, OutboxDelivery, OutboxEvent, Payment, Todo
from loket.core.outbox import delivery, endpoints, events, posting, signing
from loket.core.payments import counter_payments
from loket.core.secrets import SecretBox
from loket.core.settings import load_settings, save_settings
from loket.errors import Undeliverable
from loket.types import Notification

ADMIN = ACTOR


def _counter(ctx, tenant_id, reference="INV-2025-001234", amount="145.50"):
    entry = counter_payments.CounterPayment(account_number="WU-10001", payment_type="bill",
                                            method="cash", amount_received=amount,
                                            paid_on="2025-01-15",
                                            references=(reference,))
    with ctx.transaction() as session:
        return counter_payments.record_counter_payment(ctx, session, ACTOR, tenant_id, entry)


def _endpoint(ctx, tenant_id, receiver, types=()):
    with ctx.transaction() as session:  # no messages to people here: host events only
        document = dict(load_settings(session, tenant_id).document)
        save_settings(session, tenant_id, {**document, "messages": {"channels": {}}})
    with ctx.transaction() as session:
        row, secret = endpoints.create_endpoint(ctx, session, ADMIN, tenant_id, receiver.url,
                                                list(types))
    receiver.secret = secret
    return row


def _deliveries(ctx):
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.id)))


def test_nothing_is_published_for_a_change_that_rolled_back(ctx, tenant_id):
    with pytest.raises(RuntimeError):
        with ctx.transaction() as session:
            counter_payments.record_counter_payment(ctx, session, ACTOR, tenant_id,
                                                    counter_payments.CounterPayment(
                                                        account_number="WU-10001",
                                                        payment_type="bill", method="cash",
                                                        amount_received="10.00",
                                                        paid_on="2025-01-15"))
            raise RuntimeError("the caller fails after the payment was written")
    with ctx.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    _counter(ctx, tenant_id)
    with ctx.transaction() as session:
        types = list(session.scalars(select(OutboxEvent.type).where(
            OutboxEvent.kind == "host_event")))
    assert types == ["payment.posted"]


def test_the_host_gets_each_event_signed_once_despite_two_failed_attempts(ctx, tenant_id):
    ctx.clock = Clock()
    with Receiver(fail_first=2) as host:
        _endpoint(ctx, tenant_id, host, ["payment.posted"])
        payment = _counter(ctx, tenant_id)
        assert delivery.deliver_due(ctx) == {"retrying": 1}
        assert delivery.deliver_due(ctx) == {}  # not due before its backoff (30 s)
        ctx.clock.advance(seconds=31)
        assert delivery.deliver_due(ctx) == {"retrying": 1}
        ctx.clock.advance(seconds=31)
        assert delivery.deliver_due(ctx) == {}  # the second backoff is a minute
        ctx.clock.advance(seconds=30)
        assert delivery.deliver_due(ctx) == {"delivered": 1}
        assert delivery.deliver_due(ctx) == {}
    (accepted,) = host.accepted
    assert len(host.requests) == 3
    assert len({r["event_id"] for r in host.requests}) == 1  # the same event id every time
    assert accepted["body"]["type"] == "payment.posted"
    assert accepted["body"]["data"]["payment"]["number"] == payment.number
    assert accepted["body"]["data"]["payment"]["amount_received"]["amount"] == 14550
    (row,) = _deliveries(ctx)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)


def test_a_signature_is_refused_when_altered_or_older_than_five_minutes():
    body = b'{"id":"evt_1"}'
    header = signing.header_value("whsec_x", 1_700_000_000, body)
    assert signing.verify("whsec_x", header, body, 1_700_000_000 + 299)
    assert not signing.verify("whsec_x", header, body, 1_700_000_000 + 301)
    assert not signing.verify("whsec_x", header, body + b" ", 1_700_000_000)
    assert not signing.verify("whsec_y", header, body, 1_700_000_000)
    assert not signing.verify("whsec_x", "v1=abc", body, 1_700_000_000)


def test_events_of_a_payment_arrive_in_order_even_after_a_failure(ctx, tenant_id):
    ctx.clock = Clock()
    with Receiver(fail_first=1) as host:
        _endpoint(ctx, tenant_id, host)
        payment = _counter(ctx, tenant_id)
        with ctx.transaction() as session:
            administration.cancel_posted(ctx, session, ACTOR,
                                         session.get(Payment, payment.id), "entered twice")
        assert delivery.deliver_due(ctx) == {"retrying": 1}  # the cancel waits behind it
        assert [r["body"]["type"] for r in host.requests] == ["payment.posted"]
        ctx.clock.advance(seconds=31)
        assert delivery.deliver_due(ctx) == {"delivered": 1}  # head first ...
        assert delivery.deliver_due(ctx) == {"delivered": 1}  # ... then the next
    assert [a["body"]["type"] for a in host.accepted] == ["payment.posted",
                                                         "payment.cancelled"]


def _events(ctx, tenant_id, count, prefix):
    """``count`` host events, each of its own payment (its own order)."""
    with ctx.transaction() as session:
        for n in range(count):
            events.emit(session, tenant_id, "payment.posted", {"payment": f"{prefix}{n}"},
                        f"payment:{prefix}{n}", ctx.now())


def test_a_receiver_that_is_down_holds_back_only_its_own_deliveries(ctx, tenant_id):
    ctx.clock = Clock()
    with Receiver(fail_first=10**6) as down, Receiver() as up:
        _endpoint(ctx, tenant_id, down)
        _events(ctx, tenant_id, 25, "DOWN-")
        assert delivery.deliver_due(ctx) == {"retrying": 25}  # now waiting out a backoff
        _endpoint(ctx, tenant_id, up)
        _events(ctx, tenant_id, 1, "BOTH-")
        results = [delivery.deliver_due(ctx, limit=1) for _ in range(2)]
    assert results == [{"retrying": 1}, {"delivered": 1}]  # the older head first
    assert [a["body"]["data"]["payment"] for a in up.accepted] == ["BOTH-0"]


def test_deliveries_given_up_raise_one_to_do_a_receiver_and_a_replay_starts_again(
        ctx, tenant_id):
    ctx.clock = Clock()
    with Receiver(fail_first=10**6) as down:
        endpoint = _endpoint(ctx, tenant_id, down, ["payment.posted"])
        _events(ctx, tenant_id, 2, "P")
        assert delivery.deliver_due(ctx) == {"retrying": 2}
        ctx.clock.advance(days=3, seconds=1)
        assert delivery.deliver_due(ctx) == {"dead": 2}
        with ctx.transaction() as session:
            todos = session.scalars(select(Todo).where(Todo.kind == "outbox.dead")).all()
            assert [t.title for t in todos] == [
                f"Deliveries to endpoint {endpoint.id} ({down.url}) given up after 3 days of "
                "retries"]
            dead = session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.id)).first()
            delivery.replay(session, dead, ctx.now())
        assert delivery.deliver_due(ctx) == {"retrying": 1}  # three days again, not dead


def test_a_worker_killed_mid_delivery_leaves_it_to_be_delivered_again(ctx, tenant_id,
                                                                      tmp_path):
    with Receiver(delay_seconds=3) as host:
        _endpoint(ctx, tenant_id, host)
        _counter(ctx, tenant_id)
        script = ("import sys; from loket.core.config import AppConfig; "
                  "from loket.core.context import Loket; "
                  "from loket.core.outbox.delivery import deliver_due; "
                  "ctx = Loket.create(AppConfig(database_url=sys.argv[1], var_dir=sys.argv[2],"
                  " secret_keys=(sys.argv[3],), host_webhooks_allow_private=True)); "
                  "deliver_due(ctx)")
        worker = subprocess.Popen([sys.executable, "-c", script, ctx.config.database_url,
                                   str(tmp_path / "worker"), ctx.config.secret_keys[0]],
                                  start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _deliveries(ctx)[0].leased_until:
            time.sleep(0.1)
        time.sleep(0.5)  # the request is on its way
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        (row,) = _deliveries(ctx)
        assert (row.status, row.attempts) == ("pending", 0)  # the outcome was never written
        assert delivery.deliver_due(ctx) == {}  # still leased to the dead worker
        clock = Clock()
        clock.advance(seconds=delivery.LEASE.total_seconds() + 1)
        ctx.clock = clock
        host.delay_seconds = 0
        assert delivery.deliver_due(ctx) == {"delivered": 1}
        time.sleep(3.5)  # the dead worker's request finishes at the receiver
    ids = [r["event_id"] for r in host.requests]
    assert len(ids) == 2 and len(set(ids)) == 1  # at least once, deduplicated by its id


def test_the_feed_serves_the_same_events_after_a_cursor(ctx, tenant_id):
    from support.api import make_api
    api = make_api(ctx, tenant_id)
    first = _counter(ctx, tenant_id)
    second = _counter(ctx, tenant_id, "INV-2025-001567", "152.25")
    page = api.get("/v1/host/events", role="billing_manager").json
    assert [i["data"]["payment"]["number"] for i in page["items"]] == [first.number,
                                                                      second.number]
    after = api.get(f"/v1/host/events?after={page['items'][0]['cursor']}",
                    role="tenant_admin").json
    assert [i["id"] for i in after["items"]] == [page["items"][1]["id"]]
    assert after["next_cursor"] == page["next_cursor"]
    assert api.get("/v1/host/events", role="cso_executive").status_code == 403


def test_endpoints_over_http_show_the_secret_once_and_list_deliveries(ctx, tenant_id):
    from support.api import fields, make_api
    api = make_api(ctx, tenant_id)
    with Receiver() as host:
        made = api.post("/v1/host/webhook-endpoints", {"url": host.url,
                                                        "event_types": ["payment.posted"]},
                        role="tenant_admin")
        assert made.status_code == 201 and made.json["secret"].startswith("whsec_")
        host.secret = made.json["secret"]
        listed = api.get("/v1/host/webhook-endpoints", role="tenant_admin").json
        assert "secret" not in listed["items"][0]
        _counter(ctx, tenant_id)
        delivery.deliver_due(ctx)
        endpoint_id = made.json["id"]
        rows = api.get(f"/v1/host/webhook-endpoints/{endpoint_id}/deliveries",
                       role="tenant_admin").json["items"]
        assert [(r["type"], r["status"]) for r in rows] == [("payment.posted", "delivered")]
        for odd in ("%C2%B2", "1" * 23):  # a superscript digit, an id beyond any row's
            assert api.get(f"/v1/host/webhook-endpoints/{odd}/deliveries",
                           role="tenant_admin").status_code == 404
        replayed = api.post(f"/v1/host/webhook-endpoints/{endpoint_id}/deliveries/"
                            f"{rows[0]['id']}/replay", role="tenant_admin")
        assert replayed.status_code == 200 and replayed.json["status"] == "pending"
        delivery.deliver_due(ctx)
        assert len(host.accepted) == 2 and len(set(host.event_ids())) == 1
        bad = api.post("/v1/host/webhook-endpoints", {"url": "ftp://x",
                                                      "event_types": ["nope"]},
                       role="tenant_admin")
        assert bad.status_code == 422 and "url" in fields(bad)
        assert api.call("DELETE", f"/v1/host/webhook-endpoints/{endpoint_id}",
                        role="tenant_admin").status_code == 204
        assert api.get("/v1/host/webhook-endpoints", role="tenant_admin").json["items"] == []


def _message(ctx, tenant_id, recipient="someone", key="m1"):
    with ctx.transaction() as session:
        events.emit_message(session, Notification(
            tenant_id=tenant_id, kind="payment.posted", subject="s", body="b", recipients=(),
            data={}), [("log", recipient)], key, now=ctx.now())


def test_a_send_that_outlasts_its_lease_is_not_recorded_over_the_worker_that_took_it_over(
        ctx, tenant_id):
    ctx.clock = Clock()
    _message(ctx, tenant_id)
    (row,) = _deliveries(ctx)
    sent, second = [], []

    def second_worker(_ctx, _delivery, _event):
        sent.append("B")
        return delivery.Outcome(True, reference="SM-B")

    def stalled(_ctx, _delivery, _event):
        ctx.clock.advance(seconds=delivery.LEASE.total_seconds() + 30)  # the lease lapses
        second.append(delivery.attempt(ctx, row.id, second_worker))
        sent.append("A")
        return delivery.Outcome(True, reference="SM-A")

    assert delivery.attempt(ctx, row.id, stalled) is None  # its outcome came too late
    assert second == ["delivered"] and sent == ["B", "A"]
    (row,) = _deliveries(ctx)
    assert (row.status, row.attempts, row.provider_reference) == ("delivered", 1, "SM-B")


def test_an_endpoint_whose_secret_no_key_decrypts_never_blocks_other_deliveries(
        ctx, tenant_id):
    ctx.clock = Clock()
    with Receiver() as good:
        stranded = _endpoint(ctx, tenant_id, SimpleNamespace(url=good.url + "/stranded"),
                             ["payment.posted"])
        with ctx.transaction() as session:  # saved under a key this install no longer has
            session.get(HostWebhookEndpoint, stranded.id).secret_encrypted = SecretBox(
                (SecretBox.generate_key(),)).encrypt({"secret": "whsec_old"})
        _endpoint(ctx, tenant_id, good, ["todo.raised"])
        _events(ctx, tenant_id, 1, "P")
        with ctx.transaction() as session:
            events.emit(session, tenant_id, "todo.raised", {"todo": 1}, "todo:1", ctx.now())
        _message(ctx, tenant_id)
        assert delivery.deliver_due(ctx) == {"retrying": 1, "delivered": 2}
        assert len(good.accepted) == 1
        ctx.clock.advance(days=3, seconds=1)
        assert delivery.deliver_due(ctx) == {"dead": 1}  # given up like any other
    dead = [d for d in _deliveries(ctx) if d.status == "dead"]
    assert [(d.endpoint_id, d.last_error) for d in dead] == [(stranded.id,
                                                             posting.NOT_PREPARED)]


def test_a_slow_receiver_uses_up_its_time_and_leaves_the_run_to_the_others(
        ctx, tenant_id, monkeypatch):
    monkeypatch.setattr(posting, "SEND_DEADLINE", 0.6)
    monkeypatch.setattr(delivery, "TARGET_BUDGET", dt.timedelta(seconds=1))
    with Trickler() as slow, Receiver() as fast:
        _endpoint(ctx, tenant_id, slow, ["payment.posted"])
        _endpoint(ctx, tenant_id, fast, ["todo.raised"])
        _events(ctx, tenant_id, 3, "SLOW-")  # three orders: each is a head
        with ctx.transaction() as session:
            events.emit(session, tenant_id, "todo.raised", {"todo": 1}, "todo:1", ctx.now())
        assert delivery.deliver_due(ctx) == {"retrying": 2, "deferred": 1, "delivered": 1}
    assert slow.connections == 2 and len(fast.accepted) == 1


def test_a_message_refused_for_good_is_given_up_at_once_with_its_to_do(ctx, tenant_id):
    ctx.clock = Clock()
    _message(ctx, tenant_id, recipient="0812")
    (row,) = _deliveries(ctx)

    def refused(_ctx, _delivery, _event):
        raise Undeliverable("Twilio refused the message (HTTP 400, code 21211)")

    def down(_ctx, _delivery, _event):
        raise ConnectionError("the provider is down")

    assert delivery.attempt(ctx, row.id, down) == "retrying"  # a failure for now
    ctx.clock.advance(hours=1)
    assert delivery.attempt(ctx, row.id, refused) == "dead"  # not three days of retries
    (row,) = _deliveries(ctx)
    assert row.attempts == 2 and row.last_error.startswith("refused for good: ")
    with ctx.transaction() as session:
        [todo] = session.scalars(select(Todo).where(Todo.kind == "outbox.dead")).all()
    assert todo.title == "Deliveries to log 0812 refused for good"
