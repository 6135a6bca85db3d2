"""Notifications from the DOKU emulator: signed like DOKU signs them, delivered with
DOKU's retries, duplicated or re-sent out of order. A mixin of
:class:`~loket_doku.testing.emulator.DokuEmulator`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from loket_doku.testing.emulator_wire import RETRY_SCHEDULE, doku_signature, utc_stamp


class NotificationMixin:
    """Sending notifications (see the module docstring)."""

    orders: dict[str, dict]
    merchants: dict[str, str]
    deliveries: list[dict]
    default_notification_url: str | None

    status_body: Callable[[str], dict]  # PayerMixin's

    def notification(self, invoice: str, target: str, *, secret: str | None = None,
                     extra: dict | None = None, request_id: str | None = None,
                     body: dict | None = None) -> tuple[dict, bytes]:
        """Build a signed notification for ``invoice`` as DOKU sends it to ``target``.

        :param target: the path of the notification URL (DOKU's Request-Target).
        :param secret: sign with this key instead of the merchant's (to test refusal).
        :param extra: fields to add to the body (DOKU adds fields over time).
        :param body: send this body instead of the order's current one.
        :returns: ``(headers, raw body bytes)``; the Request-Id is stable per outcome.
        """
        order = self.orders[invoice]
        data = dict(body if body is not None else self.status_body(invoice))
        data.update(extra or {})
        raw = json.dumps(data).encode()
        client_id = order["client_id"]
        request_id = request_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order['invoice']}:"
                                                  f"{data['transaction']['status']}"))
        stamp = utc_stamp()
        key = secret if secret is not None else self.merchants[client_id]
        return ({"Client-Id": client_id, "Request-Id": request_id, "Request-Timestamp": stamp,
                 "Signature": doku_signature(key, client_id, request_id, stamp, target, raw),
                 "Content-Type": "application/json"}, raw)

    def deliver(self, invoice: str, url: str | None = None, *, retries: int = 3,
                duplicates: int = 0, secret: str | None = None,
                extra: dict | None = None) -> list[int]:
        """POST the order's notification to ``url`` like DOKU does.

        Without a 2xx answer DOKU retries up to ``retries`` times (at +30 min, +6 h and
        +12 h; the emulator does not wait). ``duplicates`` sends that many extra copies
        after a success. ``url`` defaults to the order's override_notification_url.

        :returns: the HTTP status of every attempt, in order.
        """
        url = url or self.orders[invoice]["notify_url"] or self.default_notification_url
        if not url:
            raise ValueError("no notification URL: pass url= or set one at checkout")
        target = urlsplit(url).path

        def attempt(when: str) -> int:
            # Every attempt is a new HTTP request: fresh timestamp and signature, same body
            # and Request-Id.
            headers, raw = self.notification(invoice, target, secret=secret, extra=extra)
            return self._post(url, headers, raw, invoice, when)

        statuses = [attempt("")]
        for when in RETRY_SCHEDULE[:retries]:
            if 200 <= statuses[-1] < 300:
                break
            statuses.append(attempt(when))
        if 200 <= statuses[-1] < 300:
            statuses.extend(attempt("duplicate") for _ in range(duplicates))
        return statuses

    def _post(self, url: str, headers: dict, raw: bytes, invoice: str, when: str) -> int:
        try:
            status = requests.post(url, data=raw, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = 0
        self.deliveries.append({"invoice": invoice, "url": url, "headers": headers,
                                "body": raw, "status": status, "retry": when})
        return status

    def redeliver(self, index: int, url: str | None = None) -> int:
        """Send an earlier delivery (by index in ``deliveries``) again, byte for byte.

        Re-sending an old one after a newer one gives an out-of-order delivery.
        """
        old = self.deliveries[index]
        return self._post(url or old["url"], old["headers"], old["body"], old["invoice"],
                          "redelivery")
