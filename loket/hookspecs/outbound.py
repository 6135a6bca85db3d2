"""Outbound integration points (every implementation is called) and message channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loket.hookspecs._marker import hookspec
from loket.types import Notification, PaymentInfo, PlanInfo, TrackingEvent


@hookspec
def loket_notify(notification: Notification) -> None:
    """Deliver a message to people (e-mail, SMS, app push).

    Called from the background worker for every consumer-facing payment status change and
    every staff alert. All implementations are called.

    :param notification: a :class:`~loket.types.Notification`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_track(event: TrackingEvent) -> None:
    """Record a behaviour-tracking event (analytics).

    Called after the action it describes has been committed. All implementations are
    called; the built-in sink writes a row to the tracking table.

    :param event: a :class:`~loket.types.TrackingEvent`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_track_many(events: Sequence[TrackingEvent]) -> None:
    """Optional beside :func:`loket_track`: record many tracking events at once.

    Called after an action that changed many things at once committed (a settlement report
    completing thousands of payments), with all their events in order. A sink that
    implements it gets the events only here, so it can write them together (the built-in
    sink: one transaction); sinks without it get each event through :func:`loket_track`.
    All implementations are called.

    :param events: the :class:`~loket.types.TrackingEvent` values, in order.
    :returns: ignored.

    .. versionadded:: 1.3
    """


@hookspec
def loket_payment_status_changed(
    payment: PaymentInfo, old_status: str | None, new_status: str
) -> None:
    """React to a payment changing state (e.g. post it to the host's ledger).

    Called after the transaction that changed the state commits. All implementations are
    called.

    :param payment: a :class:`~loket.types.PaymentInfo`.
    :param old_status: the previous loket state (``None`` for a new payment).
    :param new_status: the new loket state.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_plan_defaulted(plan: PlanInfo) -> None:
    """Optional. React to a payment plan defaulting (its installments unpaid past the
    tenant's ``plans.grace_days`` reached ``plan_default_after_misses``), e.g. to start a
    disconnection in the host's own system.

    Called by the daily plan-compliance job once per default, after the transaction that
    made the plan ``defaulted`` and wrote the ``plan.defaulted`` host event committed (a
    plan rescheduled and defaulting again is a new default). All implementations are called.

    :param plan: a :class:`~loket.types.PlanInfo`.
    :returns: ignored.

    .. versionadded:: 1.0
    """


@hookspec
def loket_channel_describe() -> tuple[str, ...] | None:
    """Optional. Name the message channels this plugin sends on.

    .. versionadded:: 1.2

    Called at start-up. Optional: a plugin without channels does not implement it. Two
    plugins naming the same channel are refused at start-up, and so is a channel named
    ``var_dir``. Only the plugin that names a channel is asked to send on it
    (:func:`loket_channel_send`).

    :returns: a tuple of channel names (``("sms", "whatsapp")``), or ``None``.
    """


@hookspec(firstresult=True)
def loket_channel_send(
    channel: str, recipient: str, message: Notification, options: Mapping[str, Any]
) -> str | None:
    """Optional. Send one message to one person on ``channel``.

    .. versionadded:: 1.2

    .. versionchanged:: 1.3
       called only for the channels this plugin names in :func:`loket_channel_describe`,
       with only their options.

    Called by the outbox worker for each pending delivery of a message (at least once: a
    retried delivery may call it again for the same message, so send idempotently where the
    provider allows), on this plugin alone: the plugin that named ``channel`` in
    :func:`loket_channel_describe`. No other plugin is called for the message, and this
    plugin is never called for a channel it did not name.

    :param channel: the channel name (``email``, ``sms``, ``whatsapp``, ``log``).
    :param recipient: the address on that channel (an e-mail address, an E.164 number).
    :param message: a :class:`~loket.types.Notification` (subject, body, kind, data).
    :param options: the deployment's channel options (``LOKET_CHANNEL_OPTIONS``, keyed by
        channel name), only the entries of the channels this plugin names (``{"sms": {…},
        "whatsapp": {…}}`` for a plugin naming both; no entry for a channel left
        unconfigured), plus ``var_dir`` (the var directory, a string). Another plugin's
        channel options never reach it.
    :returns: the provider's reference for the message (a string). ``None`` leaves the
        delivery pending, as an error would.
    :raises loket.errors.Undeliverable: the provider refused the message for good (an
        invalid number, an unsubscribed recipient): the delivery is given up at once.
    :raises Exception: any other error leaves the delivery pending; the worker retries it
        with backoff for three days.
    """
