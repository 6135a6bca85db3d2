"""The hook implementations: channels ``sms`` and ``whatsapp``.

Deployment options (``LOKET_CHANNEL_OPTIONS``), per channel::

    {"sms": {"account_sid": "AC…", "auth_token": "…", "from": "+15005550006"},
     "whatsapp": {"account_sid": "AC…", "auth_token": "…", "from": "+14155238886"}}

loket hands this plugin only these two entries (and ``var_dir``); ``whatsapp`` falls back
to the ``sms`` entry. ``api_base`` points the client elsewhere (the tests' emulator);
``status_callback`` is passed to Twilio as ``StatusCallback``.
"""

from __future__ import annotations

from typing import Any

from loket.plugin_api import Undeliverable, ValidationFailed, hookimpl
from loket_twilio.api import TwilioAccount, TwilioRefused, send_message

LOKET_CONTRACT = "1.3"
CHANNELS = ("sms", "whatsapp")


@hookimpl
def loket_channel_describe() -> tuple[str, ...]:
    """The channels this plugin sends on."""
    return CHANNELS


@hookimpl
def loket_channel_send(channel: str, recipient: str, message: Any,
                       options: dict[str, Any]) -> str | None:
    """Send the message's short text (``message.data["sms"]``, else its body) to
    ``recipient`` (E.164) by SMS or WhatsApp; returns Twilio's message SID.

    :raises ValidationFailed: the channel has no Twilio options in this deployment.
    :raises Undeliverable: Twilio refused this message for good (a 4xx other than
        authentication and rate limits: an invalid or unreachable number, an
        unsubscribed recipient); the outbox gives it up at once.
    :raises loket_twilio.api.TwilioRefused: Twilio refused for now (the outbox retries).
    """
    if channel not in CHANNELS:
        return None
    settings = options.get(channel) or options.get("sms")
    if not settings:
        raise ValidationFailed(f"the {channel} channel has no Twilio options "
                               f"(LOKET_CHANNEL_OPTIONS)", field="channel_options")
    # loket's messages carry a short text for phones, in the tenant's language.
    text = (message.data or {}).get("sms") or message.body
    try:
        return send_message(TwilioAccount.from_options(settings), recipient, text,
                            whatsapp=channel == "whatsapp")
    except TwilioRefused as exc:
        if 400 <= exc.status < 500 and exc.status not in RETRIED:
            raise Undeliverable(str(exc)) from exc
        raise


RETRIED = frozenset({401, 403, 404, 408, 429})
"""Twilio answers that say nothing about the recipient (loket's credentials or account,
a timeout, a rate limit): retried."""
