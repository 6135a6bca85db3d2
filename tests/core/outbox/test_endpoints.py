"""Registering a host webhook endpoint: only a public https URL, unless the operator lets
endpoints be on its own network (``LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE``)."""

from __future__ import annotations

import attrs
import pytest
from support.engine import ACTOR

from loket.core.outbox import endpoints
from loket.errors import ValidationFailed

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
