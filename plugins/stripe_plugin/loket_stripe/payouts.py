"""Payouts: which payments a Stripe payout carries, with Stripe's fee and net.

An automatic payout's balance transactions (listed with ``payout=``, sources expanded) are in
the account's settlement currency; the charge behind each is in the payment's currency.
Charges of another loket installation or configuration on a shared account are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from loket.plugin_api import (
    EVENT_SETTLED,
    EVENT_SETTLEMENT_FAILED,
    GatewayConfig,
    GatewayEvent,
)
from loket_stripe.api import StripeApi
from loket_stripe.currency import from_stripe
from loket_stripe.ownership import owner_of, payment_id_of, ref_id, when

ApiFactory = Callable[[], StripeApi]


def decimal_text(value) -> str:
    """A JSON number (Stripe's ``exchange_rate``) as a plain decimal string, e.g. "0.0000625"."""
    return format(Decimal(str(value)), "f")


def _charges(transactions, config: GatewayConfig, api: ApiFactory | None):
    """``(transaction, charge, payment_id)`` for each charge of a payout that is not another
    installation's or configuration's (charges without loket metadata are kept, naming no
    payment)."""
    for txn in transactions:
        if txn.get("type") not in ("charge", "payment"):
            continue
        source = txn.get("source")
        charge = source if isinstance(source, dict) else {"id": source}
        metadata = charge.get("metadata") or {}
        if owner_of(metadata, config) == "unknown" and api is not None and \
                charge.get("payment_intent"):
            metadata = api().retrieve_intent(ref_id(charge["payment_intent"])).get("metadata")
        if owner_of(metadata, config) == "theirs":
            continue
        yield txn, charge, payment_id_of(metadata, config)


def _charge_amount(txn: dict, charge: dict):
    if charge.get("amount") is not None and charge.get("currency"):
        return from_stripe(charge["amount"], charge["currency"])
    return from_stripe(txn["amount"], txn["currency"])


def settlement_details(txn: dict, charge: dict) -> dict:
    """Stripe's fee and net for one charge, as the core expects them.

    ``{"fee", "net"}`` (minor units of the payment's currency) when the account settles in the
    payment's currency; otherwise ``{"settlement_currency", "settlement_fee",
    "settlement_net", "exchange_rate"}`` (minor units of the settlement currency, the rate as a
    decimal string) and no fee/net.
    """
    paid_in = _charge_amount(txn, charge).currency
    settled_in = txn["currency"].upper()
    fee, net = from_stripe(txn["fee"], settled_in), from_stripe(txn["net"], settled_in)
    if settled_in == paid_in:
        return {"fee": fee.amount, "net": net.amount}
    return {"settlement_currency": settled_in, "settlement_fee": fee.amount,
            "settlement_net": net.amount,
            "exchange_rate": decimal_text(txn.get("exchange_rate") or 1)}


def settled_events(event_id: str, payout: dict, transactions, config: GatewayConfig,
                   api: ApiFactory | None = None) -> list[GatewayEvent]:
    """One ``payment.settled`` per charge of ``config``'s in a payout.

    ``amount`` is the charge's amount in the payment's currency; the fee and net are in
    ``details`` (see :func:`settlement_details`).
    """
    arrival = when(payout.get("arrival_date"))
    out = []
    for txn, charge, payment_id in _charges(transactions, config, api):
        created = when(charge.get("created"))
        details = {**settlement_details(txn, charge),
                   "balance_transaction": txn["id"], "charge": charge["id"],
                   "arrival_date": arrival.isoformat() if arrival else None}
        if created and arrival:
            details["processing_days"] = max((arrival - created).days, 0)
        out.append(GatewayEvent(
            event_id=f"{event_id}:{payment_id or charge['id']}", type=EVENT_SETTLED,
            raw_status="payout paid", payment_id=payment_id,
            gateway_reference=ref_id(charge.get("payment_intent")) or charge["id"],
            amount=_charge_amount(txn, charge), payout_reference=payout["id"],
            details=details, occurred_at=arrival))
    return out


def settlement_failed_events(event_id: str, payout: dict, transactions, config: GatewayConfig,
                             api: ApiFactory | None, occurred_at) -> list[GatewayEvent]:
    """One ``settlement.failed`` per payment of ``config``'s in a failed payout (ids
    ``{event_id}:{payment}``); one naming only the payout when it holds no charges at all;
    none when all its charges are another configuration's."""
    transactions = list(transactions)
    common = dict(type=EVENT_SETTLEMENT_FAILED, raw_status="payout failed",
                  payout_reference=payout["id"], failure_code=payout.get("failure_code"),
                  failure_message=payout.get("failure_message"), failure_category="technical",
                  occurred_at=occurred_at)
    payout_amount = from_stripe(payout["amount"], payout["currency"])
    payout_details = {"payout_status": payout.get("status"),
                      "payout_amount": payout_amount.to_json()}
    out = [GatewayEvent(
        event_id=f"{event_id}:{payment_id or charge['id']}", payment_id=payment_id,
        gateway_reference=ref_id(charge.get("payment_intent")) or charge["id"],
        amount=_charge_amount(txn, charge),
        details={**payout_details, "charge": charge["id"], "balance_transaction": txn["id"]},
        **common)
        for txn, charge, payment_id in _charges(transactions, config, api)]
    if out or any(t.get("type") in ("charge", "payment") for t in transactions):
        return out
    return [GatewayEvent(event_id=event_id, amount=payout_amount, details=payout_details,
                         **common)]
