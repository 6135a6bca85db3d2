"""A thin client of Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``,
HTTP Basic auth with the account SID and auth token, form fields ``To``, ``From``,
``Body`` and ``StatusCallback``). WhatsApp addresses are the numbers prefixed
``whatsapp:``."""

from __future__ import annotations

from typing import Any

import attrs
import requests

API_BASE = "https://api.twilio.com"
TIMEOUT_SECONDS = 10


@attrs.frozen
class TwilioAccount:
    """Where and as whom to send.

    :param sender: the Twilio number (E.164) messages come from; ``whatsapp_sender`` the
        WhatsApp-enabled one (defaults to ``sender``).
    """

    account_sid: str
    auth_token: str = attrs.field(repr=False)
    sender: str
    whatsapp_sender: str | None = None
    api_base: str = API_BASE
    status_callback: str | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TwilioAccount:
        """Read ``account_sid``, ``auth_token``, ``from``, ``whatsapp_from``, ``api_base``,
        ``status_callback`` from a channel's options.

        :raises KeyError: a required option is missing.
        """
        return cls(account_sid=options["account_sid"], auth_token=options["auth_token"],
                   sender=options["from"], whatsapp_sender=options.get("whatsapp_from"),
                   api_base=(options.get("api_base") or API_BASE).rstrip("/"),
                   status_callback=options.get("status_callback"))


class TwilioRefused(Exception):
    """Twilio answered with an error (its code and message kept)."""

    def __init__(self, status: int, code: Any, message: str):
        super().__init__(f"Twilio refused the message (HTTP {status}, code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


def send_message(account: TwilioAccount, to: str, body: str, whatsapp: bool = False) -> str:
    """Create a Message; returns its SID (``SM…``).

    :raises TwilioRefused: a 4xx/5xx answer; :class:`requests.RequestException` when
        Twilio cannot be reached.
    """
    sender = (account.whatsapp_sender or account.sender) if whatsapp else account.sender
    form = {"To": f"whatsapp:{to}" if whatsapp else to,
            "From": f"whatsapp:{sender}" if whatsapp else sender, "Body": body}
    if account.status_callback:
        form["StatusCallback"] = account.status_callback
    response = requests.post(
        f"{account.api_base}/2010-04-01/Accounts/{account.account_sid}/Messages.json",
        data=form, auth=(account.account_sid, account.auth_token), timeout=TIMEOUT_SECONDS)
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code >= 400:
        raise TwilioRefused(response.status_code, payload.get("code"),
                            str(payload.get("message") or response.reason))
    return str(payload["sid"])
