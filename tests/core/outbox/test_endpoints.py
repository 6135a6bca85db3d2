"""Registering a host webhook endpoint: only a public https URL, unless the operator lets
endpoints be on its own network (``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE``). Rotating its
secret: the secret replaced signs beside the new one for the overlap asked, and never more
than two sign."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from support.engine import ACTOR
from support.jobs import Clock

from loket.core.models import HostWebhookEndpoint
from loket.core.outbox import endpoints
from loket.core.secrets import SecretBox
from loket.errors import NotFound, ValidationFailed

REFUSED = [
    "http://169.254.169.254/latest",  # a cloud metadata service
    "https://169.254.169.254/latest",
    "http://127.0.0.1:6379/",
    "https://127.0.0.1:8443/admin",
    "https://localhost/",  # a name that resolves to loopback
    "https://[::1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://10.0.0.8/hooks",
    "https://192.168.1.1/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "http://hooks.example.com/in",  # public, but plain http
]


def _public_only(ctx):
    ctx.config = attrs.evolve(ctx.config, host_webhooks_allow_private=False)


def _register(ctx, tenant_id, url):
    with ctx.transaction() as session:
        return endpoints.create_endpoint(ctx, session, ACTOR, tenant_id, url, [])[0]


@pytest.mark.parametrize("url", REFUSED)
def test_an_endpoint_on_the_operators_network_or_over_http_is_refused(ctx, tenant_id, url):
    _public_only(ctx)
    with pytest.raises(ValidationFailed) as refused:
        _register(ctx, tenant_id, url)
    assert refused.value.errors[0]["field"] == "url"
    assert "127.0.0.1" not in refused.value.detail  # what a name resolves to is not told


def test_a_public_https_endpoint_is_registered_and_a_name_not_resolving_yet_too(
        ctx, tenant_id):
    _public_only(ctx)
    assert _register(ctx, tenant_id, "https://93.184.215.14/hooks").url.endswith("/hooks")
    # Checked again at each send: the name may be set up after the endpoint.
    assert _register(ctx, tenant_id, "https://hooks.not-yet.invalid/in").id


def test_the_operator_allows_its_own_network_and_plain_http(ctx, tenant_id):
    ctx.config = attrs.evolve(ctx.config, host_webhooks_allow_private=True)
    for url in ("http://127.0.0.1:9000/in", "http://10.0.0.8/hooks", "http://localhost/x"):
        assert _register(ctx, tenant_id, url).url == url


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ["http://[::1/x", "ftp://hooks.example/", "https://u:p@h/",
                                 "https://h:99999/", "https:///nohost"])
def test_a_malformed_url_is_refused_naming_it(ctx, tenant_id, url, allow_private):
    ctx.config = attrs.evolve(ctx.config, host_webhooks_allow_private=allow_private)
    with pytest.raises(ValidationFailed) as refused:
        _register(ctx, tenant_id, url)
    assert refused.value.errors[0]["field"] == "url"


def _rotate(ctx, tenant_id, endpoint_id, hours):
    with ctx.transaction() as session:
        row, secret = endpoints.rotate_secret(ctx, session, ACTOR, tenant_id, endpoint_id,
                                              hours)
        return secret, endpoints.signing_secrets(ctx, row, ctx.now())


def _signing(ctx, endpoint_id, at):
    with ctx.transaction() as session:
        return endpoints.signing_secrets(ctx, session.get(HostWebhookEndpoint, endpoint_id), at)


def test_a_rotation_during_an_overlap_stops_the_older_secret_at_once(ctx, tenant_id):
    ctx.clock = Clock()
    with ctx.transaction() as session:
        row, first = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                               "http://127.0.0.1:9000/in", [])
    assert _signing(ctx, row.id, ctx.now()) == [first]
    second, live = _rotate(ctx, tenant_id, row.id, 24)
    assert live == [second, first]
    ctx.clock.advance(hours=1)
    third, live = _rotate(ctx, tenant_id, row.id, 2)
    assert live == [third, second]  # at most two sign: the first stopped now
    assert _signing(ctx, row.id, ctx.now() + dt.timedelta(hours=2, seconds=-1)) == [
        third, second]
    assert _signing(ctx, row.id, ctx.now() + dt.timedelta(hours=2)) == [third]
    fourth, live = _rotate(ctx, tenant_id, row.id, 0)  # a leaked secret: no overlap
    assert live == [fourth]


def test_a_secret_no_key_decrypts_is_not_kept_signing_by_a_rotation(ctx, tenant_id):
    with ctx.transaction() as session:
        row, _ = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                           "http://127.0.0.1:9000/in", [])
        row.secret_encrypted = SecretBox((SecretBox.generate_key(),)).encrypt({"secret": "x"})
    new, live = _rotate(ctx, tenant_id, row.id, 24)
    assert live == [new]  # deliveries are signed again, rather than failing for a day


def test_a_deleted_or_another_tenants_endpoint_is_not_rotated(ctx, tenant_id):
    with ctx.transaction() as session:
        row, _ = endpoints.create_endpoint(ctx, session, ACTOR, tenant_id,
                                           "http://127.0.0.1:9000/in", [])
    with pytest.raises(NotFound):
        _rotate(ctx, tenant_id + 1, row.id, 24)
    with ctx.transaction() as session:
        endpoints.delete_endpoint(ctx, session, ACTOR, tenant_id, row.id)
    with pytest.raises(NotFound):
        _rotate(ctx, tenant_id, row.id, 24)
