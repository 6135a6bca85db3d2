"""Request validation in one middleware: bad JSON, wrong content type, wrong types,
unknown fields, oversized bodies and huge numbers each get a 4xx problem naming the field."""

from __future__ import annotations

import datetime as dt
import json

import attrs
from support.api import api, fields, problem  # noqa: F401 - fixture

COUNTER = {"account_number": "CRN29391", "payment_type": "bill", "method": "cash",
           "amount_received": "120.50", "paid_on": "2025-01-15"}


def raw_post(api, path, body: bytes, content_type="application/json", role="cso_admin"):
    return api.client.simulate_post(path, body=body, headers=api.headers(
        role, {"Content-Type": content_type}))


def test_bad_json_is_400_naming_the_body(api):
    result = raw_post(api, "/v1/payments/counter", b'{"account_number": ')
    assert result.status_code == 400
    assert fields(result) == {"body"}
    assert "Traceback" not in result.text


def test_wrong_content_type_is_415(api):
    result = raw_post(api, "/v1/payments/counter", b"account_number=1", "text/plain")
    assert result.status_code == 415 and fields(result) == {"Content-Type"}


def test_wrong_types_are_named(api):
    result = api.post("/v1/payments/counter", {**COUNTER, "amount_received": 120.5,
                                               "payment_type": 7})
    assert result.status_code == 422
    errors = {e["field"]: e["message"] for e in problem(result)["errors"]}
    assert set(errors) == {"amount_received", "payment_type"}
    assert "decimal string" in errors["amount_received"]
    assert api.post("/v1/payments/counter", {**COUNTER, "amount_received": "12.345.6"}
                    ).status_code == 422


def test_an_error_never_quotes_the_value_it_refuses(api):
    """Credentials pasted into a request that breaks a rule are not echoed back (nor
    logged with the error)."""
    secret = "sk_live_TOPSECRET123"
    too_many = {f"field_{n}": f"value {n}" for n in range(30)} | {"secret_key": secret}
    result = api.put("/v1/gateways/sandbox/credentials", {"credentials": too_many},
                     role="tenant_admin")
    assert result.status_code == 422
    assert problem(result)["errors"] == [{"field": "credentials",
                                          "message": "must have at most 30 fields"}]
    assert secret not in result.text


def test_dates_out_of_range_or_without_an_offset_are_refused_by_name(api):
    """Dates from 1900 to 2999; a date-time carries its offset (never read in the server's
    zone)."""
    for path, field in (("/v1/payments?date_to=9999-12-31", "date_to"),
                        ("/v1/credit-notes/export?date_from=0001-01-01", "date_from"),
                        ("/v1/kpis?month=0000-01", "month"), ("/v1/kpis?month=9999-12", "month"),
                        ("/v1/kpis/trends?from=9999-12-30&to=9999-12-31", "from")):
        result = api.get(path, role="tenant_admin")
        assert result.status_code == 422, (path, result.text)
        assert field in fields(result), (path, result.text)
    for expires in ("next tuesday", "0001-01-01T00:00:00+05:00", "2030-01-01T10:00:00"):
        made = api.post("/v1/payment-links", {"account_number": "WU-10001",
                                              "expires_at": expires})
        assert made.status_code == 422 and fields(made) == {"expires_at"}, made.text
    made = api.post("/v1/payment-links", {"account_number": "WU-10001",
                                          "expires_at": "2030-01-01T10:00:00+07:00"})
    assert made.status_code == 201, made.text


def test_unknown_fields_are_refused_by_name(api):
    result = api.post("/v1/payments/counter", {**COUNTER, "discount": "5.00"})
    assert result.status_code == 422 and fields(result) == {"discount"}
    nested = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234", "amount": "1.00"}]}, role="consumer")
    assert fields(nested) == {"items[0].amount"}
    query = api.get("/v1/payments?colour=red")
    assert query.status_code == 422 and fields(query) == {"colour"}


def test_missing_fields_are_named(api):
    result = api.post("/v1/payments/counter", {"account_number": "CRN29391"})
    assert fields(result) == {"payment_type", "method", "amount_received", "paid_on"}


def test_an_empty_counter_body_names_each_missing_field_once(api):
    result = api.post("/v1/payments/counter", {})
    named = [e["field"] for e in problem(result)["errors"]]
    assert sorted(named) == ["account_number", "amount_received", "method", "paid_on",
                             "payment_type"]


def test_the_payment_date_is_mandatory_and_not_in_the_future_at_the_counter(api):
    without = {k: v for k, v in COUNTER.items() if k != "paid_on"}
    assert fields(api.post("/v1/payments/counter", without)) == {"paid_on"}
    tomorrow = (api.ctx.now() + dt.timedelta(days=2)).date().isoformat()
    future = api.post("/v1/payments/counter", {**COUNTER, "paid_on": tomorrow})
    assert future.status_code == 422 and fields(future) == {"paid_on"}
    assert api.post("/v1/payments/counter", COUNTER).status_code == 201


def test_oversized_body_is_413(api):
    api.ctx.config = attrs.evolve(api.ctx.config, max_body_bytes=1000)
    body = json.dumps({**COUNTER, "notes": "x" * 2000}).encode()
    result = raw_post(api, "/v1/payments/counter", body)
    assert result.status_code == 413 and fields(result) == {"body"}


def test_huge_numbers_are_refused_by_name(api):
    result = raw_post(api, "/v1/consumers/WU-10001/token",
                      b'{"ttl_seconds": 1000000000000000000000000000000000}')
    assert result.status_code == 422 and fields(result) == {"ttl_seconds"}
    assert "too large" in problem(result)["errors"][0]["message"]
    result = raw_post(api, "/v1/consumers/WU-10001/token", b'{"ttl_seconds": 1e400}')
    assert result.status_code == 422 and fields(result) == {"ttl_seconds"}
    result = raw_post(api, "/v1/consumers/WU-10001/token", b'{"ttl_seconds": NaN}')
    assert result.status_code == 400
    result = api.get("/v1/payments?limit=99999999999999999999999")
    assert result.status_code == 422 and fields(result) == {"limit"}
    money = api.post("/v1/payments/counter", {**COUNTER, "amount_received": "9" * 40})
    assert money.status_code == 422 and fields(money) == {"amount_received"}


def test_query_values_are_typed_and_bounded(api):
    assert fields(api.get("/v1/payments?limit=0")) == {"limit"}
    assert fields(api.get("/v1/payments?date_from=yesterday")) == {"date_from"}
    assert fields(api.get("/v1/payments?status=lost")) == {"status"}
    assert api.get("/v1/payments?limit=5&page=2&sort=created_at").status_code == 200
    assert api.get("/v1/credit-notes?reason=Overpayment&reason=Other").status_code == 200


def test_engine_validation_also_names_fields(api):
    result = api.post("/v1/payments/counter", {**COUNTER, "method": "barter"})
    assert result.status_code == 422 and fields(result) == {"method"}
    result = api.post("/v1/payments/counter", {**COUNTER, "amount_received": "1.001"})
    assert fields(result) == {"amount_received"}


def test_nul_characters_are_refused_by_name(api):
    result = api.post("/v1/host/consumers", {"account_number": "N-1", "name": "A\u0000B"},
                      role="tenant_admin")
    assert result.status_code == 422 and fields(result) == {"name"}
    assert fields(api.get("/v1/consumers?q=a%00b")) == {"q"}
