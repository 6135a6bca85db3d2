"""``/v1/host/webhook-endpoints``: a URL loket must not send to is a 422 naming ``url`` (a
malformed one too, never a 500), and a delivery's error is told in coarse words, never as
the network's own (no port scan through the deliveries list). A tenant admin rotates an
endpoint's secret without a delivery refused: the old secret signs beside the new one
until the overlap ends, and no secret is kept anywhere but encrypted on the endpoint."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket

import attrs
from sqlalchemy import select
from support.api import api, fields  # noqa: F401 - fixture
from support.jobs import Clock
from support.outbox import Receiver

from loket.core.models import AuditEntry, HostWebhookEndpoint, IdempotencyKey
from loket.core.outbox import delivery, events, signing
from loket.server import serialize as s


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


ROTATE = "/v1/host/webhook-endpoints/{}/rotate-secret"


def _registered(api, receiver):  # noqa: F811 - fixture
    made = api.post("/v1/host/webhook-endpoints", {"url": receiver.url}, role="tenant_admin")
    assert made.status_code == 201, made.text
    receiver.secret = made.json["secret"]
    return made.json


def _delivered(api, receiver, name):  # noqa: F811 - fixture
    """One event, delivered now: the request the receiver got for it."""
    with api.ctx.transaction() as session:
        events.emit(session, api.tenant_id, "todo.raised", {"todo": name}, name, api.ctx.now())
    outcome = delivery.deliver_due(api.ctx)
    (request,) = [r for r in receiver.requests if r["body"]["data"] == {"todo": name}]
    return outcome, request


def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(api):  # noqa: F811
    api.ctx.clock = Clock()
    with Receiver(clock=lambda: api.ctx.now().timestamp()) as host:
        endpoint = _registered(api, host)
        old = host.secret
        rotated = api.post(ROTATE.format(endpoint["id"]), {"expires_in_hours": 2},
                           role="tenant_admin")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json["secret"]
        assert new.startswith("whsec_") and new != old
        ends = api.ctx.now() + dt.timedelta(hours=2)
        assert rotated.json["previous_secret_expires_at"] == s.when(ends)
        (listed,) = api.get("/v1/host/webhook-endpoints", role="tenant_admin").json["items"]
        assert listed["previous_secret_expires_at"] == s.when(ends) and "secret" not in listed

        # The host has not switched yet: its old secret still verifies, and so does the new.
        outcome, during = _delivered(api, host, "during")
        assert outcome == {"delivered": 1}
        stamp = int(api.ctx.now().timestamp())
        for secret in (old, new):
            assert signing.verify(secret, during["signature"], during["raw"], stamp)
        assert len(signing.parse(during["signature"])[1]) == 2

        api.ctx.clock.advance(hours=2)
        host.secret = old  # a host that never switched is refused from now on
        outcome, after = _delivered(api, host, "after")
        assert outcome == {"retrying": 1}
        stamp = int(api.ctx.now().timestamp())
        assert signing.verify(new, after["signature"], after["raw"], stamp)
        assert not signing.verify(old, after["signature"], after["raw"], stamp)
        assert len(signing.parse(after["signature"])[1]) == 1
        (listed,) = api.get("/v1/host/webhook-endpoints", role="tenant_admin").json["items"]
        assert listed["previous_secret_expires_at"] is None


def test_only_a_tenant_admin_rotates_and_the_overlap_is_bounded(api):  # noqa: F811 - fixture
    api.ctx.clock = Clock()
    with Receiver() as host:
        endpoint = _registered(api, host)
        path = ROTATE.format(endpoint["id"])
        for role in ("billing_manager", "cso_admin"):
            refused = api.post(path, {}, role=role)
            assert refused.status_code == 403, refused.text
        for hours in (-1, 169, "24", 1.5):
            answer = api.post(path, {"expires_in_hours": hours}, role="tenant_admin")
            assert answer.status_code == 422 and fields(answer) == {"expires_in_hours"}
        assert api.post(ROTATE.format(999999), {}, role="tenant_admin").status_code == 404
        with api.ctx.transaction() as session:  # nothing of the refused requests stayed
            row = session.get(HostWebhookEndpoint, endpoint["id"])
            assert row.previous_secret_encrypted is None
            assert api.ctx.secrets.decrypt(row.secret_encrypted) == {"secret": host.secret}
        answer = api.call("POST", path, "tenant_admin")  # no body: a day of overlap
        assert answer.status_code == 200, answer.text
        assert answer.json["previous_secret_expires_at"] == s.when(
            api.ctx.now() + dt.timedelta(hours=24))


def test_a_repeated_rotation_answers_the_same_secret_which_is_stored_only_encrypted(
        api):  # noqa: F811 - fixture
    with Receiver() as host:
        endpoint = _registered(api, host)
        path = ROTATE.format(endpoint["id"])
        key = {"Idempotency-Key": "rotate-1"}
        first = api.post(path, {"expires_in_hours": 1}, role="tenant_admin", headers=key)
        again = api.post(path, {"expires_in_hours": 1}, role="tenant_admin", headers=key)
        assert first.status_code == again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json == first.json  # rotated once: the host's old secret still signs
        with api.ctx.transaction() as session:
            stored = json.dumps([k.result for k in session.scalars(select(IdempotencyKey))])
            assert first.json["secret"] not in stored
            row = session.get(HostWebhookEndpoint, endpoint["id"])
            assert api.ctx.secrets.decrypt(row.previous_secret_encrypted) == {
                "secret": host.secret}
        assert api.post(path, {}, role="tenant_admin").status_code == 200  # rotated again
        late = api.post(path, {"expires_in_hours": 1}, role="tenant_admin", headers=key)
        assert late.status_code == 409 and fields(late) == {"Idempotency-Key"}
        assert first.json["secret"] not in late.text


def test_a_repeated_registration_answers_the_same_endpoint_and_secret(api):  # noqa: F811
    key = {"Idempotency-Key": "register-1"}
    body = {"url": "http://127.0.0.1:9/in"}
    first = api.post("/v1/host/webhook-endpoints", body, role="tenant_admin", headers=key)
    again = api.post("/v1/host/webhook-endpoints", body, role="tenant_admin", headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json == first.json and first.json["secret"].startswith("whsec_")
    assert len(api.get("/v1/host/webhook-endpoints", role="tenant_admin").json["items"]) == 1
    with api.ctx.transaction() as session:
        stored = json.dumps([k.result for k in session.scalars(select(IdempotencyKey))])
    assert first.json["secret"] not in stored


def test_a_secret_is_never_in_the_audit_trail_the_logs_or_an_error(api, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    api.ctx.clock = Clock()
    with Receiver() as host:
        endpoint = _registered(api, host)
        path = ROTATE.format(endpoint["id"])
        secrets = [host.secret]
        secrets.append(api.post(path, {"expires_in_hours": 0}, role="tenant_admin")
                       .json["secret"])
        secrets.append(api.post(path, {}, role="tenant_admin").json["secret"])
        host.secret = secrets[-1]
        assert _delivered(api, host, "signed")[0] == {"delivered": 1}
        refused = api.post(path, {"expires_in_hours": 1000}, role="tenant_admin")
        assert refused.status_code == 422
    with api.ctx.transaction() as session:
        trail = session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "webhook_endpoint")).all()
        assert [a.action for a in trail] == ["webhook_endpoint.created"] + [
            "webhook_endpoint.secret_rotated"] * 2
        assert trail[-1].after == {"previous_secret_expires_at": (
            api.ctx.now() + dt.timedelta(hours=24)).isoformat()}
        written = json.dumps([[a.before, a.after] for a in trail]) + refused.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in written and secret not in logged
