"""Gateway administration under hostile or unlucky conditions: secrets never echoed or
printed, an unreachable gateway answered in one sentence with a reason, and optional
gateway features missing (or credentials missing) answered 4xx, not 500."""

from __future__ import annotations

import datetime as dt
import logging

import attrs
import falcon.testing
from support.api import api, connected_api, problem  # noqa: F401 - fixtures

from loket.core.gateway_configs import configs
from loket.server.app import create_app
from loket.types import GatewayConfig

SECRET = "sk_live_" + "S3cr3t" * 4 + "!!"
REVIEW = "Please review all the details entered above and retry to connect"


def _stripe_credentials(secret_key: str, mode: str = "live") -> dict:
    return {"secret_key": secret_key, "publishable_key": f"pk_{mode}_" + "p" * 24,
            "webhook_secret": "whsec_" + "w" * 24}


def test_a_refused_credential_is_named_with_its_rule_never_echoed(api):
    assert api.put("/v1/gateways/stripe/active", {"active": True}).status_code == 200
    refused = api.put("/v1/gateways/stripe/credentials",
                      {"credentials": _stripe_credentials(SECRET)})
    assert refused.status_code == 422, refused.text
    errors = problem(refused)["errors"]
    assert errors[0]["field"] == "secret_key" and "format" in errors[0]["message"]
    assert "S3cr3t" not in refused.text


def test_a_gateway_configuration_never_prints_its_credentials():
    config = GatewayConfig(id=1, tenant_id=1, kind="stripe", currency="USD",
                           credentials={"secret_key": SECRET})
    assert "S3cr3t" not in repr(config) and "S3cr3t" not in str(config)


def test_an_unreachable_gateway_is_one_sentence_and_a_reason(api, caplog):
    api.ctx.config = attrs.evolve(api.ctx.config, gateway_options={
        "stripe": {"api_base": "http://127.0.0.1:9"}})  # nothing listens on the discard port
    client = falcon.testing.TestClient(create_app(api.ctx))
    headers = api.headers("tenant_admin")
    client.simulate_put("/v1/gateways/stripe/active", json={"active": True}, headers=headers)
    caplog.set_level(logging.WARNING)
    answer = client.simulate_put(
        "/v1/gateways/stripe/credentials", headers=headers,
        json={"credentials": _stripe_credentials("sk_test_" + "k" * 24, "test")})
    assert answer.status_code == 502, answer.text
    document = problem(answer)
    assert document["detail"] == REVIEW and document["reason"] == "unreachable"
    for raw in ("ConnectionPool", "Errno", "127.0.0.1", "Traceback", "communicating"):
        assert raw not in answer.text
    assert "credential check" in caplog.text  # the exception went to the log instead


def test_fetching_settlements_of_a_gateway_without_credentials_is_409(api):
    assert api.put("/v1/gateways/stripe/active", {"active": True}).status_code == 200
    today = dt.date.today().isoformat()
    answer = api.post("/v1/reconciliation/fetch", {"gateway": "stripe", "from": today,
                                                   "to": today}, role="billing_manager")
    assert answer.status_code == 409, answer.text
    assert problem(answer)["errors"][0]["field"] == "credentials"
    assert "credentials" in problem(answer)["detail"]


def test_a_report_upload_to_a_gateway_that_reads_no_reports_is_422(api):
    with api.ctx.transaction() as session:  # Stripe configured (its live check aside)
        row = configs.get_row(session, api.tenant_id, "stripe", create=True)
        row.active = True
        row.credentials_encrypted = api.ctx.secrets.encrypt(
            _stripe_credentials("sk_test_" + "k" * 24, "test"))
    answer = api.post("/v1/gateways/stripe/settlement-reports",
                      {"filename": "report.csv", "content": "a,b\n1,2\n"},
                      role="billing_manager")
    assert answer.status_code == 422, answer.text
    assert "does not read settlement reports" in problem(answer)["detail"]
    assert problem(answer)["errors"][0]["field"] == "kind"
    as_file = api.call("POST", "/v1/gateways/stripe/settlement-report-files",
                       role="billing_manager", body=b"a,b\n1,2\n",
                       params={"filename": "report.csv"})
    assert as_file.status_code == 422, as_file.text
    assert "does not read settlement reports" in problem(as_file)["detail"]
    assert not (api.ctx.config.var_dir / "reconciliation").exists() or not list(
        (api.ctx.config.var_dir / "reconciliation").iterdir())