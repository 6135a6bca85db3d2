"""A stateful local emulator of the parts of Stripe's API loket uses, for tests.

Start one per test (or per module), point ``stripe.StripeClient`` at it with
``base_addresses={"api": emulator.url}`` and drive the payer from Python::

    emu = StripeEmulator().start()
    ...                                   # loket creates a Checkout Session through the SDK
    events = emu.pay(session_id)          # the payer pays on the hosted page
    emu.deliver(events[-1], webhook_url)  # Stripe sends the signed webhook
    emu.stop()

What it keeps: Checkout Sessions, PaymentIntents, Charges, Refunds, Disputes, Payouts,
Balance Transactions and Events, per mode (test/live keys). What it checks like Stripe: the
``Authorization: Bearer`` key (401 otherwise), ``Idempotency-Key`` (same key + same params
replays the saved response, different params is a 400 ``idempotency_error``), Checkout's
``expires_at`` window (30 min to 24 h), minimum charge amounts, refunds beyond what is left.
Endpoints: checkout sessions create/retrieve/list/expire, payment intents and charges
retrieve, refunds create/retrieve/list, balance, account, payouts retrieve/list, balance
transactions retrieve/list (``payout``, ``created``, ``type`` filters, ``expand[]=data.source``)
and events retrieve/list.

The hosted page lives at ``{url}/c/pay/{session_id}``: GET shows it, POST ``outcome=pay``,
``decline`` or ``cancel`` acts and answers 303 to the success/cancel URL.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets
import threading
import time

import requests
import stripe

from loket_stripe.testing.emulator_disputes import DisputeMixin
from loket_stripe.testing.emulator_http import ApiError, EmulatorServer
from loket_stripe.testing.emulator_http import form_int as _int
from loket_stripe.testing.emulator_http import public as _public
from loket_stripe.testing.emulator_ledger import LedgerMixin
from loket_stripe.testing.emulator_mandates import TEST_CARDS, MandateMixin

API_VERSION = "2026-10-28.endive"
# Stripe's minimum charge per currency, in the API's minor units. Stripe has no entries for
# IDR and KRW (an amount must convert to at least USD 0.50); the emulator uses about that.
# A currency missing here is refused: the emulator cannot tell whether an amount is enough.
MINIMUM = {"usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
           "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
           "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
           "sek": 300, "sgd": 50, "idr": 800000, "krw": 700}

TEST_SECRET_KEY = "sk_test_51EmulatorSecretKey0000000000"
TEST_PUBLISHABLE_KEY = "pk_test_51EmulatorPublishableKey000000"
TEST_RESTRICTED_KEY = "rk_test_51EmulatorRestrictedKey0000000"
TEST_WEBHOOK_SECRET = "whsec_EmulatorWebhookSecret000000000000"


class StripeEmulator(MandateMixin, LedgerMixin, DisputeMixin):
    """Stateful Stripe stand-in served on 127.0.0.1 (see the module docstring).

    :param default_currency: the account's settlement currency.
    :param exchange_rates: ``{"idr": "0.0000852"}``: charges in these currencies settle in
        ``default_currency`` at that rate (units of the settlement currency per unit of the
        charge's), with ``exchange_rate`` on the balance transaction, as Stripe converts.
        Charges in other currencies settle in their own currency.
    :param fee_percent_bp: Stripe's fee in basis points of the amount (default 2.9%).
    :param fee_fixed: the fixed fee per charge, in minor units of two-decimal currencies.
    """

    def __init__(self, *, secret_key: str = TEST_SECRET_KEY,
                 restricted_key: str = TEST_RESTRICTED_KEY,
                 publishable_key: str = TEST_PUBLISHABLE_KEY,
                 webhook_secret: str = TEST_WEBHOOK_SECRET,
                 account_name: str = "Kota Water Utility", default_currency: str = "usd",
                 exchange_rates: dict | None = None,
                 fee_percent_bp: int = 290, fee_fixed: int = 30):
        self.secret_key = secret_key
        self.restricted_key = restricted_key
        self.publishable_key = publishable_key
        self.webhook_secret = webhook_secret
        self.api_keys = {secret_key: "_live_" in secret_key,
                         restricted_key: "_live_" in restricted_key}
        self.account = {"id": "acct_1Emulator" + secrets.token_hex(4), "object": "account",
                        "business_profile": {"name": account_name},
                        "settings": {"dashboard": {"display_name": account_name}},
                        "country": "US", "default_currency": default_currency,
                        "charges_enabled": True, "payouts_enabled": True,
                        "email": "finance@example.test", "type": "standard"}
        self.exchange_rates = {k.lower(): str(v) for k, v in (exchange_rates or {}).items()}
        self.fee_percent_bp = fee_percent_bp
        self.fee_fixed = fee_fixed
        self.refund_failure: str | None = None  # set: new refunds are created failed
        self.injected: dict = {}  # (method, path) -> (status, message), see fail_next
        self.objects: dict[str, dict] = {}
        self.events: list[dict] = []
        self.idempotency: dict = {}
        self.clock_offset = 0
        self.requests_seen: list[tuple[str, str]] = []
        self.max_page_size = 100  # lower it to exercise a client's pagination
        self._lock = threading.RLock()
        self._idem_locks: dict = {}
        self._seq = 0
        self._server: EmulatorServer | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> StripeEmulator:
        """Serve on a free loopback port; ``self.url`` is then ``http://127.0.0.1:PORT``."""
        self._server = EmulatorServer(self)
        self.url = self._server.url
        return self

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> StripeEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def now(self) -> int:
        """The emulator's clock (epoch seconds), moved by :meth:`advance`."""
        return int(time.time()) + self.clock_offset

    def advance(self, seconds: int) -> None:
        """Move the emulator's clock forward (open sessions past ``expires_at`` expire)."""
        self.clock_offset += seconds
        self._expire_overdue()

    def new_id(self, prefix: str, livemode: bool = False) -> str:
        """A fresh Stripe-looking id such as ``cs_test_000001a1b2c3``."""
        with self._lock:
            self._seq += 1
            body = f"{self._seq:06d}{secrets.token_hex(6)}"
        if not prefix:
            return body
        if prefix == "cs":
            return f"cs_{'live' if livemode else 'test'}_{body}"
        return f"{prefix}_1{body}"

    @contextlib.contextmanager
    def idempotency_lock(self, key: str, idem: str):
        """Serialize concurrent requests carrying the same idempotency key."""
        with self._lock:
            lock = self._idem_locks.setdefault((key, idem), threading.Lock())
        with lock:
            yield

    # -- keys ---------------------------------------------------------------------------

    def revoke_key(self, key: str) -> None:
        """Make ``key`` invalid from now on (the API answers 401)."""
        self.api_keys.pop(key, None)

    def add_key(self, key: str) -> None:
        """Accept another secret or restricted key (its mode read from its prefix)."""
        self.api_keys[key] = "_live_" in key

    def credentials(self, *, with_restricted: bool = False) -> dict:
        """The credentials a tenant admin would enter for this emulated account."""
        creds = {"secret_key": self.secret_key, "publishable_key": self.publishable_key,
                 "webhook_secret": self.webhook_secret}
        if with_restricted:
            creds["restricted_key"] = self.restricted_key
        return creds

    def fail_next(self, method: str, path: str, status: int = 500,
                  message: str = "An unknown error occurred") -> None:
        """Answer the next ``method path`` request with a Stripe ``api_error`` (once)."""
        self.injected[(method, path)] = (status, message)

    # -- routing (called by the HTTP layer) ---------------------------------------------

    def route(self, method: str, path: str, params: dict, key: str) -> tuple[int, dict]:
        """Serve one authenticated API request; returns (status, JSON body)."""
        self.requests_seen.append((method, path))
        injected = self.injected.pop((method, path), None)
        if injected:
            raise ApiError(injected[0], injected[1], type="api_error")
        self._expire_overdue()
        livemode = self.api_keys[key]
        for verb, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self._lock:
                    body = handler(params, livemode, *match.groups())
                    return 200, self._expand(_public(body), params.get("expand") or [])
        raise ApiError(404, f"Unrecognized request URL ({method}: {path}). Please see "
                            "https://stripe.com/docs or we can help at "
                            "https://support.stripe.com/.")

    def _routes(self):
        return (
            ("POST", r"/v1/checkout/sessions", self._create_session),
            ("GET", r"/v1/checkout/sessions", self._list_sessions),
            ("GET", r"/v1/checkout/sessions/([^/]+)", self._get("checkout.session")),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", self._expire_session_api),
            ("GET", r"/v1/payment_intents/([^/]+)", self._get("payment_intent")),
            ("GET", r"/v1/charges/([^/]+)", self._get("charge")),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds", self._list_refunds),
            ("GET", r"/v1/refunds/([^/]+)", self._get("refund")),
            ("GET", r"/v1/balance", self._balance),
            ("GET", r"/v1/account", lambda p, live: dict(self.account)),
            ("GET", r"/v1/payouts", self._list_payouts),
            ("GET", r"/v1/payouts/([^/]+)", self._get("payout")),
            ("GET", r"/v1/balance_transactions", self._list_balance_transactions),
            ("GET", r"/v1/balance_transactions/([^/]+)", self._get("balance_transaction")),
            ("GET", r"/v1/events", self._list_events),
            ("GET", r"/v1/events/([^/]+)", self._get("event")),
            *self.mandate_routes(),
            *self.dispute_routes(),
        )

    def _get(self, kind: str):
        def handler(params, livemode, object_id):
            obj = self.objects.get(object_id)
            if kind == "event":
                obj = next((e for e in self.events if e["id"] == object_id), None)
            if obj is None or obj.get("object") != kind or obj.get("livemode") != livemode:
                raise ApiError(404, f"No such {kind}: '{object_id}'",
                               code="resource_missing", param="id")
            return obj
        return handler

    def _expand(self, body: dict, paths: list) -> dict:
        for path in paths:
            parts = path.split(".")
            targets = body.get("data", []) if parts[0] == "data" else [body]
            field = parts[-1]
            for target in targets:
                ref = target.get(field)
                if isinstance(ref, str) and ref in self.objects:
                    target[field] = _public(self.objects[ref])
        return body

    def _page(self, items: list[dict], params: dict, url: str) -> dict:
        """Stripe list envelope, newest first, with ``limit``/``starting_after``."""
        items = sorted(items, key=lambda o: (o["created"], o["id"]), reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        limit = min(_int(params, "limit") or 10, self.max_page_size)
        return {"object": "list", "url": url, "has_more": len(items) > limit,
                "data": items[:limit]}

    @staticmethod
    def _created_filter(items: list[dict], spec, field: str = "created") -> list[dict]:
        if not isinstance(spec, dict):
            return items if spec is None else [o for o in items if o[field] == int(spec)]
        ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        for op, value in spec.items():
            items = [o for o in items if ops[op](o[field], int(value))]
        return items

    def _all(self, kind: str, livemode: bool) -> list[dict]:
        return [o for o in self.objects.values()
                if o["object"] == kind and o["livemode"] == livemode]

    # -- checkout sessions --------------------------------------------------------------

    def _create_session(self, params: dict, livemode: bool) -> dict:
        if params.get("mode") == "setup":
            return self._create_setup_session(params, livemode)
        if params.get("mode") != "payment":
            raise ApiError(400, "This emulator supports mode=payment and mode=setup.",
                           param="mode")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "line_items is required in payment mode.", param="line_items")
        if len(items) > 100:
            raise ApiError(400, "You may only specify up to 100 line items.",
                           param="line_items")
        if not params.get("success_url"):
            raise ApiError(400, "Missing required param: success_url.",
                           code="parameter_missing", param="success_url")
        currency, total = None, 0
        for index, item in enumerate(items):
            data = item.get("price_data") or {}
            name = (data.get("product_data") or {}).get("name")
            if not data.get("currency") or not name:
                raise ApiError(400, "price_data needs currency and product_data[name].",
                               param=f"line_items[{index}][price_data]")
            if currency and data["currency"] != currency:
                raise ApiError(400, "All line items must use the same currency.",
                               param=f"line_items[{index}][price_data][currency]")
            currency = data["currency"]
            unit = _int(data, "unit_amount", required=True)
            quantity = _int(item, "quantity", required=True)
            total += unit * quantity
        if currency not in MINIMUM:
            raise ApiError(400, f"The emulator knows no minimum charge for {currency}.",
                           param="line_items[0][price_data][currency]")
        minimum = MINIMUM[currency]
        if total < minimum:
            raise ApiError(400, "The Checkout Session's total amount due must add up to at "
                                f"least {minimum} {currency} (minor units).",
                           code="amount_too_small", param="line_items")
        now = self.now()
        expires_at = _int(params, "expires_at") or now + 24 * 3600
        if not now + 30 * 60 <= expires_at <= now + 24 * 3600:
            raise ApiError(400, "The `expires_at` timestamp must be between 30 minutes and "
                                "24 hours from Checkout Session creation.",
                           param="expires_at")
        session_id = self.new_id("cs", livemode)
        session = {
            "id": session_id, "object": "checkout.session", "livemode": livemode,
            "created": now, "expires_at": expires_at, "mode": "payment", "status": "open",
            "payment_status": "unpaid", "currency": currency, "amount_subtotal": total,
            "amount_total": total, "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {}, "customer_email":
                params.get("customer_email"), "customer_details": None,
            "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
            "url": f"{self.url}/c/pay/{session_id}", "payment_intent": None,
            "payment_method_types": ["card"], "ui_mode": "hosted_page",
            "_line_items": items, "_pi_data": params.get("payment_intent_data") or {},
        }
        self.objects[session_id] = session
        return session

    def _list_sessions(self, params: dict, livemode: bool) -> dict:
        items = self._all("checkout.session", livemode)
        if params.get("payment_intent"):
            items = [s for s in items if s["payment_intent"] == params["payment_intent"]]
        items = self._created_filter(items, params.get("created"))
        return self._page(items, params, "/v1/checkout/sessions")

    def _expire_session_api(self, params: dict, livemode: bool, session_id: str) -> dict:
        session = self._get("checkout.session")(params, livemode, session_id)
        if session["status"] != "open":
            raise ApiError(400, f"Only Checkout Sessions with a status in [\"open\"] can be "
                                f"expired. This Checkout Session has a status of "
                                f"\"{session['status']}\".", param="session")
        self._do_expire(session)
        return session

    def _do_expire(self, session: dict) -> None:
        session.update(status="expired", url=None)
        if session["payment_intent"]:
            self.objects[session["payment_intent"]]["status"] = "canceled"
        self._event("checkout.session.expired", session)

    def _expire_overdue(self) -> None:
        with self._lock:
            for obj in list(self.objects.values()):
                if (obj["object"] == "checkout.session" and obj["status"] == "open"
                        and obj["expires_at"] <= self.now()):
                    self._do_expire(obj)

    def session(self, session_id: str) -> dict:
        """The current state of a session (a public copy), for assertions."""
        return _public(self.objects[session_id])

    def sessions(self) -> list[dict]:
        """Every Checkout Session created so far (public copies), oldest first."""
        return [_public(o) for o in self.objects.values() if o["object"] == "checkout.session"]

    # -- the payer ----------------------------------------------------------------------

    def _open_session(self, session_id: str) -> dict:
        session = self.objects.get(session_id)
        if session is None or session["object"] != "checkout.session":
            raise ApiError(404, f"No such checkout session: '{session_id}'")
        if session["status"] != "open":
            raise ApiError(400, f"This Checkout Session is {session['status']}.")
        return session

    def _intent_for(self, session: dict) -> dict:
        if session["payment_intent"]:
            return self.objects[session["payment_intent"]]
        pi_data = session["_pi_data"]
        intent = {
            "id": self.new_id("pi"), "object": "payment_intent", "livemode": session["livemode"],
            "created": self.now(), "amount": session["amount_total"], "amount_received": 0,
            "currency": session["currency"], "status": "requires_payment_method",
            "metadata": dict(pi_data.get("metadata") or {}),
            "description": pi_data.get("description"), "latest_charge": None,
            "last_payment_error": None, "payment_method_types": ["card"],
        }
        self.objects[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        return intent

    def pay(self, session_id: str, *, delayed: bool = False) -> list[dict]:
        """The payer pays the session with a card (or starts a delayed bank debit).

        :param delayed: like a bank debit, the session completes ``unpaid`` and the money
            arrives later with :meth:`settle_delayed`.
        :returns: the events Stripe emits, in Stripe's order; the last one is
            ``checkout.session.completed``.
        """
        with self._lock:
            session = self._open_session(session_id)
            intent = self._intent_for(session)
            session.update(status="complete", url=None, customer_details={
                "email": session["customer_email"] or "payer@example.test", "name": "A. Payer"})
            if delayed:
                intent["status"] = "processing"
                session["payment_status"] = "unpaid"
                return [self._event("checkout.session.completed", session)]
            events = self._capture(intent)
            session["payment_status"] = "paid"
            events.append(self._event("checkout.session.completed", session))
            return events

    def settle_delayed(self, session_id: str, *, succeed: bool = True) -> list[dict]:
        """The delayed payment of a completed-but-unpaid session succeeds or fails."""
        with self._lock:
            session = self.objects[session_id]
            intent = self.objects[session["payment_intent"]]
            if succeed:
                events = self._capture(intent)
                session["payment_status"] = "paid"
                events.append(self._event("checkout.session.async_payment_succeeded", session))
                return events
            intent.update(status="requires_payment_method", last_payment_error={
                "type": "card_error", "code": "payment_method_provider_decline",
                "message": "The payment was declined by the bank."})
            return [self._event("payment_intent.payment_failed", intent),
                    self._event("checkout.session.async_payment_failed", session)]

    def decline(self, session_id: str, code: str = "card_declined",
                message: str = "Your card was declined.",
                decline_code: str | None = "generic_decline") -> list[dict]:
        """A card attempt on the session is declined; the session stays open (payer may retry).

        :returns: ``[payment_intent.payment_failed]`` carrying ``last_payment_error``.
        """
        with self._lock:
            session = self._open_session(session_id)
            intent = self._intent_for(session)
            error = {"type": "card_error", "code": code, "message": message}
            if decline_code:
                error["decline_code"] = decline_code
            intent.update(status="requires_payment_method", last_payment_error=error)
            return [self._event("payment_intent.payment_failed", intent)]

    def expire(self, session_id: str) -> list[dict]:
        """The session expires (payer abandoned it); returns ``[checkout.session.expired]``."""
        with self._lock:
            session = self._open_session(session_id)
            self._do_expire(session)
            return [self.events[-1]]

    def hosted_page_html(self, session_id: str) -> str:
        """The hosted checkout page (GET ``/c/pay/{id}``)."""
        session = self.objects.get(session_id)
        if session is None:
            raise ApiError(404, "No such checkout session")
        if session["mode"] == "setup":
            buttons = "".join(f"<button name='card' value='{c}'>Save {c} card</button>"
                              for c in TEST_CARDS)
            return (f"<html><body><h1>Save a card</h1><p>status: {session['status']}</p>"
                    f"<form method='post'>{buttons}<button name='outcome' value='cancel'>"
                    "Cancel</button></form></body></html>")
        names = "".join(f"<li>{i['price_data']['product_data']['name']}</li>"
                        for i in session["_line_items"])
        return (f"<html><body><h1>Pay {session['amount_total']} "
                f"{session['currency'].upper()}</h1><ul>{names}</ul>"
                f"<p>status: {session['status']}</p><form method='post'>"
                "<button name='outcome' value='pay'>Pay</button>"
                "<button name='outcome' value='decline'>Decline</button>"
                "<button name='outcome' value='cancel'>Cancel</button></form></body></html>")

    def hosted_page_act(self, session_id: str, outcome: str, card: str | None = None) -> str:
        """The payer acts on the hosted page; returns where the browser goes next."""
        session = self.objects.get(session_id) or {}
        if session.get("mode") == "setup":
            if card and outcome != "cancel":
                self.save_card(session_id, card)
                return session["success_url"]
            return session["cancel_url"] or session["success_url"]
        if outcome == "pay":
            self.pay(session_id)
            return self.objects[session_id]["success_url"]
        if outcome == "decline":
            self.decline(session_id)
            return f"{self.url}/c/pay/{session_id}"
        return self.objects[session_id]["cancel_url"] or self.objects[session_id]["success_url"]

    # -- events and webhooks ------------------------------------------------------------

    def _event(self, kind: str, obj: dict, previous: dict | None = None) -> dict:
        data = {"object": _public(copy.deepcopy(obj))}
        if previous:
            data["previous_attributes"] = previous
        event = {"id": self.new_id("evt"), "object": "event", "api_version": API_VERSION,
                 "created": self.now(), "data": data, "livemode": obj["livemode"],
                 "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                 "type": kind}
        self.events.append(event)
        return event

    def _list_events(self, params: dict, livemode: bool) -> dict:
        items = [e for e in self.events if e["livemode"] == livemode]
        if params.get("type"):
            pattern = re.escape(params["type"]).replace(r"\*", ".*")
            items = [e for e in items if re.fullmatch(pattern, e["type"])]
        if params.get("types"):
            items = [e for e in items if e["type"] in params["types"]]
        items = self._created_filter(items, params.get("created"))
        return self._page(items, params, "/v1/events")

    def events_of(self, kind: str) -> list[dict]:
        """Every event of one type emitted so far, oldest first."""
        return [e for e in self.events if e["type"] == kind]

    def signed(self, event: dict, *, secret: str | None = None,
               timestamp: int | None = None) -> tuple[bytes, dict]:
        """Serialize ``event`` as Stripe does and sign it.

        :returns: ``(body, headers)`` with a valid ``Stripe-Signature`` header.
        """
        payload = json.dumps(event, indent=2)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret,
            timestamp=timestamp if timestamp is not None else int(time.time()))
        return payload.encode(), {"Content-Type": "application/json; charset=utf-8",
                                  "Stripe-Signature": header,
                                  "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}

    def deliver(self, event: dict, url: str, *, secret: str | None = None,
                timestamp: int | None = None, times: int = 1) -> list[requests.Response]:
        """POST a signed webhook for ``event`` to ``url`` (``times`` > 1 re-delivers it).

        Re-deliveries carry the same body (same event id) with a fresh signature, as Stripe's
        retries do. Out-of-order delivery is just calling this in another order.
        """
        responses = []
        for _ in range(times):
            body, headers = self.signed(event, secret=secret, timestamp=timestamp)
            responses.append(requests.post(url, data=body, headers=headers, timeout=30))
        return responses

    def deliver_all(self, events: list[dict], url: str, *, reverse: bool = False,
                    secret: str | None = None) -> list[requests.Response]:
        """Deliver several events, in order or reversed (out-of-order delivery)."""
        ordered = list(reversed(events)) if reverse else list(events)
        return [self.deliver(e, url, secret=secret)[0] for e in ordered]
