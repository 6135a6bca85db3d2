"""Creating, sending, cancelling, listing and paying payment links.

A link names an account and its items (or "everything open"), an amount policy (``full``,
or ``partial`` with a minimum), an expiry, single or multi use, and the channels it is sent
on. Its URL is ``{base_url}/pay/{token}``; the payer needs nothing else.

Paying through a link locks the link's row, so two payers at once are served one after the
other: the second sees what the first checkout already asks for (its intended
allocations) and can only pay what is left, so a link never starts checkouts for more than
its items owe. A single-use link takes one payment: while its checkout is open, paying
again continues that checkout, and once it took money any other payment is refused (the
link stays active, showing what its items still owe, until it is paid or expires).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.backoffice.paging import Page
from loket.core.links import tokens
from loket.core.links.state import (
    AMOUNT_POLICIES,
    LinkStatus,
    change,
    event_data,
    lock_link,
    receivables_of,
    refresh,
)
from loket.core.models import Allocation, Consumer, Payment, PaymentLink, Receivable
from loket.core.outbox import events as outbox_events
from loket.core.outbox import messages
from loket.core.payments import checkout, lifecycle
from loket.core.payments.allocation import AmountPolicy
from loket.core.payments.posting import resolve_item
from loket.core.settings import Settings, load_settings
from loket.core.tenants import consumer_by_account
from loket.errors import Conflict, NotFound, ValidationFailed
from loket.money import Money


@attrs.frozen
class LinkRequest:
    """What staff or the host ask for. Amounts are decimal strings in the tenant currency.

    :param items: ``[{"kind", "reference"}]``; ``None`` means everything open on the account.
    """

    account_number: str
    items: list[dict[str, str]] | None = None
    amount_policy: str = "full"
    minimum: str | None = None
    expires_at: dt.datetime | None = None
    multi_use: bool = False
    channels: tuple[str, ...] = ()
    description: str = ""


def url_of(ctx: Any, link: PaymentLink) -> str:
    """The link's payer URL."""
    return f"{ctx.config.base_url}/pay/{tokens.token_for(ctx.config.secret_keys[0], link.key)}"


def create_link(ctx: Any, session: Session, actor: audit.Actor, tenant_id: int,
                request: LinkRequest) -> PaymentLink:
    """Create an active link, audit it, emit ``payment_link.created`` and send it on its
    channels (through the outbox).

    :raises ValidationFailed: unknown account or item, an item already paid, a bad policy,
        an expiry in the past, a channel not installed or without an address for the
        consumer (naming the field).
    """
    settings = load_settings(session, tenant_id)
    currency = settings.currency
    try:
        consumer = consumer_by_account(session, tenant_id, request.account_number)
    except NotFound:
        raise ValidationFailed(f"unknown account {request.account_number!r}",
                               field="account_number") from None
    if request.amount_policy not in AMOUNT_POLICIES:
        raise ValidationFailed("amount_policy must be full or partial", field="amount_policy")
    receivable_ids = _chosen_receivables(ctx, session, settings, consumer, request)
    minimum = None
    if request.minimum is not None:
        if request.amount_policy != "partial":
            raise ValidationFailed("a minimum applies to partial links only", field="minimum")
        minimum = Money.parse(request.minimum, currency, field="minimum").amount
    now = ctx.now()
    expires_at = request.expires_at or now + dt.timedelta(
        days=settings["payment_links"]["expiry_days"])
    if expires_at <= now:
        raise ValidationFailed("expires_at must be in the future", field="expires_at")
    _check_channels(ctx, consumer, list(request.channels))
    link = PaymentLink(tenant_id=tenant_id, key=tokens.new_key(), consumer_id=consumer.id,
                       receivable_ids=receivable_ids, amount_policy=request.amount_policy,
                       minimum=minimum, currency=currency, multi_use=request.multi_use,
                       channels=list(request.channels), status=LinkStatus.ACTIVE,
                       description=request.description, expires_at=expires_at,
                       created_by=actor.name, created_at=now)
    session.add(link)
    session.flush()
    audit.record(session, actor, "payment_link.created", "payment_link", link.key,
                 after={"account": consumer.account_number, "items": receivable_ids,
                        "amount_policy": link.amount_policy, "minimum": minimum,
                        "multi_use": link.multi_use, "channels": link.channels},
                 tenant_id=tenant_id)
    outbox_events.emit(session, tenant_id, "payment_link.created", event_data(link, consumer),
                       f"payment_link:{link.key}", now=now)
    if link.channels:
        send_link(ctx, session, actor, link)
    return link


def _chosen_receivables(ctx: Any, session: Session, settings: Settings, consumer: Consumer,
                        request: LinkRequest) -> list[int] | None:
    """The receivables a link pays: the resolved chosen items, or None for everything open.

    :raises ValidationFailed: no item chosen, an unknown or paid item (naming its position),
        or an item chosen twice.
    """
    if request.items is None:
        return None
    if not request.items:
        raise ValidationFailed("choose at least one item, or everything open", field="items")
    chosen: list[int] = []
    for position, item in enumerate(request.items):
        try:
            _, resolved = resolve_item(ctx, session, settings, consumer.tenant_id,
                                       consumer.account_number, item["kind"], item["reference"])
        except ValidationFailed as exc:
            raise ValidationFailed(exc.detail, field=f"items[{position}].reference") from None
        chosen.extend(o.receivable_id for o in resolved.obligations)
    if len(set(chosen)) != len(chosen):
        raise ValidationFailed("an item is chosen twice", field="items")
    return chosen


def _check_channels(ctx: Any, consumer: Consumer, channels: list[str]) -> None:
    for position, channel in enumerate(channels):
        if channel not in ctx.plugins.channels:
            raise ValidationFailed(f"channel {channel!r} is not installed (installed: "
                                   f"{', '.join(sorted(ctx.plugins.channels)) or 'none'})",
                                   field=f"channels[{position}]")
    messages.recipients(consumer, channels, strict=True)


def send_link(ctx: Any, session: Session, actor: audit.Actor, link: PaymentLink,
              channels: list[str] | None = None) -> PaymentLink:
    """Send (again) the link's message on ``channels`` (default: the link's own), through
    the outbox.

    :raises Conflict: the link is no longer active.
    """
    now = ctx.now()
    link = lock_link(session, link.id)  # not sent after a cancel made meanwhile
    if refresh(session, link, now) != LinkStatus.ACTIVE:
        raise Conflict(f"the payment link is {link.status}", field="status")
    chosen = list(channels if channels is not None else link.channels)
    consumer = link.consumer
    _check_channels(ctx, consumer, chosen)
    if not chosen:
        raise ValidationFailed("name at least one channel to send the link on",
                               field="channels")
    settings = load_settings(session, link.tenant_id)
    owed = Money(outstanding_for(session, link), link.currency).format(settings["locale"])
    url = url_of(ctx, link)
    note = messages.notification(settings, link.tenant_id, "payment_link.sent",
                                 {"name": consumer.name, "amount": owed, "url": url},
                                 {"payment_link": link.key, "url": url, "outbox": True})
    messages.send_later(ctx, session, settings, consumer, note, f"payment_link:{link.key}",
                        channels=chosen)
    link.last_sent_at = now
    audit.record(session, actor, "payment_link.sent", "payment_link", link.key,
                 after={"channels": chosen}, tenant_id=link.tenant_id)
    return link


def cancel_link(ctx: Any, session: Session, actor: audit.Actor, link: PaymentLink) -> PaymentLink:
    """Cancel an active link (staff, over the API or the console): it starts no checkout
    any more, and the checkouts payers started through it that are still open expire now.

    The payment timeout sweep then asks the gateway about each expired checkout and fails
    it unless it was paid. A payer who still pays on the gateway's page (it may stay open
    until the gateway's own expiry) makes a late payment, handled as any other: the money
    goes to the items the checkout chose, and what they no longer owe becomes a credit note.

    :returns: the cancelled link.
    :raises Conflict: the link is already paid, expired or cancelled.
    """
    link = lock_link(session, link.id)
    now = ctx.now()
    if refresh(session, link, now) != LinkStatus.ACTIVE:
        raise Conflict(f"the payment link is {link.status}", field="status")
    change(session, actor, link, LinkStatus.CANCELLED, now)
    return link


def get_link(session: Session, tenant_id: int, key: str) -> PaymentLink:
    """One link of the tenant by its id (404 for another tenant's)."""
    link = session.scalar(select(PaymentLink).where(PaymentLink.tenant_id == tenant_id,
                                                    PaymentLink.key == key))
    if link is None:
        raise NotFound(f"no payment link {key!r}")
    return link


def link_by_token(ctx: Any, session: Session, token: str) -> PaymentLink:
    """The link a payer's URL token names (404 for a forged or unknown one)."""
    key = tokens.key_of(ctx.config.secret_keys, token)
    link = session.scalar(select(PaymentLink).where(PaymentLink.key == key))
    if link is None:
        raise NotFound("no such payment link")
    return link


def list_links(session: Session, tenant_id: int, status: str | None = None,
               account_number: str | None = None, page: int = 1, limit: int = 20,
               newest_first: bool = True) -> Page:
    """Links of the tenant, filtered by status and account, newest first."""
    query = select(PaymentLink).where(PaymentLink.tenant_id == tenant_id)
    if status:
        query = query.where(PaymentLink.status == status)
    if account_number:
        query = query.join(Consumer, Consumer.id == PaymentLink.consumer_id).where(
            Consumer.account_number == account_number)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = PaymentLink.id.desc() if newest_first else PaymentLink.id
    rows = session.scalars(query.order_by(order).offset((page - 1) * limit).limit(limit)).all()
    return Page(items=list(rows), total=total, page=page, limit=limit)


def in_flight(session: Session, link: PaymentLink, now: dt.datetime) -> dict[int, int]:
    """What checkouts through this link that are still open (initiated, not expired) ask
    of each receivable: ``{receivable id: amount}``."""
    rows = session.execute(select(Allocation.receivable_id, Allocation.amount).join(
        Payment, Payment.id == Allocation.payment_id).where(
        Payment.payment_link_id == link.id, Payment.status == "initiated",
        Payment.expires_at > now, Allocation.state == "intended")).all()
    out: dict[int, int] = {}
    for receivable_id, amount in rows:
        out[receivable_id] = out.get(receivable_id, 0) + amount
    return out


def used(session: Session, link: PaymentLink) -> bool:
    """Whether a single-use link has had its one payment (one through it took money)."""
    return not link.multi_use and bool(session.scalar(
        select(func.count()).select_from(Payment).where(
            Payment.payment_link_id == link.id,
            Payment.status.in_(tuple(lifecycle.MONEY_TAKEN)))))


def _open_checkout(session: Session, link: PaymentLink, now: dt.datetime) -> Payment | None:
    """The newest checkout through the link still open (initiated, not expired), if any."""
    return session.scalar(select(Payment).where(
        Payment.payment_link_id == link.id, Payment.status == "initiated",
        Payment.expires_at > now).order_by(Payment.id.desc()).limit(1))


def _asks_everything(session: Session, link: PaymentLink, started: Payment,
                     amount: str | None) -> bool:
    """Whether the open checkout ``started`` pays everything the link's items still owe,
    and the payer asks for everything again (no amount, or that same amount)."""
    owed = outstanding_for(session, link)
    if started.amount != owed:
        return False
    return amount is None or Money.parse(amount, link.currency, field="amount").amount == owed


def outstanding_for(session: Session, link: PaymentLink) -> int:
    """What the link's items still owe."""
    return sum(r.amount - r.paid for r in receivables_of(session, link) if r.status == "open")


def payable(session: Session, link: PaymentLink,
            now: dt.datetime) -> list[tuple[Receivable, int]]:
    """Each open item of the link with what a new payment may still pay of it (what it
    owes less what open checkouts through the link already ask)."""
    reserved = in_flight(session, link, now)
    out = []
    for row in receivables_of(session, link):
        left = row.amount - row.paid - reserved.get(row.id, 0)
        if row.status == "open" and left > 0:
            out.append((row, left))
    return out


def pay(ctx: Any, session: Session, link: PaymentLink, gateway: str, amount: str | None,
        method: str = "card") -> Payment:
    """Start a checkout through the link (the payer's "Pay" button).

    :param amount: a decimal string for a part payment (partial links only), or ``None``
        for everything the link still asks.
    :returns: the payment (``redirect_url`` is the gateway's page); for a single-use link
        with a checkout still open, that checkout (one payment only, whatever is asked); for
        a multi-use link whose open checkout asks for everything its items still owe, that
        checkout when everything is asked again (the payer pressed Pay twice).
    :raises Conflict: the link is paid, expired or cancelled, a single-use link was used, or
        its items are already being paid by other open checkouts.
    :raises ValidationFailed: an amount outside the link's policy (field ``amount``), or
        below the gateway's minimum charge.
    """
    link = lock_link(session, link.id)
    now = ctx.now()
    status = refresh(session, link, now)
    if status != LinkStatus.ACTIVE:
        raise Conflict(f"this payment link is {status}", field="status")
    if not link.multi_use:
        if used(session, link):
            raise Conflict("this payment link has been used", field="status")
        started = _open_checkout(session, link, now)
        if started is not None:  # one payment only: the payer goes on with the one begun
            return started
    reserved = in_flight(session, link, now)
    rows = payable(session, link, now)
    if not rows:
        started = _open_checkout(session, link, now)
        if started is None or not _asks_everything(session, link, started, amount):
            raise Conflict("everything this link asks for is paid or being paid",
                           field="status")
        return started  # the same payment asked for again: the payer goes on with it
    consumer = link.consumer
    items = [{"kind": r.kind, "reference": r.reference} for r, _ in rows]
    owed = sum(left for _, left in rows)
    policy = AmountPolicy(partial=link.amount_policy == "partial", minimum=link.minimum or 0)
    if amount is not None:
        value = Money.parse(amount, link.currency, field="amount").amount
        policy.check(value, owed, link.currency)
    return checkout.start_checkout(
        ctx, session, audit.Actor(consumer.account_number, "consumer",
                                  tenant_id=link.tenant_id,
                                  account_number=consumer.account_number),
        link.tenant_id, consumer.account_number, gateway, items, method=method, amount=amount,
        policy=policy, payment_link_id=link.id, reserved=reserved,
        lump_sum=link.receivable_ids is None)
