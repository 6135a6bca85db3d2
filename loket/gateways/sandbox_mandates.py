"""The sandbox gateway's mandates: a page where the payer "saves a card" whose behaviour
they choose, off-session charges that succeed or decline accordingly, and the signed
``mandate.*`` webhooks the sandbox sends to loket.

Cards the payer can choose on ``/sandbox/mandate/{reference}`` (like a real gateway's test
cards): ``ok`` (charges succeed), ``soft`` (always declined: insufficient funds, soft),
``soft2`` (declined softly twice, then paid), ``hard`` (authentication required: hard),
``stolen`` (reported stolen: hard); or *Refuse* (the set-up fails).
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

import falcon

from loket.gateways import sandbox_rules
from loket.gateways import sandbox_store as store
from loket.plugin_api import (
    ChargeOutcome,
    DeclineKind,
    MandateChargeResult,
    MandateEvent,
    MandateEventType,
    MandateSetup,
    PaymentMethodSummary,
    WebhookRejected,
    hookimpl,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS mandates (
    reference TEXT PRIMARY KEY, config_id INTEGER, mandate_id TEXT, return_url TEXT,
    cancel_url TEXT, webhook_url TEXT, secret TEXT, status TEXT, card TEXT, token TEXT,
    declined INTEGER DEFAULT 0, UNIQUE (config_id, mandate_id));
CREATE TABLE IF NOT EXISTS mandate_charges (
    charge_id TEXT PRIMARY KEY, token TEXT, result TEXT);
"""

# card -> (decline code, kind, message) for every charge; soft2 declines only twice
CARDS: dict[str, tuple[str, DeclineKind, str] | None] = {
    "ok": None,
    "soft": ("insufficient_funds", DeclineKind.SOFT, "Your card has insufficient funds."),
    "soft2": ("insufficient_funds", DeclineKind.SOFT, "Your card has insufficient funds."),
    "hard": ("authentication_required", DeclineKind.HARD,
             "The card issuer requires the payer to authenticate this payment."),
    "stolen": ("stolen_card", DeclineKind.HARD, "The card was reported stolen."),
}
BUTTONS = (("ok", "Save card"), ("soft", "Save card: declines (insufficient funds)"),
           ("soft2", "Save card: declines twice, then pays"),
           ("hard", "Save card: needs authentication (hard decline)"),
           ("stolen", "Save card: reported stolen (hard decline)"), ("refuse", "Refuse"))


def _db(options: dict[str, Any]) -> Any:
    db = store.open_path(store.store_path(options))
    db.executescript(SCHEMA)
    return db


def _mandate(db: Any, reference: str) -> Any:
    return db.execute("SELECT * FROM mandates WHERE reference = ?", (reference,)).fetchone()


def _webhook(row: Any, payload: dict[str, Any]) -> Any:
    from loket.gateways.sandbox_page import Webhook  # noqa: PLC0415 - page imports this module

    body = json.dumps(payload, sort_keys=True).encode()
    return Webhook(url=row["webhook_url"], body=body,
                   headers={"Content-Type": "application/json",
                            "Sandbox-Signature": sandbox_rules.sign_with_key(row["secret"], body)})


@hookimpl(trylast=True)
def loket_gateway_mandate_setup(config: Any, request: Any) -> MandateSetup | None:
    """Record the set-up (idempotent on the mandate id) and answer the sandbox's page."""
    if config.kind != sandbox_rules.KIND:
        return None
    db = _db(config.options)
    existing = db.execute("SELECT reference FROM mandates WHERE config_id = ? AND "
                          "mandate_id = ?", (config.id, request.mandate_id)).fetchone()
    reference = existing["reference"] if existing else f"sbx_mdt_{secrets.token_hex(10)}"
    if existing is None:
        db.execute("INSERT INTO mandates (reference, config_id, mandate_id, return_url, "
                   "cancel_url, webhook_url, secret, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (reference, config.id, request.mandate_id, request.return_url,
                    request.cancel_url, config.webhook_url,
                    sandbox_rules.signing_key(config.credentials["secret"]), "open"))
    base = config.options.get("loket_base_url", "http://127.0.0.1:8000").rstrip("/")
    url = f"{base}/sandbox/mandate/{reference}"
    return MandateSetup(redirect_url=url, gateway_reference=reference,
                        raw={"id": reference, "url": url})


@hookimpl(trylast=True)
def loket_gateway_parse_mandate_events(config: Any, request: Any) -> list[MandateEvent] | None:
    """The sandbox's ``mandate.*`` webhooks (``parse_webhook`` ignores them)."""
    if config.kind != sandbox_rules.KIND:
        return None
    sandbox_rules.verify_signature(config.credentials.get("secret", ""),
                    request.headers.get(sandbox_rules.SIGNATURE_HEADER), request.body)
    try:
        data = json.loads(request.body)
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None
    if not str(data.get("type", "")).startswith("mandate."):
        return []
    return [MandateEvent(
        event_id=data["id"], type=MandateEventType(data["type"]),
        mandate_id=data.get("mandate_id"), gateway_reference=data.get("reference"),
        token=data.get("token"), gateway_customer=data.get("customer"),
        method=PaymentMethodSummary(**data["card"]) if data.get("card") else
        PaymentMethodSummary())]


@hookimpl(trylast=True)
def loket_gateway_mandate_charge(config: Any, request: Any) -> MandateChargeResult | None:
    """Charge the saved card as the payer chose it (idempotent on the charge id)."""
    if config.kind != sandbox_rules.KIND:
        return None
    db = _db(config.options)
    done = db.execute("SELECT result FROM mandate_charges WHERE charge_id = ?",
                      (request.charge_id,)).fetchone()
    if done is not None:
        return _result(json.loads(done["result"]))
    row = db.execute("SELECT * FROM mandates WHERE token = ? AND config_id = ?",
                     (request.token, config.id)).fetchone()
    reference = f"sbx_ch_{secrets.token_hex(8)}"
    if row is None or row["status"] != "active":
        result = {"outcome": "declined", "gateway_reference": reference,
                  "decline_code": "payment_method_unavailable", "decline_kind": "hard",
                  "message": "The saved payment method is no longer available."}
    else:
        decline = CARDS[row["card"]]
        if decline is not None and (row["card"] != "soft2" or row["declined"] < 2):
            db.execute("UPDATE mandates SET declined = declined + 1 WHERE reference = ?",
                       (row["reference"],))
            result = {"outcome": "declined", "gateway_reference": reference,
                      "decline_code": decline[0], "decline_kind": str(decline[1]),
                      "message": decline[2]}
        else:
            result = {"outcome": "succeeded", "gateway_reference": reference}
    db.execute("INSERT OR IGNORE INTO mandate_charges VALUES (?, ?, ?)",
               (request.charge_id, request.token, json.dumps(result)))
    return _result(result)


def _result(data: dict[str, Any]) -> MandateChargeResult:
    return MandateChargeResult(
        outcome=ChargeOutcome(data["outcome"]), gateway_reference=data.get("gateway_reference"),
        decline_code=data.get("decline_code"),
        decline_kind=DeclineKind(data["decline_kind"]) if data.get("decline_kind") else None,
        message=data.get("message"), raw=data)


@hookimpl(trylast=True)
def loket_gateway_mandate_revoke(config: Any, gateway_reference: str, token: str | None
                                 ) -> bool | None:
    """Cancel the saved card (nothing to do for one already gone)."""
    if config.kind != sandbox_rules.KIND:
        return None
    _db(config.options).execute("UPDATE mandates SET status = 'revoked' WHERE reference = ?",
                                (gateway_reference,))
    return True


def payer_saves(db: Any, reference: str, card: str) -> tuple[Any, str]:
    """The payer presses a button on the mandate page: saves a card of behaviour ``card``
    (see the module docstring) or ``refuse``s. Returns the ``mandate.*`` webhook (``None``
    when already decided) and where the browser goes next."""
    row = _mandate(db, reference)
    if row is None:
        raise KeyError(reference)
    target = row["cancel_url"] if card == "refuse" else row["return_url"]
    if row["status"] != "open":
        return None, target
    if card == "refuse":
        db.execute("UPDATE mandates SET status = 'failed' WHERE reference = ?", (reference,))
        return _webhook(row, {"id": f"evt_{reference}_failed", "type": "mandate.failed",
                              "mandate_id": row["mandate_id"], "reference": reference}), target
    token = f"sbx_pm_{card}_{secrets.token_hex(6)}"
    db.execute("UPDATE mandates SET status = 'active', card = ?, token = ? WHERE reference = ?",
               (card, token, reference))
    last4 = {"ok": "4242", "soft": "9995", "soft2": "0341", "hard": "3184",
             "stolen": "9979"}[card]
    return _webhook(row, {"id": f"evt_{reference}_active", "type": "mandate.active",
                          "mandate_id": row["mandate_id"], "reference": reference,
                          "token": token, "customer": f"sbx_cus_{row['config_id']}",
                          "card": {"brand": "visa", "last4": last4, "exp_month": 12,
                                   "exp_year": 2030}}), target


def gateway_ends(options: dict[str, Any], reference: str, how: str) -> Any:
    """The sandbox itself ends a mandate (``revoked`` by the bank, or ``expired`` card):
    returns the webhook it sends."""
    db = _db(options)
    row = _mandate(db, reference)
    db.execute("UPDATE mandates SET status = ? WHERE reference = ?", (how, reference))
    return _webhook(row, {"id": f"evt_{reference}_{how}", "type": f"mandate.{how}",
                          "mandate_id": row["mandate_id"], "reference": reference,
                          "token": row["token"]})


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sandbox: save a card</title></head><body><h1>Save a card for auto-pay</h1>
<p>Test gateway, no real card. Choose how the saved card behaves.</p>
<form method="post">{buttons}</form></body></html>"""


class SandboxMandatePage:
    """``GET`` shows the mandate page; ``POST card=…`` is the payer's choice."""

    def _db(self, req: falcon.Request) -> Any:
        config = req.context.loket.config
        return _db({"var_dir": str(config.var_dir), **config.gateway_options.get("sandbox", {})})

    def on_get(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Render one button per card behaviour."""
        row = _mandate(self._db(req), reference)
        if row is None:
            raise falcon.HTTPNotFound()
        buttons = "".join(f'<button name="card" value="{v}">{html.escape(t)}</button>'
                          for v, t in BUTTONS)
        if row["status"] != "open":
            buttons = f"<p>This set-up is {html.escape(row['status'])}.</p>"
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE.format(buttons=buttons)

    def on_post(self, req: falcon.Request, resp: falcon.Response, reference: str) -> None:
        """Save the card, send the webhook to loket, redirect back."""
        form = req.get_media() if req.content_type and "json" in req.content_type else \
            dict(falcon.uri.parse_query_string(req.bounded_stream.read().decode()))
        card = form.get("card")
        if card not in {v for v, _ in BUTTONS}:
            raise falcon.HTTPBadRequest(title="Unknown card",
                                        description="card must be one of the page's buttons")
        try:
            webhook, target = payer_saves(self._db(req), reference, card)
        except KeyError:
            raise falcon.HTTPNotFound() from None
        if webhook is not None:
            webhook.deliver()
        raise falcon.HTTPSeeOther(target)
