"""The typed calls of the destination, outbound and channel hooks, and plugins' routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loket.errors import HookNotImplemented, PluginError
from loket.money import Money
from loket.plugins.calling import HookCaller
from loket.types import (
    Allocation,
    DestinationTarget,
    FeeRule,
    LedgerReader,
    Notification,
    Obligation,
    PaymentInfo,
    PlanInfo,
    Prepared,
    ResolvedTarget,
    TrackingEvent,
)

CHANNEL_VAR_DIR = "var_dir"
"""The key of the channel options that names the var directory (given to every channel
plugin; no channel may take the name)."""


class DestinationCalls(HookCaller):
    """The destination processor hooks and the outbound hooks as typed methods."""

    def retrieve_due(self, processor: str, ledger: LedgerReader,
                     account_number: str) -> list[Obligation]:
        """What ``account_number`` owes for ``processor``."""
        self.require_processor(processor)
        return list(self._first("loket_destination_retrieve_due", processor,
                                processor=processor, ledger=ledger,
                                account_number=account_number))

    def validate_target(self, processor: str, ledger: LedgerReader,
                        target: DestinationTarget) -> ResolvedTarget:
        """Resolve a target to obligations (validate-only).

        :raises PluginError: the processor answered a held target (``hold_key``) that also
            lists obligations or declares no amount: the payment would be held for one
            thing and charged for another.
        """
        self.require_processor(processor)
        result: ResolvedTarget = self._first("loket_destination_validate", processor,
                           processor=processor, ledger=ledger, target=target)
        if result.hold_key is not None and (result.obligations or
                                            result.declared_amount is None):
            raise PluginError(f"processor {processor!r} answered a held target "
                              f"({result.hold_key}) with obligations or without a declared "
                              f"amount: a target is held (no obligations, an amount declared) "
                              f"or open obligations, never both")
        return result

    def prepare(self, processor: str, resolved: ResolvedTarget, method: str, person_type: str,
                fee_rule: FeeRule | None) -> Prepared:
        """Fee and gateway extras for a resolved target."""
        result: Prepared = self._first("loket_destination_prepare", processor, processor=processor,
                           resolved=resolved, method=method, person_type=person_type,
                           fee_rule=fee_rule)
        return result

    def apply(self, processor: str, ledger: LedgerReader, resolved: ResolvedTarget,
              amount: Money) -> list[Allocation]:
        """Allocation decided by the processor."""
        return list(self._first("loket_destination_apply", processor, processor=processor,
                                ledger=ledger, resolved=resolved, amount=amount))

    # -- outbound -----------------------------------------------------------------------

    def notify(self, notification: Notification) -> None:
        """Hand a notification to every notifier plugin."""
        self.pm.hook.loket_notify(notification=notification)

    def track(self, event: TrackingEvent) -> None:
        """Hand a tracking event to every tracking sink."""
        self.pm.hook.loket_track(event=event)

    def track_many(self, events: Sequence[TrackingEvent]) -> None:
        """Hand many tracking events to every sink: together to the sinks implementing
        ``loket_track_many``, one by one to the others."""
        if not events:
            return
        together = [impl.plugin for impl in self.pm.hook.loket_track_many.get_hookimpls()]
        self.pm.hook.loket_track_many(events=list(events))
        one_by_one = self.pm.subset_hook_caller("loket_track", remove_plugins=together)
        for event in events:
            one_by_one(event=event)

    def hears_status_changes(self) -> bool:
        """Whether a plugin implements ``loket_payment_status_changed`` now (a caller need
        not build the payment views nobody reads: thousands of them for a settlement
        report)."""
        return bool(self.pm.hook.loket_payment_status_changed.get_hookimpls())

    def payment_status_changed(self, payment: PaymentInfo, old_status: str | None,
                               new_status: str) -> None:
        """Tell every interested plugin a payment changed state."""
        self.pm.hook.loket_payment_status_changed(
            payment=payment, old_status=old_status, new_status=new_status)

    def plan_defaulted(self, plan: PlanInfo) -> None:
        """Tell every interested plugin a payment plan defaulted."""
        self.pm.hook.loket_plan_defaulted(plan=plan)

    @property
    def channels(self) -> frozenset[str]:
        """Message channels the installed plugins send on (``email``, ``sms``…)."""
        return self._channels

    def channel_send(self, channel: str, recipient: str, message: Notification,
                     options: Mapping[str, Any]) -> Any:
        """Send one message on ``channel`` through the plugin that declared it (its
        ``loket_channel_send`` only: no other plugin is asked); returns the provider's
        reference.

        :param options: the deployment's channel options by channel name
            (``LOKET_CHANNEL_OPTIONS``) and ``var_dir``. The plugin gets only the entries of
            the channels it declared, and ``var_dir``.
        :raises PluginError: no installed plugin sends on ``channel``.
        """
        owner = self._channel_plugins.get(channel)
        plugin = self.pm.get_plugin(owner) if owner is not None else None
        if plugin is None:
            raise HookNotImplemented(f"no installed plugin implements loket_channel_send "
                                     f"for channel {channel!r}")
        mine = {name: value for name, value in options.items()
                if name == CHANNEL_VAR_DIR or self._channel_plugins.get(name) == owner}
        others = [impl.plugin for impl in self.pm.hook.loket_channel_send.get_hookimpls()
                  if impl.plugin is not plugin]
        send = self.pm.subset_hook_caller("loket_channel_send", remove_plugins=others)
        result = send(channel=channel, recipient=recipient, message=message, options=mine)
        if result is None:
            raise HookNotImplemented(f"plugin {owner!r} declared channel {channel!r} but its "
                                     f"loket_channel_send answered nothing for it")
        return result

    def routes(self) -> list[tuple[str, Any]]:
        """Extra HTTP routes plugins add."""
        out: list[tuple[str, Any]] = []
        result: Sequence[tuple[str, Any]] | None
        for result in self.pm.hook.loket_register_routes():
            out.extend(result or ())
        return out
