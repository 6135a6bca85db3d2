"""Disputes in the Stripe emulator: a payer's bank challenges a charge.

A mixin of :class:`~loket_stripe.testing.emulator.StripeEmulator`. :meth:`dispute` opens one
(``charge.dispute.created``, status ``needs_response`` — ``warning_needs_response`` for an
inquiry), :meth:`review_dispute` submits evidence (``charge.dispute.updated``,
``under_review``) and :meth:`close_dispute` ends it (``charge.dispute.closed``: ``won``,
``lost`` or ``warning_closed``). Opening one takes the disputed amount and Stripe's 15.00
dispute fee from the balance (a ``dispute`` balance transaction); winning gives the amount
back (``charge.dispute.funds_reinstated``). ``GET /v1/disputes/{id}`` retrieves one.
"""

from __future__ import annotations

DISPUTE_FEE = 1500
DISPUTE_REASONS = ("bank_cannot_process", "credit_not_processed", "customer_initiated",
                   "debit_not_authorized", "duplicate", "fraudulent", "general",
                   "incorrect_account_details", "insufficient_funds", "product_not_received",
                   "product_unacceptable", "subscription_canceled", "unrecognized")


class DisputeMixin:
    """Disputes on charges (see the module docstring)."""

    def dispute_routes(self):
        """The dispute endpoints the emulator serves."""
        return (("GET", r"/v1/disputes/([^/]+)", self._get("dispute")),)

    def _charge_of(self, reference: str) -> dict:
        """The charge of a charge, PaymentIntent or Checkout Session id."""
        obj = self.objects[reference]
        if obj["object"] == "checkout.session":
            obj = self.objects[obj["payment_intent"]]
        if obj["object"] == "payment_intent":
            obj = self.objects[obj["latest_charge"]]
        return obj

    def dispute(self, reference: str, *, reason: str = "fraudulent", amount: int | None = None,
                inquiry: bool = False) -> list[dict]:
        """The cardholder's bank disputes the charge of ``reference`` (a charge, PaymentIntent
        or Checkout Session id) for ``amount`` (default all of it).

        :returns: ``[charge.dispute.created]`` (``charge.dispute.funds_withdrawn`` too when it
            is not an inquiry).
        """
        if reason not in DISPUTE_REASONS:
            raise ValueError(f"not a Stripe dispute reason: {reason}")
        with self._lock:
            charge = self._charge_of(reference)
            now = self.now()
            disputed = amount if amount is not None else charge["amount"]
            dispute = {
                "id": self.new_id("dp"), "object": "dispute", "livemode": charge["livemode"],
                "created": now, "amount": disputed, "currency": charge["currency"],
                "charge": charge["id"], "payment_intent": charge["payment_intent"],
                "reason": reason, "metadata": {}, "is_charge_refundable": False,
                "status": "warning_needs_response" if inquiry else "needs_response",
                "evidence_details": {"due_by": now + 7 * 86400, "submission_count": 0},
                "balance_transactions": [],
            }
            self.objects[dispute["id"]] = dispute
            charge["disputed"] = True
            events = [self._event("charge.dispute.created", dispute)]
            if not inquiry:
                self._dispute_transaction(dispute, -(disputed + DISPUTE_FEE), DISPUTE_FEE)
                events.append(self._event("charge.dispute.funds_withdrawn", dispute))
            return events

    def review_dispute(self, dispute_id: str) -> list[dict]:
        """Evidence is submitted: ``[charge.dispute.updated]`` with status ``under_review``."""
        with self._lock:
            dispute = self.objects[dispute_id]
            previous = dispute["status"]
            dispute["status"] = ("warning_under_review" if previous.startswith("warning")
                                 else "under_review")
            dispute["evidence_details"]["submission_count"] += 1
            return [self._event("charge.dispute.updated", dispute,
                                previous={"status": previous})]

    def close_dispute(self, dispute_id: str, outcome: str) -> list[dict]:
        """The bank decides: ``outcome`` is ``won``, ``lost`` or ``warning_closed``.

        :returns: ``[charge.dispute.closed]`` (after ``charge.dispute.funds_reinstated``
            when won).
        """
        if outcome not in ("won", "lost", "warning_closed"):
            raise ValueError(f"not a closing dispute status: {outcome}")
        with self._lock:
            dispute = self.objects[dispute_id]
            previous = dispute["status"]
            dispute["status"] = outcome
            events = []
            if outcome == "won" and dispute["balance_transactions"]:
                self._dispute_transaction(dispute, dispute["amount"], 0)
                events.append(self._event("charge.dispute.funds_reinstated", dispute))
            events.append(self._event("charge.dispute.closed", dispute,
                                      previous={"status": previous}))
            return events

    def _dispute_transaction(self, dispute: dict, amount: int, fee: int) -> None:
        txn_id = self.new_id("txn")
        self.objects[txn_id] = {
            "id": txn_id, "object": "balance_transaction", "livemode": dispute["livemode"],
            "created": self.now(), "available_on": self.now(), "amount": amount, "fee": fee,
            "net": amount, "currency": dispute["currency"], "exchange_rate": None,
            "status": "available", "type": "adjustment", "reporting_category": "dispute",
            "source": dispute["id"], "description": f"Chargeback for {dispute['charge']}",
            "fee_details": [], "_payout": None,
        }
        dispute["balance_transactions"] = [*dispute["balance_transactions"], txn_id]
