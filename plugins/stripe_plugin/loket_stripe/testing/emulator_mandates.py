"""The Stripe emulator's saved cards: Customers, Checkout in ``setup`` mode, SetupIntents,
PaymentMethods (attach, detach, automatic updates) and off-session PaymentIntents.

As on Stripe: a ``mode=setup`` Checkout Session needs ``currency``; with ``customer`` the
PaymentMethod saved on the hosted page is attached to that Customer; completing it emits
``setup_intent.succeeded``, ``payment_method.attached`` and ``checkout.session.completed``
(``mode: setup``, ``setup_intent``). ``POST /v1/payment_intents`` with ``confirm=true`` and
``off_session=true`` charges a Customer's PaymentMethod at once: a success is captured like a
Checkout payment; a decline answers HTTP 402 ``card_error`` (``code``, ``decline_code``,
``payment_intent``) and emits ``payment_intent.payment_failed``; a card that needs the payer
to authenticate answers ``authentication_required``.

The hosted setup page offers Stripe's test cards (``card=`` on POST): ``visa`` (4242, charges
succeed), ``insufficient_funds`` (9995, always declined), ``authentication_required`` (3184),
``stolen`` (9979) and ``expired`` (0069). :meth:`MandateMixin.decline_next` scripts the next
charges of a card (e.g. two soft declines, then success).
"""

from __future__ import annotations

from loket_stripe.testing.emulator_http import ApiError, public
from loket_stripe.testing.emulator_http import form_int as _int

# card -> (last4, decline code for every charge or None)
TEST_CARDS = {
    "visa": ("4242", None),
    "insufficient_funds": ("9995", "insufficient_funds"),
    "authentication_required": ("3184", "authentication_required"),
    "stolen": ("9979", "stolen_card"),
    "expired": ("0069", "expired_card"),
}
MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "authentication_required": "Your card was declined. This transaction requires "
                               "authentication.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "generic_decline": "Your card was declined.",
}


class MandateMixin:
    """Customers, setup-mode sessions, SetupIntents, PaymentMethods, off-session charges."""

    def mandate_routes(self):
        """The endpoints this mixin serves (added to the emulator's routing table)."""
        return (
            ("POST", r"/v1/customers", self._create_customer),
            ("GET", r"/v1/customers/([^/]+)", self._get("customer")),
            ("GET", r"/v1/setup_intents/([^/]+)", self._get("setup_intent")),
            ("GET", r"/v1/payment_methods/([^/]+)", self._get("payment_method")),
            ("POST", r"/v1/payment_methods/([^/]+)/detach", self._detach_api),
            ("POST", r"/v1/payment_intents", self._create_intent),
        )

    # -- customers ------------------------------------------------------------------------

    def _create_customer(self, params: dict, livemode: bool) -> dict:
        customer = {"id": self.new_id("cus"), "object": "customer", "livemode": livemode,
                    "created": self.now(), "email": params.get("email"),
                    "name": params.get("name"), "metadata": params.get("metadata") or {}}
        self.objects[customer["id"]] = customer
        return customer

    # -- setup-mode Checkout --------------------------------------------------------------

    def _create_setup_session(self, params: dict, livemode: bool) -> dict:
        if not params.get("currency"):
            raise ApiError(400, "currency is required in setup mode when using dynamic "
                                "payment methods.", code="parameter_missing", param="currency")
        if not params.get("success_url"):
            raise ApiError(400, "Missing required param: success_url.",
                           code="parameter_missing", param="success_url")
        customer = params.get("customer")
        if customer and self.objects.get(customer, {}).get("object") != "customer":
            raise ApiError(400, f"No such customer: '{customer}'", code="resource_missing",
                           param="customer")
        now = self.now()
        session_id = self.new_id("cs", livemode)
        session = {
            "id": session_id, "object": "checkout.session", "livemode": livemode,
            "created": now, "expires_at": now + 24 * 3600, "mode": "setup", "status": "open",
            "payment_status": "no_payment_required", "currency": params["currency"],
            "amount_total": None, "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {}, "customer": customer,
            "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
            "url": f"{self.url}/c/pay/{session_id}", "payment_intent": None,
            "setup_intent": None, "ui_mode": "hosted_page",
            "_si_data": params.get("setup_intent_data") or {},
        }
        self.objects[session_id] = session
        return session

    def save_card(self, session_id: str, card: str = "visa") -> list[dict]:
        """The payer saves test card ``card`` on a setup-mode session.

        :returns: the events Stripe emits, the last one ``checkout.session.completed``.
        """
        with self._lock:
            session = self._open_session(session_id)
            last4, _decline = TEST_CARDS[card]
            method = {"id": self.new_id("pm"), "object": "payment_method",
                      "livemode": session["livemode"], "created": self.now(), "type": "card",
                      "customer": session["customer"], "metadata": {},
                      "card": {"brand": "visa", "last4": last4, "exp_month": 12,
                               "exp_year": 2030, "funding": "credit"},
                      "_behaviour": card, "_script": []}
            self.objects[method["id"]] = method
            intent = {"id": self.new_id("seti"), "object": "setup_intent",
                      "livemode": session["livemode"], "created": self.now(),
                      "customer": session["customer"], "payment_method": method["id"],
                      "status": "succeeded", "usage": "off_session",
                      "metadata": dict(session["_si_data"].get("metadata") or {})}
            self.objects[intent["id"]] = intent
            session.update(status="complete", url=None, setup_intent=intent["id"])
            events = [self._event("setup_intent.succeeded", intent)]
            if method["customer"]:
                events.append(self._event("payment_method.attached", method))
            events.append(self._event("checkout.session.completed", session))
            return events

    def payment_method(self, method_id: str) -> dict:
        """A PaymentMethod's current state (public copy), for assertions."""
        return public(self.objects[method_id])

    # -- payment methods ------------------------------------------------------------------

    def _detach_api(self, params: dict, livemode: bool, method_id: str) -> dict:
        method = self._get("payment_method")(params, livemode, method_id)
        if not method["customer"]:
            raise ApiError(400, "The payment method you provided is not attached to a "
                                "customer so detachment is impossible.",
                           code="payment_method_unexpected_state")
        return self._detach(method)

    def _detach(self, method: dict) -> dict:
        previous = {"customer": method["customer"]}
        method["customer"] = None
        self._event("payment_method.detached", method, previous)
        return method

    def customer_removes_card(self, method_id: str) -> list[dict]:
        """The card is removed from its Customer outside loket (e.g. in the Dashboard)."""
        with self._lock:
            self._detach(self.objects[method_id])
            return [self.events[-1]]

    def card_updated(self, method_id: str, last4: str = "1881", exp_year: int = 2032
                     ) -> list[dict]:
        """The card network updates a saved card (``payment_method.automatically_updated``)."""
        with self._lock:
            method = self.objects[method_id]
            previous = {"card": dict(method["card"])}
            method["card"].update(last4=last4, exp_year=exp_year)
            return [self._event("payment_method.automatically_updated", method, previous)]

    def decline_next(self, method_id: str, *codes: str) -> None:
        """Decline the card's next charges with these decline codes, in order."""
        with self._lock:
            self.objects[method_id]["_script"].extend(codes)

    # -- off-session charges --------------------------------------------------------------

    def _create_intent(self, params: dict, livemode: bool) -> dict:
        amount = _int(params, "amount", required=True)
        currency = params.get("currency")
        if not currency:
            raise ApiError(400, "Missing required param: currency.", code="parameter_missing",
                           param="currency")
        if params.get("confirm") != "true" or params.get("off_session") != "true":
            raise ApiError(400, "This emulator creates PaymentIntents only with confirm=true "
                                "and off_session=true.", param="confirm")
        method = self.objects.get(params.get("payment_method") or "")
        if method is None or method.get("object") != "payment_method":
            raise ApiError(400, f"No such PaymentMethod: '{params.get('payment_method')}'",
                           code="resource_missing", param="payment_method")
        if not method["customer"] or method["customer"] != params.get("customer"):
            raise ApiError(400, "The provided PaymentMethod was previously used with a "
                                "PaymentIntent without Customer attachment, shared with a "
                                "connected account without Customer attachment, or was "
                                "detached from a Customer. It may not be used again.",
                           param="payment_method")
        intent = {
            "id": self.new_id("pi"), "object": "payment_intent", "livemode": livemode,
            "created": self.now(), "amount": amount, "amount_received": 0,
            "currency": currency, "status": "requires_confirmation",
            "customer": method["customer"], "payment_method": method["id"],
            "metadata": params.get("metadata") or {}, "description": params.get("description"),
            "latest_charge": None, "last_payment_error": None,
            "payment_method_types": ["card"], "setup_future_usage": None,
        }
        self.objects[intent["id"]] = intent
        decline = method["_script"].pop(0) if method["_script"] else \
            TEST_CARDS[method["_behaviour"]][1]
        if decline is None:
            self._capture(intent)
            return intent
        code = decline if decline in ("authentication_required", "expired_card") \
            else "card_declined"
        error = {"type": "card_error", "code": code, "message": MESSAGES.get(decline,
                                                                            MESSAGES["generic_decline"]),
                 "payment_method": {"id": method["id"]}}
        if code == "card_declined":
            error["decline_code"] = decline
        intent.update(status="requires_payment_method", last_payment_error=error)
        self._event("payment_intent.payment_failed", intent)
        raise ApiError(402, error["message"], type="card_error", code=code,
                       decline_code=error.get("decline_code"),
                       payment_intent={"id": intent["id"], "object": "payment_intent",
                                       "status": intent["status"]})
