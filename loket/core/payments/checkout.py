"""Online checkout: a consumer pays one or many of their own open items through a gateway.

The total is computed here from the receivables, never taken from the client.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from sqlalchemy import select
from sqlalchemy.orm import Session

from loket.core import audit, idempotency
from loket.core.gateway_configs import configs
from loket.core.host.obligations import Ledger
from loket.core.models import Allocation, Consumer, GatewayConfiguration, Payment
from loket.core.numbering import next_of_each
from loket.core.payments import agreements, allocation, holds, minimum_charge, payers
from loket.core.payments.allocation import AmountPolicy
from loket.core.payments.methods import method_for
from loket.core.payments.payers import Payer
from loket.core.payments.posting import refresh_state, resolve_item
from loket.core.settings import load_settings
from loket.core.states import ITEM_KINDS, AllocationState
from loket.core.tenants import consumer_by_account, require_payable
from loket.errors import GatewayError, NotFound, ValidationFailed
from loket.money import Money
from loket.types import (
    CheckoutItem,
    CheckoutRequest,
    Customer,
    DestinationTarget,
    PaymentStatus,
    ResolvedTarget,
)


def open_items(ctx: Any, session: Session, tenant_id: int,
               account_number: str) -> list[dict[str, str]]:
    """Every open bill, service and installment of an account (a lump sum pays them all),
    as checkout items."""
    settings = load_settings(session, tenant_id)
    ledger = Ledger(session, tenant_id)
    out = []
    for kind in ITEM_KINDS:
        try:
            processor = settings.route(settings.destination_for_processor(kind))["processor"]
        except ValidationFailed:
            continue
        for o in ctx.plugins.retrieve_due(processor, ledger, account_number):
            out.append({"kind": o.kind, "reference": o.reference})
    return out


def start_checkout(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                   account_number: str, gateway_kind: str, items: list[dict],
                   method: str = "card", idempotency_key: str | None = None,
                   amount: str | None = None, policy: AmountPolicy | None = None,
                   payment_link_id: int | None = None,
                   reserved: dict[int, int] | None = None, lump_sum: bool = False,
                   payer: Payer | None = None, guest_session: str | None = None) -> Payment:
    """Create an ``initiated`` payment for the consumer's chosen items and charge the gateway.

    :param items: ``[{"kind": "bill", "reference": "INV-1"}, ...]`` — at least one, each an
        open item of this consumer (bills, services and installments may be mixed).
    :param amount: a decimal string to pay less than the items' total (a part payment),
        checked against ``policy`` (default: the tenant's ``part_payments`` settings); the
        money goes to the items oldest first (:mod:`loket.core.payments.allocation`).
    :param payment_link_id: the payment link the payer pays through, if any.
    :param lump_sum: the items are every open item of the account (the only payment a
        blocked or disabled account takes).
    :param reserved: per receivable id, what open checkouts (of the same link) already ask
        of it; this checkout pays only the rest.
    :param payer: who pays, when not the account holder (on behalf); receipts go to them.
    :param guest_session: the payer token id of a guest (lets the guest see this payment).
    :returns: the payment; ``redirect_url`` is where to send the payer. If the gateway
        refused, the payment comes back ``failed`` with the gateway's message (the attempt is
        recorded, not rolled back) and the caller reports the failure.
    """
    settings = load_settings(session, tenant_id)
    row, prior = idempotency.claim(session, tenant_id, "checkout", idempotency_key,
                                   {"account": account_number, "gateway": gateway_kind,
                                    "items": items, "method": method, "amount": amount,
                                    "payer": attrs.asdict(payer) if payer else None})
    if prior is not None:
        return session.get_one(Payment, prior["payment_id"])
    if not items:
        raise ValidationFailed("choose at least one bill or service to pay", field="items")
    consumer = consumer_by_account(session, tenant_id, account_number)
    require_payable(consumer, lump_sum)
    usable = _usable_gateway(ctx, session, tenant_id, gateway_kind)
    targets = _targets(ctx, session, settings, tenant_id, account_number, items)
    return _open_payment(ctx, session, settings, actor, tenant_id, consumer, usable,
                         method, targets, row, payer=payer, guest_session=guest_session,
                         amount=amount, policy=policy, payment_link_id=payment_link_id,
                         reserved=reserved)


def _targets(ctx, session: Session, settings, tenant_id: int, account_number: str,
             items: list[dict]) -> dict[str, ResolvedTarget]:
    """The chosen items resolved and grouped by the destination that collects them.

    :raises ValidationFailed: an unknown kind, an item chosen twice or not open, naming the
        item's position.
    """
    groups: dict[str, list] = {}
    seen = set()
    for position, item in enumerate(items):
        kind, reference = item.get("kind"), str(item.get("reference") or "")
        if kind not in ITEM_KINDS:
            raise ValidationFailed(f"item kind must be one of {', '.join(ITEM_KINDS)}",
                                   field=f"items[{position}].kind")
        if (kind, reference) in seen:
            raise ValidationFailed(f"{kind} {reference!r} is chosen twice",
                                   field=f"items[{position}].reference")
        seen.add((kind, reference))
        try:
            destination, resolved = resolve_item(ctx, session, settings, tenant_id,
                                                 account_number, kind, reference)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.detail, field=f"items[{position}].reference") from None
        if resolved.hold_key is not None:  # a target that does not exist yet has no items
            raise ValidationFailed(f"{kind} {reference!r} is not open for payment",
                                   field=f"items[{position}].reference")
        groups.setdefault(destination, []).extend(resolved.obligations)
    return {destination: ResolvedTarget(
        DestinationTarget(destination, settings.route(destination)["processor"], account_number),
        account_number, tuple(obligations)) for destination, obligations in groups.items()}


def start_destination_checkout(ctx, session: Session, actor: audit.Actor, tenant_id: int,
                               resolved: ResolvedTarget, gateway_kind: str,
                               method: str = "card", idempotency_key: str | None = None,
                               payer: Payer | None = None,
                               guest_session: str | None = None,
                               amount: str | None = None) -> Payment:
    """Pay one destination target online, recorded under that destination: its fee rule,
    person-type rule, processing and reconciliation rule apply, exactly as its prepare
    quoted. A target that does not exist yet (``resolved.hold_key``) is paid for the amount
    the payer declared and held until the host sends it.

    :param resolved: what ``resolve_targets`` answered for the destination's fields.
    :param amount: a part payment of the target's obligations, as :func:`start_checkout`
        (not for a held target, which is paid at its declared amount).
    :returns: the payment, as :func:`start_checkout`.
    """
    settings = load_settings(session, tenant_id)
    target = resolved.target
    row, prior = idempotency.claim(session, tenant_id, "checkout", idempotency_key,
                                   {"account": resolved.account_number,
                                    "destination": target.destination,
                                    "params": dict(target.params), "gateway": gateway_kind,
                                    "method": method, "amount": amount,
                                    "payer": attrs.asdict(payer) if payer else None})
    if prior is not None:
        return session.get_one(Payment, prior["payment_id"])
    if not resolved.obligations and resolved.hold_key is None:
        raise ValidationFailed("nothing is due for this destination", field="fields")
    if resolved.hold_key is not None and amount is not None:
        raise ValidationFailed("a payment held for a form not yet sent is paid at its "
                               "declared amount", field="amount")
    consumer = consumer_by_account(session, tenant_id, resolved.account_number)
    require_payable(consumer, False)
    usable = _usable_gateway(ctx, session, tenant_id, gateway_kind)
    return _open_payment(ctx, session, settings, actor, tenant_id, consumer, usable,
                         method, {target.destination: resolved}, row, payer=payer,
                         guest_session=guest_session, amount=amount, items_field="fields")


def _open_payment(ctx, session: Session, settings, actor: audit.Actor, tenant_id: int,
                  consumer: Consumer, usable: Usable, method: str,
                  targets: dict[str, ResolvedTarget], idempotency_row, *,
                  payer: Payer | None = None, guest_session: str | None = None,
                  amount: str | None = None, policy: AmountPolicy | None = None,
                  payment_link_id: int | None = None,
                  reserved: dict[int, int] | None = None,
                  items_field: str = "items") -> Payment:
    """Price the grouped targets (reserved shares, part payment), quote each destination's
    prepare, refuse a charge below the gateway's minimum, create the payment with its
    intended allocations and holds, and charge."""
    agreement = agreements.require_agreement(session, consumer, method)
    config_row = _profile_for(ctx, session, settings, tenant_id, usable, targets)
    method = method_for(ctx.plugins.gateways.get(config_row.kind), method, bool(agreement))
    currency = settings.currency
    priced = _priced(settings, targets, amount, policy, reserved)
    total, fee_total, passed_on, extra = _quote(ctx, settings, priced, method, consumer)
    minimum_charge.check(ctx.plugins.gateways.get(config_row.kind),
                         Money(total + fee_total, currency), amount, items_field)
    now = ctx.now()
    kinds = {o.kind for r in priced.values() for o in r.obligations} or {"held"}
    number, transaction_number = _numbers(ctx, session, settings, tenant_id, now)
    payment = Payment(
        tenant_id=tenant_id, consumer_id=consumer.id,
        number=number, transaction_number=transaction_number,
        gateway_configuration_id=config_row.id, channel="online", method=method,
        payment_type=kinds.pop() if len(kinds) == 1 else "mixed",
        destination=next(iter(priced)) if len(priced) == 1 else "mixed",
        status=PaymentStatus.INITIATED, verification="unverified", settlement_status="N/A",
        currency=currency, amount=total, fee=fee_total, fee_passed_on=passed_on,
        amount_received=total + fee_total, created_at=now,
        # Created By of an online payment is the payer (the audit trail keeps the caller).
        created_by=((payer.name if payer and payer.name else None) or consumer.name)[:100],
        expires_at=now + dt.timedelta(minutes=settings["payment_timeout_minutes"]),
        payment_link_id=payment_link_id,
        agreement_reference=agreement.reference if agreement else None,
        guest_session=guest_session,
    )
    payers.record(payment, payer or Payer.holder(consumer))
    session.add(payment)
    session.flush()
    checkout_items = _intended(session, payment, priced)
    refresh_state(ctx, session, actor, payment, "payment.initiated", None)
    if idempotency_row is not None:
        idempotency.remember(session, idempotency_row, {"payment_id": payment.id})
    # Everything but the gateway's answer is written before the gateway is asked: a write
    # that fails (or waits) then fails the checkout before a hosted checkout exists for it.
    session.flush()
    _charge(ctx, session, config_row, payment, consumer, checkout_items, extra)
    return payment


def _intended(session: Session, payment: Payment,
              priced: dict[str, ResolvedTarget]) -> list[CheckoutItem]:
    """Record a new payment's intended allocations and holds; returns the lines the
    gateway's page shows (the fee passed on last)."""
    lines = []
    for destination, resolved in priced.items():
        for o in resolved.obligations:
            session.add(Allocation(payment_id=payment.id, receivable_id=o.receivable_id,
                                   destination=destination, amount=o.outstanding.amount,
                                   state=AllocationState.INTENDED))
            lines.append(CheckoutItem(o.kind, o.reference, o.description or o.reference,
                                      o.outstanding, o.period))
        if resolved.hold_key is not None:
            holds.hold(session, payment, destination, resolved)
            lines.append(CheckoutItem("held", resolved.hold_key, resolved.hold_key,
                                      resolved.total))
    if payment.fee:  # passed on to the payer: the gateway charges it
        lines.append(CheckoutItem("fee", "fee", "Convenience fee",
                                  Money(payment.fee, payment.currency)))
    return lines


def _priced(settings, targets: dict[str, ResolvedTarget], amount: str | None,
            policy: AmountPolicy | None, reserved: dict[int, int] | None
            ) -> dict[str, ResolvedTarget]:
    """What each destination's target is paid: its obligations less what open checkouts
    reserved, cut to a part payment (oldest first) when ``amount`` is less; held targets at
    their declared amount.

    :raises ValidationFailed: the amount breaks the policy, or nothing is left to pay.
    """
    currency = settings.currency
    held = {d: r for d, r in targets.items() if r.hold_key is not None}
    groups: dict[str, list] = {d: list(r.obligations) for d, r in targets.items()
                               if r.hold_key is None}
    if reserved:
        groups = {d: [attrs.evolve(o, outstanding=Money(
            o.outstanding.amount - reserved.get(o.receivable_id, 0), currency)) for o in obs
            if o.outstanding.amount > reserved.get(o.receivable_id, 0)]
            for d, obs in groups.items()}
        groups = {d: obs for d, obs in groups.items() if obs}
    owed = sum(o.outstanding.amount for obs in groups.values() for o in obs)
    if groups:
        policy = policy or AmountPolicy.from_settings(settings, currency)
        given = (Money.parse(amount, currency, field="amount").amount
                 if amount is not None else None)
        due = policy.check(given, owed, currency)
        if due != owed:  # a part payment: the items it reaches, oldest first
            destination_of = {o.receivable_id: d for d, obs in groups.items() for o in obs}
            parts = allocation.split([o for obs in groups.values() for o in obs], due)
            groups = {}
            for o in allocation.as_obligations(parts):
                groups.setdefault(destination_of[o.receivable_id], []).append(o)
    # Each destination keeps its target (the fields its prepare reads), for what is paid.
    priced: dict[str, ResolvedTarget] = {
        d: attrs.evolve(targets[d], obligations=tuple(obs)) for d, obs in groups.items()}
    priced.update(held)
    if not priced:
        raise ValidationFailed("nothing is left to pay on these items", field="items")
    return priced


def _quote(ctx, settings, priced: dict[str, ResolvedTarget], method: str,
           consumer: Consumer) -> tuple[int, int, bool, dict]:
    """Each destination's prepare quoted: ``(total, fee passed on, whether a fee is passed
    on, extra fields for the gateway)``.

    :raises ValidationFailed: the total is not more than zero.
    """
    total, fee_total, passed_on = 0, 0, False
    extra: dict = {}
    for destination, resolved in priced.items():
        processor = settings.route(destination)["processor"]
        total += resolved.total.amount
        prepared = ctx.plugins.prepare(processor, resolved, method, consumer.person_type,
                                       settings.fee_rule(destination, method))
        if prepared.fee.passed_on:
            fee_total += prepared.fee.amount.amount
            passed_on = True
        extra.update(prepared.extra)
    if total <= 0:
        raise ValidationFailed("the amount to pay must be more than zero", field="amount")
    return total, fee_total, passed_on, extra


def _numbers(ctx, session: Session, settings, tenant_id: int, now: dt.datetime
             ) -> tuple[str, str]:
    """The new payment's number and transaction number.

    On PostgreSQL they are taken by statements that commit on their own, so the tenant's
    counters are not locked across the gateway call (every checkout of the tenant would
    queue behind it); a checkout that then fails on an unexpected error leaves its numbers
    unused. SQLite writes one transaction at a time anyway: there they are taken in the
    checkout's own transaction.
    """
    formats = {name: settings["number_formats"][name] for name in ("payment", "transaction")}
    if session.get_bind().dialect.name != "postgresql":
        taken = next_of_each(session, tenant_id, formats, now.date())
    else:
        with ctx.statements() as own:
            taken = next_of_each(own, tenant_id, formats, now.date())
    return taken["payment"], taken["transaction"]


@attrs.frozen
class Usable:
    """The gateway a payer chose (``kind`` or ``kind:profile``) and its usable configuration
    when no destination's routing names a profile."""

    name: str
    row: GatewayConfiguration


def _usable_gateway(ctx, session: Session, tenant_id: int, name: str) -> Usable:
    return Usable(name, configs.usable_for_kind(ctx, session, tenant_id, name))


def _profile_for(ctx, session: Session, settings, tenant_id: int, usable: Usable,
                 groups: dict) -> GatewayConfiguration:
    """The configuration (profile) of the chosen gateway the routing table names for the
    chosen destinations; items routed to different accounts of one gateway are paid
    separately."""
    kind = usable.name
    wanted = {settings.route(d).get("gateway_profiles", {}).get(configs.split_name(kind)[0])
              for d in groups}
    if len(wanted) > 1:
        raise ValidationFailed("the chosen items are collected by different accounts of this "
                               "gateway; pay them in separate payments", field="items")
    profile = wanted.pop()
    if profile is None:  # what the payer's choice alone names, already looked up
        return usable.row
    return configs.usable_for_kind(ctx, session, tenant_id, kind, profile)


def _charge(ctx, session: Session, config_row: GatewayConfiguration, payment: Payment,
            consumer: Consumer, items: list[CheckoutItem], extra: dict) -> None:
    return_url, cancel_url = configs.return_urls(ctx, payment.tenant_id, payment.number,
                                                  payment.created_at)
    assert payment.expires_at is not None  # every online payment is created with its expiry
    request = CheckoutRequest(
        payment_id=payment.number, amount=Money(payment.amount_received, payment.currency),
        items=tuple(items),
        # The account is the holder's; receipts the gateway sends go to the payer.
        customer=Customer(consumer.account_number, consumer.name,
                          payment.payer_email or consumer.email,
                          payment.payer_phone or consumer.phone),
        return_url=return_url, cancel_url=cancel_url,
        expires_at=payment.expires_at, description=f"Payment {payment.number}", extra=extra,
        created_at=payment.created_at,
    )
    config = configs.config_value(ctx, session, config_row)
    external = ctx.plugins.prepare_data(config, request)
    if external:
        payment.external_payment_data = external
        request = attrs.evolve(request, extra={**extra, "external_payment_data": external})
    try:
        checkout = ctx.plugins.charge(config, request)
    except GatewayError as exc:
        # Record the attempt, then raise: the caller commits the failed payment.
        before = {"status": payment.status}
        payment.failure_category = exc.category or "technical"
        payment.failure_message = exc.gateway_message or exc.detail
        payment.failure_code = exc.gateway_code
        refresh_state(ctx, session, audit.SYSTEM, payment, "payment.failed", before)
        return
    payment.gateway_reference = checkout.gateway_reference
    payment.redirect_url = checkout.redirect_url


def payment_for_return(session: Session, tenant_id: int, number: str) -> Payment:
    """The payment a payer returns to (tenant and number come from loket's signed return
    URL)."""
    payment = session.scalar(select(Payment).where(Payment.tenant_id == tenant_id,
                                                   Payment.number == number))
    if payment is None:
        raise NotFound(f"no payment {number!r}")
    return payment
