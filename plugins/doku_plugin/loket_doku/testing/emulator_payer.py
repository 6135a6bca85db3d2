"""The payer in the DOKU emulator: paying a checkout by virtual account, card or at a
convenience store, a declined card, an expired checkout, and the order as DOKU describes it.
A mixin of :class:`~loket_doku.testing.emulator.DokuEmulator`."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from loket_doku.testing.emulator_wire import utc_now, utc_stamp


class PayerMixin:
    """What the payer does (see the module docstring)."""

    orders: dict[str, dict]
    refund_script: list[dict]
    _lock: threading.RLock
    _counter: itertools.count

    def script_refund(self, status: str | None, message: str | None = None,
                      code: str | None = None) -> None:
        """Make the next refund answer HTTP 200 with ``refund.status = status`` (``None``: no
        status at all) and optional ``message``/``code``, without moving any money."""
        self.refund_script.append({"status": status, "message": message, "code": code})

    def _settle_outcome(self, invoice: str, status: str, channel: dict) -> dict:
        with self._lock:
            order = self.orders[invoice]
            retrying = order["status"] == "FAILED" and order["retry_allowed"]
            if order["status"] != "PENDING" and not retrying:
                raise ValueError(f"order {invoice} is {order['status']}, not open for payment")
            order["status"], order["channel"] = status, channel
            order["paid_at"] = utc_now()
            return self.status_body(invoice)

    def pay_va(self, invoice: str, bank: str = "BCA") -> dict:
        """The payer pays by virtual account; returns the notification body DOKU sends."""
        number = f"1900{next(self._counter):012d}"
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "VIRTUAL_ACCOUNT", "acquirer": bank, "channel": f"VIRTUAL_ACCOUNT_{bank}",
            "virtual_account_info": {"virtual_account_number": number},
            "virtual_account_payment": {"identifier": [
                {"name": "REFERENCE", "value": str(next(self._counter))}]},
        })

    def pay_card(self, invoice: str) -> dict:
        """The payer pays by card (approved)."""
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "CREDIT_CARD", "acquirer": "BANK_MANDIRI", "channel": "CREDIT_CARD",
            "card_payment": {"masked_card_number": "411111******1111",
                             "approval_code": f"{next(self._counter):06d}",
                             "response_code": "00", "response_message": "PAYMENT APPROVED",
                             "issuer": "BANK MANDIRI"},
        })

    def pay_o2o(self, invoice: str, store: str = "ALFA") -> dict:
        """The payer pays at a convenience store (online-to-offline payment code)."""
        code = f"8888{next(self._counter):08d}"
        return self._settle_outcome(invoice, "SUCCESS", {
            "service": "ONLINE_TO_OFFLINE", "acquirer": store,
            "channel": f"ONLINE_TO_OFFLINE_{store}",
            "online_to_offline_info": {"payment_code": code},
        })

    def decline_card(self, invoice: str, message: str = "DO NOT HONOR",
                     code: str = "05") -> dict:
        """The payer's card is declined (transaction status FAILED). The payer may try again
        on the same checkout unless it was created with ``disable_retry_payment``."""
        return self._settle_outcome(invoice, "FAILED", {
            "service": "CREDIT_CARD", "acquirer": "BANK_MANDIRI", "channel": "CREDIT_CARD",
            "card_payment": {"masked_card_number": "400000******0002", "response_code": code,
                             "response_message": message},
        })

    def expire(self, invoice: str) -> dict:
        """The payment deadline passes unpaid (status EXPIRED; DOKU sends no notification)."""
        return self._settle_outcome(invoice, "EXPIRED", {})

    def status_body(self, invoice: str) -> dict:
        """The order as DOKU describes it in notifications and check-status answers."""
        order = self.orders[invoice]
        channel = order["channel"]
        body: dict[str, Any] = {
            "order": {"invoice_number": order["invoice"], "amount": order["amount"]},
            "transaction": {"status": order["status"],
                            "date": utc_stamp(order["paid_at"] or order["created"]),
                            "original_request_id": order["request_id"]},
        }
        if channel:
            body["service"] = {"id": channel["service"]}
            body["acquirer"] = {"id": channel["acquirer"]}
            body["channel"] = {"id": channel["channel"]}
            for block in ("virtual_account_info", "virtual_account_payment",
                          "online_to_offline_info", "card_payment"):
                if block in channel:
                    body[block] = channel[block]
        if order["refunds"]:
            last = order["refunds"][-1]
            body["refund"] = {"id": last["id"], "amount": last["amount"]}
        return body
