"""loket hook implementations for DOKU Checkout (entry point ``doku`` in group ``loket``).

Each hook returns ``None`` for a configuration of another kind; the work is done in the
small modules beside this one (credentials, checkout, webhooks, refunds, settlement).
"""

from __future__ import annotations

import secrets

from loket.plugin_api import (
    EVENT_PENDING,
    CheckoutRequest,
    CheckoutSession,
    GatewayConfig,
    GatewayDescription,
    GatewayError,
    GatewayEvent,
    Money,
    RefundRequest,
    RefundResult,
    StatusMapping,
    WebhookRequest,
    hookimpl,
)
from loket_doku import KIND, checkout, refunds, settlement, statuses, webhooks
from loket_doku import credentials as doku_credentials
from loket_doku.api import DokuClient, DokuHTTPError

LOKET_CONTRACT = "1.3"

#: DOKU's smallest charge loket will attempt (Rp 10,000). DOKU does not
#: publish one Checkout-wide minimum; Rp 10,000 is the documented floor of its wallet and
#: the usual VA floor (see README), and is what the connect test transaction charges.
MINIMUM_CHARGE = Money.parse("10000", "IDR")

METHODS = ("bank_transfer", "card", "ewallet", "convenience_store", "qris")


def _mine(config: GatewayConfig) -> bool:
    return config.kind == KIND


@hookimpl
def loket_gateway_describe() -> GatewayDescription:
    """Describe DOKU: credential schema, secret fields, IDR only, status words, minimum."""
    return GatewayDescription(
        kind=KIND,
        display_name="DOKU",
        credential_schema=doku_credentials.SCHEMA,
        secret_fields=doku_credentials.SECRET_FIELDS,
        logo_url="https://www.doku.com/favicon.ico",
        currencies=(checkout.CURRENCY,),
        methods=METHODS,
        statuses=statuses.STATUSES,
        # No mandates: DOKU Checkout's tokenization saves a card for the payer's next
        # checkout (the payer is present), and DOKU's recurring direct debit is a SNAP API
        # (RSA keys, BRI only) this plugin does not speak. loket offers no auto-pay here.
        mandates=False,
        minimum_charge={checkout.CURRENCY: MINIMUM_CHARGE},
        zero_decimal_supported=False,
    )


@hookimpl
def loket_gateway_validate_credentials(config: GatewayConfig, credentials: dict):
    """Validate each field's format, the currency (IDR), then a signed check-status call."""
    if not _mine(config):
        return None
    return doku_credentials.validate(config, credentials)


@hookimpl
def loket_gateway_handshake(config: GatewayConfig):
    """Daily check: the same signed, read-only check-status call as the credential check."""
    if not _mine(config):
        return None
    return doku_credentials.live_check(config, config.credentials)


@hookimpl
def loket_gateway_charge(config: GatewayConfig, request: CheckoutRequest):
    """Create a DOKU Checkout for the payment; a repeat (409 replay) returns the same page."""
    if not _mine(config):
        return None
    payload = checkout.build_payload(config, request)
    request_id = checkout.request_id_for(config, request.payment_id)
    answer = DokuClient.for_config(config).create_checkout(payload, request_id)
    session: CheckoutSession = checkout.session_from(
        answer, payload["order"]["invoice_number"], request_id)
    return session


@hookimpl
def loket_gateway_parse_webhook(config: GatewayConfig, request: WebhookRequest):
    """Verify a DOKU HTTP notification (target = the path of ``config.webhook_url``) and
    normalize it."""
    if not _mine(config):
        return None
    return webhooks.parse(config, request)


@hookimpl
def loket_gateway_map_status(config: GatewayConfig, raw_status: str):
    """Map a DOKU ``transaction.status`` word (table in the README); FAILED changes nothing
    unless this configuration creates checkouts with retries disabled."""
    if not _mine(config):
        return None
    mapping: StatusMapping = statuses.map_status(
        raw_status, retries_allowed=not checkout.retries_disabled(config))
    return mapping


@hookimpl
def loket_gateway_fetch_status(config: GatewayConfig, payment_id: str, gateway_reference: str):
    """Ask DOKU's check-status API what became of the invoice (the payment's gateway
    reference, else this configuration's invoice for the payment).

    An invoice DOKU does not know (HTTP 404: the payer never reached a channel, or the
    merchant predates Checkout order status) is reported as ``payment.pending``.

    :raises GatewayError: DOKU cannot be reached, or reports SUCCESS without a readable
        amount (never applied without one).
    """
    if not _mine(config):
        return None
    invoice = gateway_reference or checkout.invoice_for(config, payment_id)
    client = DokuClient.for_config(config)
    try:
        answer = client.check_status(invoice, f"loket-status-{secrets.token_hex(8)}")
    except DokuHTTPError as exc:
        if exc.http_status != 404:
            raise
        return GatewayEvent(event_id=webhooks.event_id(invoice, "PENDING", None),
                            type=EVENT_PENDING, raw_status="PENDING", payment_id=payment_id,
                            gateway_reference=invoice,
                            details={"note": "DOKU does not know this invoice yet"})
    try:
        return webhooks.event_for(config, answer.body)
    except webhooks.UnreadableOutcome as exc:
        raise GatewayError(str(exc), gateway_message=str(answer.body)[:500],
                           category="technical") from exc


@hookimpl
def loket_gateway_refund(config: GatewayConfig, request: RefundRequest):
    """Refund a card payment online; other channels raise RefundNotPossible (manual)."""
    if not _mine(config):
        return None
    result: RefundResult = refunds.refund(config, request)
    return result


@hookimpl
def loket_gateway_fetch_settlements(config: GatewayConfig, since, until):
    """Return ``[]``: DOKU has no settlement API for Checkout merchants.

    DOKU delivers settlement reports as files (e-mail or SFTP, CSV or XLSX); staff upload
    them and :func:`loket_gateway_parse_settlement_report` reads them.
    """
    if not _mine(config):
        return None
    return []


@hookimpl
def loket_gateway_parse_settlement_report(config: GatewayConfig, content: bytes, filename: str):
    """Read a DOKU settlement report (CSV or XLSX) into lines (columns documented in the
    README); a line names a payment number only for this configuration's invoices."""
    if not _mine(config):
        return None
    return settlement.parse_report(content, filename, tag=checkout.scope_tag(config))
