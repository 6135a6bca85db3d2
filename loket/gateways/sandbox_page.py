"""The sandbox gateway's side: its hosted checkout page, the payer's choices, settlements,
and the signed webhooks it sends to loket (over HTTP, like a real gateway)."""

from __future__ import annotations

import datetime as dt
import html
import json
import secrets
from urllib.parse import urlsplit

import attrs
import falcon
import requests

from loket.gateways import sandbox_store as store
from loket.gateways.sandbox_rules import OUTCOMES, settlement_fee, sign_with_key
from loket.plugin_api import EVENT_REFUNDED, EVENT_SETTLED, Money, WebhookRequest


@attrs.frozen
class Webhook:
    """A signed webhook the sandbox sends to a loket configuration."""

    url: str
    body: bytes
    headers: dict

    def as_request(self) -> WebhookRequest:
        """The request as loket receives it (for tests that skip the network)."""
        return WebhookRequest(body=self.body, headers={k.lower(): v for k, v in
                                                       self.headers.items()},
                              path=urlsplit(self.url).path,
                              received_at=dt.datetime.now(dt.UTC))

    def deliver(self, timeout_seconds: int = 10) -> int:
        """POST it to loket; returns the HTTP status loket answered."""
        return requests.post(self.url, data=self.body, headers=self.headers,
                             timeout=timeout_seconds).status_code


def _webhook(row, payload: dict) -> Webhook:
    body = json.dumps(payload, sort_keys=True).encode()
    return Webhook(url=row["webhook_url"], body=body,
                   headers={"Content-Type": "application/json",
                            "Sandbox-Signature": sign_with_key(row["secret"], body)})


def payer_acts(db, reference: str, outcome: str) -> tuple[Webhook | None, str]:
    """The payer presses a button on the hosted page.

    :param outcome: ``pay``, ``decline``, ``network``, ``cancel`` or ``expire``.
    :returns: the webhook the sandbox sends (``None`` when the checkout was already decided)
        and where the payer's browser goes next.
    """
    row = store.find(db, reference)
    if row is None:
        raise KeyError(reference)
    status, event_type, category, code, message = OUTCOMES[outcome]
    target = row["return_url"] if outcome == "pay" else row["cancel_url"]
    if row["status"] != "open":
        return None, target
    now = dt.datetime.now(dt.UTC).isoformat()
    store.set_status(db, reference, status, **({"paid_at": now} if outcome == "pay" else {}))
    payload = {"id": f"evt_{reference}_{status}", "type": event_type, "status": status,
               "payment_id": row["payment_id"], "reference": reference,
               "amount": row["amount"], "currency": row["currency"], "channel": "card"}
    if outcome != "pay":
        payload.update(failure_category=category, failure_code=code, failure_message=message)
    return _webhook(store.find(db, reference), payload), target


def settle(db, config_id: int | None = None) -> list[Webhook]:
    """Pay out every paid checkout (optionally of one configuration): one payout, one
    ``payment.settled`` webhook per checkout with its fee and net."""
    payout = f"sbx_po_{secrets.token_hex(6)}"
    now = dt.datetime.now(dt.UTC).isoformat()
    hooks = []
    for row in store.paid_unsettled(db, config_id):
        store.set_status(db, row["reference"], "settled", settled_at=now, payout_reference=payout)
        fee = settlement_fee(row["amount"])
        hooks.append(_webhook(row, {
            "id": f"evt_{row['reference']}_settled", "type": EVENT_SETTLED, "status": "settled",
            "payment_id": row["payment_id"], "reference": row["reference"],
            "amount": row["amount"], "currency": row["currency"], "fee": fee,
            "net": row["amount"] - fee, "payout_reference": payout}))
    return hooks


def refund_webhook(db, refund_reference: str) -> Webhook | None:
    """The ``payment.refunded`` webhook for a refund the sandbox made (by its reference)."""
    refund = store.find_refund_by_reference(db, refund_reference)
    if refund is None:
        return None
    row = store.find(db, refund["checkout"])
    return _webhook(row, {"id": f"evt_{refund['reference']}", "type": EVENT_REFUNDED,
                          "status": "refunded", "payment_id": row["payment_id"],
                          "reference": row["reference"], "amount": refund["amount"],
                          "currency": row["currency"], "refund_reference": refund["reference"]})


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sandbox checkout</title><style>body{{font-family:sans-serif;max-width:32em;margin:2em auto}}
td{{padding:.2em 1em}} button{{margin:.3em;padding:.5em 1em}}</style></head><body>
<h1>Sandbox checkout</h1><p>Payment <b>{payment}</b> — test gateway, no real money.</p>
<table>{rows}<tr><th>Total</th><th>{total}</th></tr></table>
<form method="post">{buttons}</form></body></html>"""
BUTTONS = (("pay", "Pay"), ("decline", "Decline (insufficient funds)"),
           ("network", "Network error"), ("cancel", "Cancel"))


class SandboxCheckoutPage:
    """``GET`` shows the hosted page; ``POST action=…`` is the payer's choice."""

    def _db(self, req):
        config = req.context.loket.config
        options = {"var_dir": str(config.var_dir), **config.gateway_options.get("sandbox", {})}
        return store.open_path(store.store_path(options))

    def on_get(self, req, resp, reference):
        """Render the items and total with the four buttons."""
        row = store.find(self._db(req), reference)
        if row is None:
            raise falcon.HTTPNotFound()
        items = json.loads(row["items"])
        rows = "".join(
            f"<tr><td>{html.escape(i['description'])}"
            f"{' (' + html.escape(i['period']) + ')' if i.get('period') else ''}</td>"
            f"<td>{Money(i['amount'], row['currency']).format()}</td></tr>" for i in items)
        buttons = "".join(f'<button name="action" value="{v}">{t}</button>' for v, t in BUTTONS)
        if row["status"] != "open":
            buttons = f"<p>This checkout is {html.escape(row['status'])}.</p>"
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE.format(payment=html.escape(row["payment_id"]), rows=rows,
                                total=Money(row["amount"], row["currency"]).format(),
                                buttons=buttons)

    def on_post(self, req, resp, reference):
        """Apply the payer's choice, send the webhook to loket, redirect back."""
        form = req.get_media() if req.content_type and "json" in req.content_type else \
            dict(falcon.uri.parse_query_string(req.bounded_stream.read().decode()))
        action = form.get("action")
        if action not in {v for v, _ in BUTTONS}:
            raise falcon.HTTPBadRequest(title="Unknown action",
                                        description="action must be pay, decline, network "
                                                    "or cancel")
        try:
            webhook, target = payer_acts(self._db(req), reference, action)
        except KeyError:
            raise falcon.HTTPNotFound() from None
        if webhook is not None:
            webhook.deliver()
        raise falcon.HTTPSeeOther(target)


class SandboxLogo:
    """A tiny logo for the gateway list."""

    def on_get(self, req, resp):
        """Serve the SVG."""
        resp.content_type = "image/svg+xml"
        resp.text = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                     '<rect width="64" height="64" rx="12" fill="#2a7"/><text x="32" y="40" '
                     'font-size="20" text-anchor="middle" fill="#fff">SBX</text></svg>')
