"""Money movement in the Stripe emulator: charges, refunds, balance, payouts.

A mixin of :class:`stripe_emulator.StripeEmulator`; it uses the emulator's object store
(``self.objects``), ids, events and list helpers. Every capture writes a ``charge`` balance
transaction with Stripe's fee (``fee_percent_bp`` + ``fee_fixed``), every refund a ``refund``
one, and :meth:`payout` sweeps what is not yet paid out into an automatic payout. A charge in
a currency with an entry in ``exchange_rates`` is converted: its balance transaction's
amount, fee and net are in the account's ``default_currency``, with ``exchange_rate``.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

from loket_stripe.testing.emulator_http import ApiError
from loket_stripe.testing.emulator_http import form_int as _int

ZERO_DECIMAL = set("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = set("bhd jod kwd omr tnd".split())


def _digits(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


class LedgerMixin:
    """Charges, refunds, balance and payouts (see the module docstring)."""

    def _fee(self, amount: int, currency: str) -> int:
        fixed = 0 if currency in ZERO_DECIMAL else self.fee_fixed
        return (amount * self.fee_percent_bp + 5000) // 10000 + fixed

    def _settle(self, amount: int, currency: str) -> tuple[int, str, object]:
        """``amount`` (Stripe units of ``currency``) in the settlement currency:
        ``(amount, currency, exchange_rate)``; the rate is ``None`` when not converted."""
        rate = self.exchange_rates.get(currency)
        target = self.account["default_currency"]
        if rate is None or currency == target:
            return amount, currency, None
        major = Decimal(amount) / 10 ** _digits(currency)
        settled = (major * Decimal(rate) * 10 ** _digits(target)).to_integral_value(
            ROUND_HALF_UP)
        return int(settled), target, json.loads(rate)  # a JSON number, as Stripe sends it

    def _capture(self, intent: dict) -> list[dict]:
        now = self.now()
        charge_id, txn_id = self.new_id("ch"), self.new_id("txn")
        amount, currency, rate = self._settle(intent["amount"], intent["currency"])
        fee = self._fee(amount, currency)
        self.objects[txn_id] = {
            "id": txn_id, "object": "balance_transaction", "livemode": intent["livemode"],
            "created": now, "available_on": now + 2 * 86400, "amount": amount, "fee": fee,
            "net": amount - fee, "currency": currency, "exchange_rate": rate,
            "status": "pending", "type": "charge",
            "reporting_category": "charge", "source": charge_id, "description": None,
            "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee",
                             "description": "Stripe processing fees"}],
            "_payout": None,
        }
        amount, currency = intent["amount"], intent["currency"]
        charge = {
            "id": charge_id, "object": "charge", "livemode": intent["livemode"],
            "created": now, "amount": amount, "amount_captured": amount, "amount_refunded": 0,
            "currency": currency, "status": "succeeded", "paid": True, "captured": True,
            "refunded": False, "payment_intent": intent["id"], "balance_transaction": txn_id,
            "metadata": dict(intent["metadata"]), "failure_code": None,
            "failure_message": None, "outcome": {"network_status": "approved_by_network",
                                                 "type": "authorized"},
            "payment_method_details": {"type": "card",
                                       "card": {"brand": "visa", "last4": "4242"}},
        }
        self.objects[charge_id] = charge
        intent.update(status="succeeded", amount_received=amount, latest_charge=charge_id,
                      last_payment_error=None)
        return [self._event("charge.succeeded", charge),
                self._event("payment_intent.succeeded", intent)]

    # -- refunds ------------------------------------------------------------------------

    def _create_refund(self, params: dict, livemode: bool) -> dict:
        intent_id, charge_id = params.get("payment_intent"), params.get("charge")
        if intent_id:
            intent = self._get("payment_intent")(params, livemode, intent_id)
            charge_id = intent["latest_charge"]
        if not charge_id:
            raise ApiError(400, "This PaymentIntent does not have a successful charge to "
                                "refund.", code="charge_not_refundable", param="payment_intent")
        charge = self._get("charge")(params, livemode, charge_id)
        left = charge["amount"] - charge["amount_refunded"]
        amount = _int(params, "amount") or left
        if left <= 0:
            raise ApiError(400, f"Charge {charge_id} has already been refunded.",
                           code="charge_already_refunded")
        if amount > left:
            raise ApiError(400, f"Refund amount ({amount}) is greater than unrefunded amount "
                                f"on charge ({left})", param="amount")
        reason = params.get("reason")
        if reason and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise ApiError(400, f"Invalid reason: {reason}", param="reason")
        refund_id, txn_id, now = self.new_id("re"), self.new_id("txn"), self.now()
        refund = {
            "id": refund_id, "object": "refund", "livemode": livemode, "created": now,
            "amount": amount, "currency": charge["currency"], "charge": charge_id,
            "payment_intent": charge["payment_intent"], "status": "succeeded",
            "reason": reason, "metadata": params.get("metadata") or {},
            "balance_transaction": txn_id, "failure_reason": None,
        }
        self.objects[refund_id] = refund
        if self.refund_failure:  # e.g. the card was closed: nothing moves
            refund.update(status="failed", failure_reason=self.refund_failure,
                          balance_transaction=None)
            self._event("refund.created", refund)
            self._event("refund.failed", refund)
            return refund
        settled, currency, rate = self._settle(amount, charge["currency"])
        self.objects[txn_id] = {
            "id": txn_id, "object": "balance_transaction", "livemode": livemode,
            "created": now, "available_on": now, "amount": -settled, "fee": 0,
            "net": -settled, "currency": currency, "exchange_rate": rate,
            "status": "available", "type": "refund",
            "reporting_category": "refund", "source": refund_id, "description": None,
            "fee_details": [], "_payout": None,
        }
        previous = charge["amount_refunded"]
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._event("refund.created", refund)
        self._event("charge.refunded", charge, previous={"amount_refunded": previous})
        return refund

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> list[dict]:
        """A refund fails after the fact (the bank returned it); returns [refund.failed]."""
        with self._lock:
            refund = self.objects[refund_id]
            refund.update(status="failed", failure_reason=reason)
            charge = self.objects[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            return [self._event("refund.failed", refund)]

    def _list_refunds(self, params: dict, livemode: bool) -> dict:
        items = self._all("refund", livemode)
        for field in ("payment_intent", "charge"):
            if params.get(field):
                items = [r for r in items if r[field] == params[field]]
        return self._page(items, params, "/v1/refunds")

    # -- balance and payouts ------------------------------------------------------------

    def _balance(self, params: dict, livemode: bool) -> dict:
        sums: dict = {}
        for txn in self._all("balance_transaction", livemode):
            if txn["type"] == "payout":
                continue
            bucket = "pending" if txn["status"] == "pending" else "available"
            if txn["_payout"]:
                continue
            sums.setdefault((bucket, txn["currency"]), 0)
            sums[(bucket, txn["currency"])] += txn["net"]
        currency = self.account["default_currency"]
        body = {"object": "balance", "livemode": livemode, "available": [], "pending": []}
        for bucket in ("available", "pending"):
            currencies = {c for (b, c) in sums if b == bucket} or {currency}
            body[bucket] = [{"amount": sums.get((bucket, c), 0), "currency": c,
                             "source_types": {"card": sums.get((bucket, c), 0)}}
                            for c in sorted(currencies)]
        return body

    def payout(self, *, currency: str | None = None, status: str = "paid",
               failure_code: str = "account_closed",
               failure_message: str = "The bank account has been closed.",
               livemode: bool = False) -> list[dict]:
        """Pay out every balance transaction not yet paid out (automatic payout).

        :param status: ``paid`` or ``failed``.
        :returns: ``[payout.created, payout.paid|payout.failed]``.
        """
        with self._lock:
            txns = [t for t in self._all("balance_transaction", livemode)
                    if t["_payout"] is None and t["type"] != "payout"
                    and (currency is None or t["currency"] == currency)]
            if not txns:
                raise ValueError("nothing to pay out")
            currency = txns[0]["currency"]
            txns = [t for t in txns if t["currency"] == currency]
            payout_id, txn_id, now = self.new_id("po"), self.new_id("txn"), self.now()
            total = sum(t["net"] for t in txns)
            for txn in txns:
                txn.update(_payout=payout_id, status="available")
            self.objects[txn_id] = {
                "id": txn_id, "object": "balance_transaction", "livemode": livemode,
                "created": now, "available_on": now, "amount": -total, "fee": 0, "net": -total,
                "currency": currency, "exchange_rate": None, "status": "available",
                "type": "payout",
                "reporting_category": "payout", "source": payout_id, "description": None,
                "fee_details": [], "_payout": payout_id,
            }
            payout = {
                "id": payout_id, "object": "payout", "livemode": livemode, "created": now,
                "arrival_date": now, "amount": total, "currency": currency,
                "automatic": True, "balance_transaction": txn_id, "status": "in_transit",
                "method": "standard", "type": "bank_account", "failure_code": None,
                "failure_message": None, "reconciliation_status": "completed",
            }
            self.objects[payout_id] = payout
            events = [self._event("payout.created", payout)]
            if status == "paid":
                payout["status"] = "paid"
                events.append(self._event("payout.paid", payout))
            else:
                payout.update(status="failed", failure_code=failure_code,
                              failure_message=failure_message)
                events.append(self._event("payout.failed", payout))
            return events

    def _list_payouts(self, params: dict, livemode: bool) -> dict:
        items = self._all("payout", livemode)
        if params.get("status"):
            items = [p for p in items if p["status"] == params["status"]]
        items = self._created_filter(items, params.get("arrival_date"), "arrival_date")
        items = self._created_filter(items, params.get("created"))
        return self._page(items, params, "/v1/payouts")

    def _list_balance_transactions(self, params: dict, livemode: bool) -> dict:
        items = self._all("balance_transaction", livemode)
        if params.get("payout"):
            items = [t for t in items if t["_payout"] == params["payout"]]
        if params.get("type"):
            items = [t for t in items if t["type"] == params["type"]]
        if params.get("source"):
            items = [t for t in items if t["source"] == params["source"]]
        items = self._created_filter(items, params.get("created"))
        return self._page(items, params, "/v1/balance_transactions")
