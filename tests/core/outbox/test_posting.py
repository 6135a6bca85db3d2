"""Sending a host event: each send checks the endpoint's address again, connects only to
an allowed one, ends within its deadline however slowly the receiver answers, and records
its failure in coarse words."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import attrs
from sqlalchemy import select
from support.engine import ACTOR
from support.outbox import Receiver, Trickler
from support.tls import self_signed, server_context

from loket.core.models import OutboxDelivery
from loket.core.outbox import delivery, endpoints, events, posting


def _endpoint(ctx, tenant_id, url):
    with ctx.transaction() as session:
        row, _secret = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, url, [])
    return row


def _event(ctx, tenant_id, key="payment:P1"):
    with ctx.transaction() as session:
        events.emit(session, tenant_id, "payment.posted", {"payment": key}, key, ctx.now())


def _errors(ctx) -> dict[str, str | None]:
    with ctx.transaction() as session:
        return {d.recipient: d.last_error for d in session.scalars(select(OutboxDelivery))}


def test_a_send_refuses_an_address_no_longer_allowed_and_connects_to_nothing(ctx, tenant_id):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    # Registered while the operator allowed its own network; then the setting is off (or a
    # name registered as public now resolves to loopback, as localhost does).
    named, plain = f"https://localhost:{port}/in", f"http://127.0.0.1:{port}/in"
    _endpoint(ctx, tenant_id, named)
    _endpoint(ctx, tenant_id, plain)
    _event(ctx, tenant_id)
    ctx.config = attrs.evolve(ctx.config, host_webhooks_allow_private=False)
    with listener:
        assert delivery.deliver_due(ctx) == {"retrying": 2}
        try:
            listener.accept()
            connected = True
        except TimeoutError:
            connected = False
    assert not connected
    assert _errors(ctx) == {named: posting.NOT_ALLOWED, plain: posting.HTTPS_REQUIRED}


def test_failures_are_recorded_in_coarse_words(ctx, tenant_id):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with Receiver(fail_first=1) as failing:
        _endpoint(ctx, tenant_id, f"http://127.0.0.1:{port}/")
        _endpoint(ctx, tenant_id, failing.url)
        _event(ctx, tenant_id)
        assert delivery.deliver_due(ctx) == {"retrying": 2}
    assert _errors(ctx) == {f"http://127.0.0.1:{port}/": posting.CONNECTION_FAILED,
                            failing.url: "HTTP 500"}


def test_what_older_rows_stored_is_reduced_to_coarse_words():
    refused = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=1): Max retries "
               "exceeded … [Errno 111] Connection refused")
    assert posting.public_error(refused) == posting.CONNECTION_FAILED
    slow = "ReadTimeout: HTTPConnectionPool(host='10.0.0.8', port=80): Read timed out."
    assert posting.public_error(slow) == posting.TIMEOUT
    assert posting.public_error("ConfigurationError: stored credentials cannot be "
                                "decrypted") == "failed"
    for kept in (None, "HTTP 503", "timeout", "endpoint deleted", posting.NOT_ALLOWED):
        assert posting.public_error(kept) == kept


def test_a_trickling_receiver_is_cut_off_at_the_deadline_so_the_lease_holds(
        ctx, tenant_id, monkeypatch):
    assert posting.SEND_DEADLINE * 4 <= delivery.LEASE.total_seconds()
    monkeypatch.setattr(posting, "SEND_DEADLINE", 1.5)
    with Trickler(seconds=6) as slow:
        _endpoint(ctx, tenant_id, slow.url)
        _event(ctx, tenant_id)
        results = []
        started = time.monotonic()
        first = threading.Thread(target=lambda: results.append(delivery.deliver_due(ctx)))
        first.start()
        time.sleep(0.7)
        assert delivery.deliver_due(ctx) == {}  # a second worker: the first holds the lease
        first.join(timeout=10)
        elapsed = time.monotonic() - started
    assert results == [{"retrying": 1}]
    assert 1.4 < elapsed < 3.0
    assert slow.connections == 1
    assert list(_errors(ctx).values()) == [posting.TIMEOUT]


def test_an_https_endpoint_must_show_a_certificate_a_trusted_ca_signed(ctx, tenant_id,
                                                                       tmp_path):
    certificate, key = self_signed(tmp_path / "tls")
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes = []

    def serve():
        with contextlib.suppress(OSError):
            peer, _ = listener.accept()
            with server_context(certificate, key).wrap_socket(peer, server_side=True) as tls:
                handshakes.append("done")
                tls.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/in"
    _endpoint(ctx, tenant_id, url)
    _event(ctx, tenant_id)
    with listener:
        assert delivery.deliver_due(ctx) == {"retrying": 1}
    assert handshakes == [] and _errors(ctx) == {url: posting.CONNECTION_FAILED}
