"""The contract tests every gateway plugin must pass.

A gateway package opts in by subclassing :class:`GatewayConformance` in a test module and
providing the ``loket_gateway_harness`` fixture (see :mod:`loket.testing.harness`). The tests
call the gateway only through :class:`loket.plugins.Plugins`, exactly as the core does, so a
gateway that passes here behaves the way the core relies on.

Every failure message names what the gateway author must fix.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import attrs
import pytest

from loket import types
from loket.errors import CredentialsRejected
from loket.money import ISO4217_DIGITS, Money, minor_digits
from loket.testing import plausibility
from loket.testing.kit import Kit, check_payment_event, expect, fail
from loket.testing.mandate_conformance import MandateConformance
from loket.testing.refund_conformance import RefundConformance
from loket.testing.webhook_conformance import WebhookConformance

GATEWAY_HOOKS = (
    "loket_gateway_validate_credentials", "loket_gateway_handshake", "loket_gateway_charge",
    "loket_gateway_parse_webhook", "loket_gateway_map_status", "loket_gateway_fetch_status",
    "loket_gateway_refund", "loket_gateway_fetch_settlements",
    "loket_gateway_parse_settlement_report",
)
INTERNAL_STATES = (
    types.INITIATED, types.SUCCEEDED, types.COMPLETED, types.POSTED, types.FAILED,
    types.REFUNDED, types.PARTIALLY_REFUNDED, types.CANCELLED,
)


class GatewayConformance(WebhookConformance, RefundConformance, MandateConformance):
    """The gateway contract as tests. Subclass it in a test module to run it::

        from loket.testing import GatewayConformance

        class TestAcmeConformance(GatewayConformance):
            pass

    and provide a ``loket_gateway_harness`` fixture (usually in ``tests/conftest.py``).
    """

    @pytest.fixture
    def loket_kit(self, loket_gateway_harness) -> Kit:
        """The :class:`Kit` for the package's harness."""
        return Kit(loket_gateway_harness)

    # -- describe ---------------------------------------------------------------------

    def test_describe_gives_a_valid_credential_schema(self, loket_kit):
        from jsonschema import Draft202012Validator, SchemaError

        d = loket_kit.description
        try:
            Draft202012Validator.check_schema(d.credential_schema)
        except SchemaError as exc:
            fail(f"loket_gateway_describe: credential_schema is not a valid JSON Schema "
                  f"(draft 2020-12): {exc.message}")
        properties = d.credential_schema.get("properties")
        if d.credential_schema.get("type") != "object" or not properties:
            fail("loket_gateway_describe: credential_schema must be an object schema with "
                  "'properties', one per credential field the admin enters")
        if not d.display_name:
            fail("loket_gateway_describe: set display_name (shown to tenant admins)")

    def test_describe_marks_secret_fields(self, loket_kit):
        d = loket_kit.description
        properties = d.credential_schema.get("properties") or {}
        if not d.secret_fields:
            fail("loket_gateway_describe: secret_fields is empty; list the credential "
                  "fields that are secret (API keys, webhook secrets) so loket encrypts them")
        missing = [f for f in d.secret_fields if f not in properties]
        if missing:
            fail(f"loket_gateway_describe: secret_fields {missing} are not properties of "
                  f"credential_schema (properties: {sorted(properties)})")

    def test_describe_declares_statuses_and_currencies(self, loket_kit):
        d, h = loket_kit.description, loket_kit.harness
        if not d.statuses:
            fail("loket_gateway_describe: statuses is empty; list every raw status word "
                  "your gateway reports (loket_gateway_map_status must accept each)")
        declared = [h.two_decimal_currency] + ([h.zero_decimal_currency]
                                               if h.zero_decimal_currency else [])
        unsupported = [c for c in declared if d.currencies and c not in d.currencies]
        if unsupported:
            fail(f"the harness tests in {unsupported} but loket_gateway_describe's "
                  f"currencies are {list(d.currencies)}: add them, or change the harness's "
                  "two_decimal_currency/zero_decimal_currency")

    def test_minimum_charges_are_plausible(self, loket_kit):
        d = loket_kit.description
        for currency, minimum in d.minimum_charge.items():
            ceiling = plausibility.ceiling(currency)
            if ceiling is not None and minimum.amount > ceiling.amount:
                fail(f"loket_gateway_describe: minimum_charge[{currency!r}] is {minimum}, "
                      f"more than about {plausibility.CEILING_USD} USD ({ceiling}). Write "
                      f"minimums in major units, Money.parse(\"10000\", {currency!r}), and "
                      f"remember {currency} has {minor_digits(currency)} decimals in ISO 4217")

    def test_harness_currencies_have_the_decimals_it_says(self, loket_kit):
        h = loket_kit.harness
        for currency, digits, attribute in ((h.two_decimal_currency, 2, "two_decimal_currency"),
                                            (h.zero_decimal_currency, 0, "zero_decimal_currency")):
            if currency is None:
                continue
            if ISO4217_DIGITS.get(currency) != digits:
                fail(f"{type(h).__name__}.{attribute} is {currency!r}, which has "
                      f"{ISO4217_DIGITS.get(currency, 'no')} decimals in ISO 4217; pick a "
                      f"currency with {digits}")

    def test_hooks_answer_none_for_another_kind(self, loket_kit):
        plugins = loket_kit.plugins
        ours = [impl.plugin for impl in plugins.pm.hook.loket_gateway_describe.get_hookimpls()
                if getattr(impl.function(), "kind", None) == loket_kit.kind]
        other = attrs.evolve(loket_kit.config(), kind="loket-kit-someone-else")
        now = dt.datetime.now(dt.UTC)
        amount = loket_kit.amount(other.currency)
        requests = {
            "loket_gateway_charge": loket_kit.harness.checkout_request(other, "PAY-X", amount),
            "loket_gateway_parse_webhook": types.WebhookRequest(
                body=b"{}", headers={}, path=other.webhook_path, received_at=now),
            "loket_gateway_refund": types.RefundRequest(
                refund_id="REF-X", payment_id="PAY-X", gateway_reference="x", amount=amount,
                captured=amount),
        }
        for name in GATEWAY_HOOKS:
            kwargs = {"config": other, "credentials": {}, "request": requests.get(name),
                      "raw_status": "x", "payment_id": "PAY-X", "gateway_reference": "x",
                      "since": now, "until": now, "content": b"", "filename": "x.csv"}
            for impl in getattr(plugins.pm.hook, name).get_hookimpls():
                if impl.plugin not in ours:
                    continue
                try:
                    result = impl.function(**{a: kwargs[a] for a in impl.argnames})
                except Exception as exc:
                    result = exc
                if result is not None:
                    fail(f"{name} answered {result!r} for config.kind {other.kind!r}: "
                          "every gateway hook must return None when config.kind is not "
                          "yours, before doing anything else (otherwise your plugin handles "
                          "other gateways' configurations)")

    # -- credentials ------------------------------------------------------------------

    def test_good_credentials_are_accepted(self, loket_kit):
        config = loket_kit.config()
        stored = loket_kit.plugins.validate_credentials(config, dict(config.credentials))
        if not isinstance(stored, dict):
            fail("loket_gateway_validate_credentials must return the credentials to store "
                  f"(a dict), not {type(stored).__name__}")
        from jsonschema import Draft202012Validator, SchemaError

        schema = loket_kit.description.credential_schema
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError:
            return  # reported by test_describe_gives_a_valid_credential_schema
        errors = list(Draft202012Validator(schema).iter_errors(stored))
        if errors:
            fail("the credentials loket_gateway_validate_credentials returned do not match "
                  f"your credential_schema: {errors[0].message}")

    def test_bad_credentials_are_refused_clearly(self, loket_kit):
        config = loket_kit.config()
        bad = loket_kit.harness.bad_credentials()
        exc = expect(CredentialsRejected,
                      lambda: loket_kit.plugins.validate_credentials(config, bad),
                      "loket_gateway_validate_credentials accepted credentials the gateway "
                      "refuses (harness.bad_credentials()): make a live authenticated call "
                      "and raise CredentialsRejected when the gateway refuses it")
        if len(exc.detail.strip()) < 10:
            fail(f"CredentialsRejected message {exc.detail!r} is not clear: say what was "
                  "refused and what the admin should check")

    def test_malformed_credentials_are_refused_naming_a_field(self, loket_kit):
        config = loket_kit.config()
        malformed = loket_kit.harness.malformed_credentials()
        exc = expect(CredentialsRejected,
                      lambda: loket_kit.plugins.validate_credentials(config, malformed),
                      f"loket_gateway_validate_credentials accepted malformed credentials "
                      f"{malformed!r}: check them against your credential_schema first and "
                      "raise CredentialsRejected(errors=[{'field': ..., 'message': ...}])")
        properties = loket_kit.description.credential_schema.get("properties") or {}
        fields = [e.get("field") for e in exc.errors if isinstance(e, dict)]
        if not any(f in properties for f in fields):
            fail("CredentialsRejected for malformed credentials must name the field(s) in "
                  f"errors=[{{'field': <one of {sorted(properties)}>, 'message': ...}}]; "
                  f"got errors={exc.errors!r}")

    # -- charge -----------------------------------------------------------------------

    def test_charge_returns_absolute_redirect_and_reference(self, loket_kit):
        config = loket_kit.config()
        _, session = loket_kit.charge(config, loket_kit.amount(config.currency))
        url = urlsplit(session.redirect_url or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            fail(f"CheckoutSession.redirect_url {session.redirect_url!r} must be an "
                  "absolute http(s) URL of the hosted checkout the payer is sent to")
        if not session.gateway_reference:
            fail("CheckoutSession.gateway_reference is empty: return the gateway's id of "
                  "the checkout")

    def test_charge_is_idempotent_per_payment(self, loket_kit):
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        payment_id, first = loket_kit.charge(config, amount)
        _, second = loket_kit.charge(config, amount, payment_id=payment_id)
        if second.gateway_reference != first.gateway_reference:
            fail("charging the same payment_id twice created two checkouts "
                  f"({first.gateway_reference!r}, {second.gateway_reference!r}): send "
                  "payment_id as the gateway's idempotency key, or look the checkout up")

    # -- status -----------------------------------------------------------------------

    def test_map_status_covers_every_declared_status(self, loket_kit):
        config = loket_kit.config()
        for raw in loket_kit.description.statuses:
            try:
                mapping = loket_kit.plugins.map_status(config, raw)
            except Exception as exc:
                fail(f"loket_gateway_map_status({raw!r}) raised {exc!r}: every status in "
                      "describe().statuses must map to a StatusMapping")
            if not isinstance(mapping, types.StatusMapping):
                fail(f"loket_gateway_map_status({raw!r}) must return a StatusMapping")
            if mapping.internal is not None and mapping.internal not in INTERNAL_STATES:
                fail(f"loket_gateway_map_status({raw!r}).internal is {mapping.internal!r}; "
                      f"use one of {INTERNAL_STATES} or None for 'no change'")
            if not mapping.webhook_status:
                fail(f"loket_gateway_map_status({raw!r}) must give the webhook_status words "
                     "staff see (e.g. 'In Settlement'), or '(keep)'")
            words = [str(w.value) for w in types.SettlementStatus]
            if mapping.settlement_status not in words:
                fail(f"loket_gateway_map_status({raw!r}).settlement_status is "
                     f"{mapping.settlement_status!r}: loket honours only {words} "
                     "(loket.plugin_api.SettlementStatus; '(keep)' leaves it as it is)")

    def test_fetch_status_agrees_with_the_webhook(self, loket_kit):
        config = loket_kit.config()
        amount = loket_kit.amount(config.currency)
        payment_id, session, _, _ = loket_kit.pay(config, amount)
        status = loket_kit.plugins.fetch_status(config, payment_id, session.gateway_reference)
        if not isinstance(status, types.GatewayEvent):
            fail("loket_gateway_fetch_status must return a GatewayEvent")
        if status.type != types.EVENT_SUCCEEDED:
            fail(f"loket_gateway_fetch_status says {status.type!r} for a paid checkout; the "
                  "webhook said payment.succeeded (ask the gateway for the payment's state "
                  "and map it the same way as the webhook)")
        check_payment_event(status, payment_id, amount, "fetch_status")

    # -- money ------------------------------------------------------------------------

    @pytest.mark.parametrize("decimals", ["two-decimal", "zero-decimal"])
    def test_amounts_round_trip_exactly(self, loket_kit, decimals):
        harness = loket_kit.harness
        currency = (harness.two_decimal_currency if decimals == "two-decimal"
                    else harness.zero_decimal_currency)
        if currency is None:
            pytest.skip(f"{type(harness).__name__}.zero_decimal_currency is None: the "
                        "gateway supports no zero-decimal currency")
        config = loket_kit.config(currency)
        for minor in loket_kit.amounts(currency):
            amount = Money(minor, currency)
            payment_id, session, event, _ = loket_kit.pay(config, amount)
            check_payment_event(event, payment_id, amount, f"{currency} payment.succeeded")
            status = loket_kit.plugins.fetch_status(config, payment_id,
                                                    session.gateway_reference)
            check_payment_event(status, payment_id, amount, f"{currency} fetch_status")
