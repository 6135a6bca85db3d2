"""A thin wrapper over ``stripe.StripeClient``: the calls loket makes, and error translation.

Everything returned is a plain ``dict`` (``StripeObject.to_dict``), so the rest of the plugin
never handles SDK objects. Every Stripe exception leaves this module as a loket
:class:`~loket.plugin_api.GatewayError` carrying Stripe's own message and code.

The only difference between production and the tests is the API address:
``GatewayConfig.options["api_base"]`` (default ``https://api.stripe.com``) is handed to the
SDK as ``base_addresses={"api": ...}``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import stripe

from loket.plugin_api import GatewayConfig, GatewayError

DEFAULT_API_BASE = "https://api.stripe.com"
TIMEOUT_SECONDS = 30


def _category(exc: stripe.StripeError) -> str:
    if isinstance(exc, stripe.CardError):
        code = getattr(exc.error, "decline_code", None) or exc.code
        return "insufficient_funds" if code == "insufficient_funds" else "declined"
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
        return "network"
    return "technical"


@contextlib.contextmanager
def translated(action: str):
    """Run a Stripe call; turn any Stripe exception into a GatewayError.

    :param action: what loket was doing, for the message people see ("create the checkout").
    :raises GatewayError: ``gateway_message``/``gateway_code`` are Stripe's own.
    """
    try:
        yield
    except stripe.StripeError as exc:
        raise gateway_error(exc, action) from exc


def gateway_error(exc: stripe.StripeError, action: str) -> GatewayError:
    """The GatewayError for a Stripe exception raised while doing ``action``."""
    message = exc.user_message or str(exc)
    return GatewayError(f"Stripe could not {action}: {message}", gateway_message=message,
                        gateway_code=exc.code or type(exc).__name__, category=_category(exc))


def _plain(obj) -> dict:
    return obj.to_dict(for_json=True) if hasattr(obj, "to_dict") else dict(obj)


class StripeApi:
    """The Stripe calls loket makes, against one account with one key.

    :param api_key: a secret (``sk_``) or restricted (``rk_``) key.
    :param api_base: the API address (``options["api_base"]``), default Stripe's.
    :param max_network_retries: the SDK retries connection errors with the same idempotency
        key this many times.
    """

    def __init__(self, api_key: str, api_base: str | None = None, *,
                 max_network_retries: int = 2):
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": (api_base or DEFAULT_API_BASE).rstrip("/")},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    @classmethod
    def for_config(cls, config: GatewayConfig) -> StripeApi:
        """The API for a configuration: its restricted key when set, else its secret key."""
        creds = config.credentials
        key = creds.get("restricted_key") or creds["secret_key"]
        return cls(key, config.options.get("api_base"),
                   max_network_retries=int(config.options.get("max_network_retries", 2)))

    # -- account --------------------------------------------------------------------------

    def balance(self) -> dict:
        """GET /v1/balance (a read-only call that proves the key works)."""
        return _plain(self.client.v1.balance.retrieve())

    def account(self) -> dict:
        """GET /v1/account: the account the key belongs to."""
        return _plain(self.client.v1.accounts.retrieve_current())

    # -- checkout -------------------------------------------------------------------------

    def create_session(self, params: dict, idempotency_key: str) -> dict:
        """POST /v1/checkout/sessions with an idempotency key."""
        with translated("create the checkout"):
            return _plain(self.client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}))

    def retrieve_session(self, session_id: str) -> dict:
        """GET /v1/checkout/sessions/{id} with its PaymentIntent expanded."""
        with translated("look up the checkout"):
            return _plain(self.client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent"]}))

    def retrieve_intent(self, intent_id: str) -> dict:
        """GET /v1/payment_intents/{id} with its latest charge expanded."""
        with translated("look up the payment"):
            return _plain(self.client.v1.payment_intents.retrieve(
                intent_id, params={"expand": ["latest_charge"]}))

    # -- refunds --------------------------------------------------------------------------

    def create_refund(self, params: dict, idempotency_key: str) -> dict:
        """POST /v1/refunds with an idempotency key (errors are left to the caller)."""
        return _plain(self.client.v1.refunds.create(
            params=params, options={"idempotency_key": idempotency_key}))

    def charge_refunds(self, charge_id: str) -> list[dict]:
        """GET /v1/refunds?charge=…: every refund of a charge, all pages."""
        with translated("list the charge's refunds"):
            page = self.client.v1.refunds.list(params={"charge": charge_id, "limit": 100})
            return [_plain(r) for r in page.auto_paging_iter()]

    # -- payouts and balance transactions -------------------------------------------------

    def payout_transactions(self, payout_id: str) -> Iterator[dict]:
        """Every balance transaction of an (automatic) payout, sources expanded, all pages."""
        with translated("list the payout's transactions"):
            page = self.client.v1.balance_transactions.list(params={
                "payout": payout_id, "limit": 100, "expand": ["data.source"]})
            for txn in page.auto_paging_iter():
                yield _plain(txn)

    def paid_payouts(self, since: dt.datetime, until: dt.datetime) -> Iterator[dict]:
        """Every paid payout arriving in ``[since, until)``, all pages."""
        with translated("list payouts"):
            page = self.client.v1.payouts.list(params={
                "status": "paid", "limit": 100,
                "arrival_date": {"gte": int(since.timestamp()), "lt": int(until.timestamp())}})
            for payout in page.auto_paging_iter():
                yield _plain(payout)

    # -- saved cards (mandates) -----------------------------------------------------------

    def create_customer(self, params: dict, idempotency_key: str) -> dict:
        """POST /v1/customers with an idempotency key."""
        with translated("create the customer"):
            return _plain(self.client.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}))

    def retrieve_setup_intent(self, setup_intent_id: str) -> dict:
        """GET /v1/setup_intents/{id} with its PaymentMethod expanded."""
        with translated("look up the saved card"):
            return _plain(self.client.v1.setup_intents.retrieve(
                setup_intent_id, params={"expand": ["payment_method"]}))

    def detach_payment_method(self, method_id: str) -> dict:
        """POST /v1/payment_methods/{id}/detach (errors are left to the caller)."""
        return _plain(self.client.v1.payment_methods.detach(method_id))

    def expire_session(self, session_id: str) -> dict:
        """POST /v1/checkout/sessions/{id}/expire (errors are left to the caller)."""
        return _plain(self.client.v1.checkout.sessions.expire(session_id))

    def create_off_session_intent(self, params: dict, idempotency_key: str) -> dict:
        """POST /v1/payment_intents (confirmed, off-session); card errors are left to the
        caller."""
        return _plain(self.client.v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}))
