"""Messages for people through the outbox: which channels a message kind uses (tenant
settings ``messages.channels``), the tenant's own wording (``messages.templates``), phone
numbers in E.164, and the signed receipt link the "payment completed" and "payment
received" messages carry."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core.models import Consumer, Tenant
from loket.core.outbox import delivery, wording
from loket.core.outbox.events import emit_message
from loket.core.settings import Settings
from loket.errors import Gone, NotFound, ValidationFailed
from loket.types import Notification

PHONE_CHANNELS = ("sms", "whatsapp")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")


def e164(phone: str | None) -> str | None:
    """``phone`` as an E.164 number (``+6281234567890``), spaces and dashes removed, or
    ``None`` when it is not one (no leading ``+`` and country code, too short or long)."""
    if not phone:
        return None
    number = _PHONE_PUNCTUATION.sub("", phone)
    return number if _E164.match(number) else None


def channels_for(settings: Settings, kind: str) -> list[str]:
    """The channels a message of ``kind`` goes out on (``messages.channels[kind]``, else
    ``messages.channels.default``)."""
    configured = settings["messages"]["channels"]
    return list(configured.get(kind) or configured.get("default") or ())


def recipients(consumer: Consumer, channels: list[str],
               strict: bool = False) -> list[tuple[str, str]]:
    """The consumer's address on each channel: e-mail for ``email`` (and ``log``), the
    E.164 phone for ``sms`` and ``whatsapp``.

    :param strict: refuse (instead of skip) a channel the consumer has no valid address for.
    :raises ValidationFailed: with ``strict``, naming the channel.
    """
    out = []
    for position, channel in enumerate(channels):
        if channel in PHONE_CHANNELS:
            address = e164(consumer.phone)
            problem = (f"{consumer.account_number} has no phone number in E.164 form (such as "
                       f"+6281234567890) for {channel}")
        else:
            address = consumer.email or (consumer.account_number if channel == "log" else None)
            problem = f"{consumer.account_number} has no e-mail address"
        if address:
            out.append((channel, address))
        elif strict:
            raise ValidationFailed(problem, field=f"channels[{position}]")
    return out


def worded(settings: Settings, kind: str, values: dict[str, Any]) -> wording.Wording:
    """The subject, body and short text of a message of ``kind`` in the tenant's language
    (its ``locale``), in the tenant's own words when it set a template for ``kind``
    (placeholders ``{number}``, ``{amount}``, ``{receipt}``, ``{reason}``, ``{url}``…; the
    payment messages also ``{receipt_url}``, the receipt link, and ``{receipt_url_days}``,
    how long it works); unknown placeholders are left as written."""
    return wording.worded(kind, settings["locale"], values,
                          settings["messages"]["templates"].get(kind))


def notification(settings: Settings, tenant_id: int, kind: str, values: dict[str, Any],
                 data: dict[str, Any], recipients: tuple[str, ...] = ()) -> Notification:
    """A notification of ``kind`` worded for the tenant (:func:`worded`); its ``data``
    carries the short text for SMS and WhatsApp under ``"sms"``."""
    text = worded(settings, kind, values)
    return Notification(tenant_id=tenant_id, kind=kind, subject=text.subject, body=text.body,
                        recipients=recipients, data={**data, "sms": text.short})


def send_later(ctx: Any, session: Session, settings: Settings, consumer: Consumer,
               notification: Notification, ordering_key: str,
               channels: list[str] | None = None) -> None:
    """Write a message for a consumer to the outbox (caller's transaction) on the channels
    the tenant chose for its kind; it is tried right after the commit and retried by the
    worker."""
    chosen = channels if channels is not None else channels_for(settings, notification.kind)
    chosen = [c for c in chosen if c in ctx.plugins.channels]
    emit_message(session, notification, recipients(consumer, chosen), ordering_key,
                 now=ctx.now(), kick=lambda event_row_id: kick(ctx, event_row_id))


def kick(ctx: Any, event_row_id: int) -> None:
    """Try a message's deliveries now: through the worker when one is wired (a slow server
    never holds a request), else in this process."""
    if ctx.outbox_kick is not None:
        ctx.outbox_kick(event_row_id)  # the worker sends it: a slow server never holds a request
    else:
        delivery.deliver_event(ctx, event_row_id)


# The receipt link: whoever holds it downloads that payment's receipt PDF, with no sign-in,
# for RECEIPT_LINK_DAYS days from the message (a payer without an account has no other way
# back to it once the guest visit ends).
RECEIPT_LINK = "receipt"
RECEIPT_LINK_DAYS = 180
RECEIPT_LINK_PATH = "/receipts/{tenant}/{number}"
_RECEIPT_STATES = ("completed", "posted")


def tenant_slug(session: Session, tenant_id: int) -> str:
    """The slug of tenant ``tenant_id`` (the receipt link's first path segment), read once
    per transaction and without flushing: a batch of events names it once per payment, and
    a flush there would send the batch's writes one event at a time."""
    known = session.info.setdefault("tenant_slugs", {})
    if tenant_id not in known:
        known[tenant_id] = session.connection().execute(
            select(Tenant.slug).where(Tenant.id == tenant_id)).scalar_one()
    return known[tenant_id]


def receipt_link(ctx: Any, slug: str, tenant_id: int, number: str) -> str:
    """The link to the receipt PDF of payment ``number`` of tenant ``tenant_id`` (whose slug
    is ``slug``): ``{base_url}/receipts/{slug}/{number}?sig={expiry}.{mac}``, the mac (the
    container's :class:`~loket.core.tenants.TokenSigner`, newest ``LOKET_SECRET_KEY``)
    binding the tenant, the payment and the expiry, :data:`RECEIPT_LINK_DAYS` days from
    now."""
    expires = int((ctx.now() + dt.timedelta(days=RECEIPT_LINK_DAYS)).timestamp())
    mac = ctx.signer.mac(_receipt_text(tenant_id, number, expires))
    path = RECEIPT_LINK_PATH.format(tenant=quote(slug, safe=""), number=quote(number, safe=""))
    return f"{ctx.config.base_url}{path}?sig={expires}.{mac}"


def _receipt_text(tenant_id: int, number: str, expires: int) -> str:
    return f"{RECEIPT_LINK}:{tenant_id}:{number}:{expires}"


def receipt_url(ctx: Any, slug: str, payment: Any) -> str:
    """The receipt link of the message about ``payment`` (a row or an object with its
    attributes) in its current state: :func:`receipt_link` once the payment is completed
    or posted with a receipt number, else ``""`` (the other messages carry none)."""
    if not carries_receipt_link(payment):
        return ""
    return receipt_link(ctx, slug, payment.tenant_id, payment.number)


def carries_receipt_link(payment: Any) -> bool:
    """Whether the message about ``payment`` in its current state carries a receipt link
    (completed or posted, with a receipt number): checked before the tenant's slug is
    looked up, so that the other messages cost no query."""
    return payment.status in _RECEIPT_STATES and payment.receipt_number is not None


def verify_receipt_link(ctx: Any, tenant_id: int, number: str, sig: str | None) -> None:
    """Check a receipt link's signature for payment ``number`` of tenant ``tenant_id``; any
    configured ``LOKET_SECRET_KEY`` may have signed it (a key rotation keeps the links sent
    before it while the old key is listed).

    :raises NotFound: a missing, altered or forged signature, or one made for another
        tenant or payment.
    :raises Gone: a genuine link older than :data:`RECEIPT_LINK_DAYS` days.
    """
    expires, _dot, mac = (sig or "").partition(".")
    if not expires.isdigit() or not ctx.signer.mac_matches(
            _receipt_text(tenant_id, number, int(expires)), mac):
        raise NotFound(f"no receipt link for payment {number!r}")
    if int(expires) < int(ctx.now().timestamp()):
        raise Gone(f"the receipt link of payment {number!r} has expired", field="sig")
