"""The role matrix, tested as a matrix: every role x every operation -> allowed or 403;
no credential -> 401; public operations need none; the matrix and the OpenAPI document
list the same operations; docs/api.md shows the matrix as it is."""

from __future__ import annotations

import re

import pytest
from support import REPO
from support.api import api, problem  # noqa: F401 - fixture

from loket.core import tenants
from loket.core.audit import Actor
from loket.core.tenants import ROLES
from loket.server import openapi, roles

DOCS = REPO / "docs" / "api.md"


def concrete(path: str) -> str:
    """A request path for a template (ids that exist nowhere)."""
    return re.sub(r"\{(todo_id|event_id)\}", "999", re.sub(r"\{(?!todo_id|event_id)[^}]+\}",
                                                           "nothing-here", path))


def test_the_matrix_covers_exactly_the_documented_operations():
    documented = set(openapi.operations())
    assert documented == set(roles.MATRIX) | set(roles.PUBLIC)
    assert not set(roles.MATRIX) & set(roles.PUBLIC)
    for allowed in roles.MATRIX.values():
        assert set(allowed) <= set(ROLES) and allowed


def test_every_role_on_every_operation_is_allowed_or_403(api):
    outcomes = {}
    for (method, path), allowed in roles.MATRIX.items():
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for role in ROLES:
            result = api.call(method, concrete(path), role, json_body=body)
            outcomes[(method, path, role)] = result.status_code
            if role in allowed:
                assert result.status_code not in (401, 403), (method, path, role, result.text)
                assert result.status_code < 500, (method, path, role, result.text)
            else:
                assert result.status_code == 403, (method, path, role, result.text)
                assert problem(result)["title"] == "Forbidden"
    assert len(outcomes) == len(roles.MATRIX) * len(ROLES)


@pytest.mark.parametrize("method,path", sorted(roles.MATRIX))
def test_no_credential_is_401(api, method, path):
    result = api.call(method, concrete(path), None, json_body={} if method != "GET" else None)
    assert result.status_code == 401
    assert result.headers["www-authenticate"].startswith("Bearer")
    assert problem(result)["errors"][0]["field"] == "Authorization"


def test_bad_credentials_are_401(api):
    for header in ("Bearer lk_not-a-key", "Bearer not.a-token", "Basic abc", "Bearer "):
        result = api.client.simulate_get("/v1/payments", headers={"Authorization": header})
        assert result.status_code == 401, header
    expired = api.ctx.config.secret_keys[0].encode()
    from loket.core.tenants import TokenSigner
    token = TokenSigner(expired).consumer_token(api.tenant_id, "WU-10001", 60, now=0)
    result = api.client.simulate_get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert result.status_code == 401 and "expired" in problem(result)["detail"]


def test_public_operations_need_no_credential(api):
    assert api.client.simulate_get("/health").json["database"] == "ok"
    assert api.client.simulate_get("/openapi.json").json["openapi"].startswith("3.1")
    assert api.client.simulate_post("/v1/webhooks/sandbox/unknown", body=b"{}").status_code == 404


def test_objects_of_another_tenant_are_404(api):
    from support.api import ACTOR, make_api

    from loket.core import tenants
    from loket.core.host import receivables
    with api.ctx.transaction() as session:
        other = tenants.create_tenant(session, ACTOR, "t2", "Other Water", {"currency": "USD"})
        receivables.upsert_consumer(session, ACTOR, other.id,
                                    {"account_number": "OT-1", "name": "Olga Other"})
    paid = api.post("/v1/payments/counter", {
        "account_number": "CRN29391", "payment_type": "bill", "method": "cash",
        "paid_on": "2025-01-15", "amount_received": "10.00"}).json["information"]["number"]
    foreign = make_api(api.ctx, other.id)
    assert foreign.get(f"/v1/payments/{paid}").status_code == 404
    assert foreign.get("/v1/consumers/CRN29391").status_code == 404
    assert foreign.get("/v1/payments").json["total"] == 0
    assert api.get("/v1/consumers/OT-1").status_code == 404


def test_docs_show_the_matrix_as_enforced():
    assert roles.markdown_table() in DOCS.read_text()


# The roles' rules as docs/api.md states them, written out independently of roles.MATRIX:
# if the table drifts, these catch it against the running app.
STAFF = {"tenant_admin", "cso_admin", "cso_executive", "billing_manager",
         "recovery_executive", "customer_executive"}
RULES = [
    # only a tenant admin configures gateways
    ("PUT", "/v1/gateways/sandbox/credentials", {"tenant_admin"}),
    ("PUT", "/v1/gateways/sandbox/active", {"tenant_admin"}),
    ("POST", "/v1/gateways/sandbox/connect", {"tenant_admin"}),
    # consumers pay; staff do not use the consumer's endpoints
    ("POST", "/v1/me/checkout", {"consumer"}),
    # staff record and view payments; consumers never see the staff list
    ("GET", "/v1/payments", STAFF),
    # posted payments are edited only by admins
    ("PATCH", "/v1/payments/PAY-1", {"tenant_admin", "cso_admin"}),
    ("POST", "/v1/payments/PAY-1/cancel", {"tenant_admin", "cso_admin"}),
    # a consumer token acts as the consumer (auto-pay included): the host's back end and
    # the staff who pay for payers issue it, not every staff role
    ("POST", "/v1/consumers/WU-10001/token", {"tenant_admin", "billing_manager", "cso_admin",
                                              "cso_executive", "customer_executive"}),
]


def test_issuing_a_consumer_token_is_audited_with_its_issuer(api):
    issued = api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600},
                      role="customer_executive")
    assert issued.status_code == 201, issued.text
    trail = api.get("/v1/audit/consumer/WU-10001", role="tenant_admin").json["items"]
    assert [(a["action"], a["actor"]) for a in trail if a["action"] == "consumer.token_issued"
            ] == [("consumer.token_issued", "test customer_executive")]


def test_a_consumer_token_is_refused_once_the_key_that_issued_it_is_revoked(api, ctx,
                                                                          tenant_id):
    def token_of(role):
        issued = api.post("/v1/consumers/WU-10001/token", {"ttl_seconds": 600}, role=role)
        assert issued.status_code == 201, issued.text
        return {"Authorization": f"Bearer {issued.json['token']}"}

    kept, dropped = token_of("customer_executive"), token_of("cso_executive")
    with ctx.transaction() as session:
        tenants.revoke_api_key(session, Actor("admin", "tenant_admin"), tenant_id,
                               api.keys["cso_executive"][:12], ctx.now())
    refused = api.client.simulate_get("/v1/me", headers=dropped)
    assert refused.status_code == 401 and "revoked" in refused.json["detail"]
    assert api.client.simulate_get("/v1/me", headers=kept).status_code == 200


@pytest.mark.parametrize("method,path,allowed", RULES)
def test_the_documented_role_rules_hold_in_the_running_app(api, method, path, allowed):
    for role in ROLES:
        result = api.call(method, path, role, json_body={} if method != "GET" else None)
        if role in allowed:
            assert result.status_code not in (401, 403), (role, result.text)
        else:
            assert result.status_code == 403, (role, result.status_code)
