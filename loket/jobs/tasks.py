"""The tasks and the periodic schedule, registered on a Huey instance for one container.

Every task is idempotent (the work lives in :mod:`loket.core.webhooks.inbox` and
:mod:`~loket.core.gateway_configs.handshake`, :mod:`~loket.core.payments.timeouts`,
:mod:`~loket.core.reconciliation.timeouts`, :mod:`~loket.core.host.plans` and
:mod:`~loket.core.payments.credit_notes`), so a task run twice, or by two workers, changes
nothing the
second time. Schedule (UTC):

============================  ==================  ============================================
task                          when                what
============================  ==================  ============================================
``sweep_inbox``               every minute        retry due webhook events (backoff, to-do)
``expire_payments``           every 5 minutes     initiated payments past their timeout fail
``reconciliation_timeouts``   hourly at :15       unsettled succeeded payments -> to-do
``gateway_handshakes``        daily 02:00         handshake of every connected gateway
``plan_compliance``           daily 03:00         missed installments, plan defaults
``expire_credit_notes``       daily 00:10         credit notes past their expiry
``autopay_charges``           hourly at :30       auto-pay: schedule what is due, make due attempts
``deliver_outbox``            every minute        host events and messages due (backoff)
``expire_links``              every 5 minutes     active payment links past their expiry
``service_task_monitor``      every 5 minutes     deferred destinations' service tasks
``held_payment_timeouts``     hourly at :20       payments held for a missing form -> to-do
``reconciliation_runs``       every 5 minutes     uploaded files whose task or process was lost
``payment_tallies``           every minute        fold the dashboard's pending tally changes
``outbox_retention``          hourly at :40       finished outbox rows past the retention go
============================  ==================  ============================================

``deliver_outbox_event`` is enqueued right after a message is written to the outbox (the
periodic ``deliver_outbox`` retries what it could not send). ``reconcile_run`` reads an
uploaded reconciliation file, enqueued right after the upload. ``apply_events`` applies a
batch of pending webhook events, enqueued after each acknowledged webhook when
``LOKET_WEBHOOK_APPLY=deferred`` on SQLite (on PostgreSQL the worker's applier,
:mod:`loket.jobs.applier`, does it when the events are announced). ``send_email`` is enqueued by
the built-in notifier and retried with backoff (5 times from
1 minute) when the mail server is unreachable; ``process_event`` applies one inbox event.
"""

from __future__ import annotations

import logging

import attrs
from huey import crontab
from huey.api import Huey, TaskWrapper

from loket.core import rate_limits
from loket.core.autopay import charges as autopay_charges_logic
from loket.core.backoffice import tallies
from loket.core.gateway_configs import connection_test, handshake
from loket.core.host import plans
from loket.core.links import state as link_state
from loket.core.outbox import delivery
from loket.core.outbox import retention as outbox_retention_logic
from loket.core.payments import credit_notes, holds, service_tasks, timeouts
from loket.core.reconciliation import runs as reconciliation_runs_logic
from loket.core.reconciliation import timeouts as settlement_timeouts
from loket.core.webhooks import inbox, retention
from loket.notifiers import email as notify_email
from loket.ops import logs

log = logging.getLogger(__name__)


@attrs.frozen
class Jobs:
    """A Huey instance and loket's tasks on it; calling a task enqueues it."""

    huey: Huey
    process_event: TaskWrapper
    send_email: TaskWrapper
    sweep_inbox: TaskWrapper
    expire_payments: TaskWrapper
    reconciliation_timeouts: TaskWrapper
    gateway_handshakes: TaskWrapper
    plan_compliance: TaskWrapper
    expire_credit_notes: TaskWrapper
    service_task_monitor: TaskWrapper
    held_payment_timeouts: TaskWrapper
    autopay_charges: TaskWrapper
    webhook_retention: TaskWrapper
    deliver_outbox: TaskWrapper | None = None
    expire_links: TaskWrapper | None = None
    deliver_outbox_event: TaskWrapper | None = None
    reconcile_run: TaskWrapper | None = None
    apply_events: TaskWrapper | None = None
    reconciliation_runs: TaskWrapper | None = None
    payment_tallies: TaskWrapper | None = None
    outbox_retention: TaskWrapper | None = None

    def periodic(self) -> dict[str, TaskWrapper]:
        """The periodic tasks by name (``loket jobs run NAME`` runs one now)."""
        return {"inbox": self.sweep_inbox, "timeouts": self.expire_payments,
                "reconciliation": self.reconciliation_timeouts,
                "handshakes": self.gateway_handshakes, "plans": self.plan_compliance,
                "credit-notes": self.expire_credit_notes, "autopay": self.autopay_charges,
                "webhook-retention": self.webhook_retention,
                "service-tasks": self.service_task_monitor,
                "held-payments": self.held_payment_timeouts,
                **({"outbox": self.deliver_outbox} if self.deliver_outbox else {}),
                **({"links": self.expire_links} if self.expire_links else {}),
                **({"reconciliation-runs": self.reconciliation_runs}
                   if self.reconciliation_runs else {}),
                **({"tallies": self.payment_tallies} if self.payment_tallies else {}),
                **({"outbox-retention": self.outbox_retention}
                   if self.outbox_retention else {})}


def register(huey: Huey, ctx) -> Jobs:
    """Register loket's tasks on ``huey``, bound to the container ``ctx``.

    Producers (API processes) and consumers (``loket worker``) both call this, so task
    names agree. Called once per Huey instance.
    """
    _bind_task_logs(huey)
    return Jobs(huey=huey, **_on_demand_tasks(huey, ctx), **_gateway_schedule(huey, ctx),
                **_account_schedule(huey, ctx), **_upkeep_schedule(huey, ctx))


def _bind_task_logs(huey: Huey) -> None:
    @huey.pre_execute()
    def bind_task(task) -> None:
        """Start each task's log lines afresh, with the task's name and id bound."""
        logs.clear()
        logs.bind(task=task.name, task_id=task.id)


def _by_name(*tasks: TaskWrapper) -> dict[str, TaskWrapper]:
    """The tasks by their names (Huey's, those of their functions), which are the fields
    of :class:`Jobs`."""
    return {task.task_class.__name__: task for task in tasks}


def _on_demand_tasks(huey: Huey, ctx) -> dict[str, TaskWrapper]:
    """The tasks loket enqueues as work comes in: an event to apply, a mail to send, an
    outbox event to deliver, a batch of deferred events, an uploaded file to read."""
    smtp = notify_email.SmtpSettings.from_config(ctx.config)

    @huey.task()
    def process_event(event_row_id: int) -> str:
        """Apply one stored gateway event."""
        return inbox.process_event(ctx, event_row_id)

    @huey.task(retries=5, retry_delay=60, retry_backoff=2)
    def send_email(notification) -> bool:
        """Send one notification by e-mail (raises, so Huey retries, when SMTP fails)."""
        return notify_email.send(smtp, notification)

    @huey.task()
    def deliver_outbox_event(event_row_id: int) -> dict:
        """Deliver one outbox event's messages right after it was written."""
        return delivery.deliver_event(ctx, event_row_id)

    @huey.task()
    def apply_events() -> dict:
        """Apply a batch of pending webhook events (deferred apply)."""
        return inbox.apply_due_batch(ctx)

    @huey.task()
    def reconcile_run(run_id: int) -> str:
        """Read one uploaded reconciliation file."""
        return reconciliation_runs_logic.process(ctx, run_id)

    return _by_name(process_event, send_email, deliver_outbox_event, apply_events,
                    reconcile_run)


def _gateway_schedule(huey: Huey, ctx) -> dict[str, TaskWrapper]:
    """The periodic tasks on the gateways' side: inbox retries, payment timeouts,
    settlement timeouts, handshakes."""
    @huey.periodic_task(crontab(minute="*"))
    def sweep_inbox() -> dict:
        """Resume interrupted deliveries, then retry the inbox's due events."""
        resumed = inbox.resume_interrupted(ctx)
        if resumed:
            _logged("interrupted webhook deliveries resumed", resumed)
        return _logged("inbox sweep", inbox.retry_due(ctx))

    @huey.periodic_task(crontab(minute="*/5"))
    def expire_payments() -> dict:
        """Time out overdue initiated payments; ask again for the connection test refunds
        the gateway left unanswered."""
        _logged("test refund retries", connection_test.retry_unanswered_refunds(ctx))
        return _logged("payment timeout sweep", timeouts.payment_timeout_sweep(ctx))

    @huey.periodic_task(crontab(minute="15"))
    def reconciliation_timeouts() -> int:
        """Raise to-dos for payments not settled in time."""
        return _logged("reconciliation timeouts", settlement_timeouts.reconciliation_timeouts(ctx))

    @huey.periodic_task(crontab(minute="0", hour="2"))
    def gateway_handshakes() -> dict:
        """Run the daily gateway handshake."""
        return _logged("gateway handshakes", handshake.handshake_sweep(ctx))

    return _by_name(sweep_inbox, expire_payments, reconciliation_timeouts, gateway_handshakes)


def _account_schedule(huey: Huey, ctx) -> dict[str, TaskWrapper]:
    """The periodic tasks on the accounts' side: plans, credit notes, deferred
    destinations' service tasks, held payments, auto-pay."""
    @huey.periodic_task(crontab(minute="0", hour="3"))
    def plan_compliance() -> dict:
        """Check payment plans for missed installments."""
        return _logged("plan compliance", plans.plan_compliance(ctx))

    @huey.periodic_task(crontab(minute="10", hour="0"))
    def expire_credit_notes() -> int:
        """Expire credit notes past their date."""
        return _logged("credit note expiry", credit_notes.expire_due(ctx))

    @huey.periodic_task(crontab(minute="*/5"))
    def service_task_monitor() -> dict:
        """Process deferred destinations' service tasks."""
        return _logged("service task monitor", service_tasks.monitor(ctx))

    @huey.periodic_task(crontab(minute="20"))
    def held_payment_timeouts() -> int:
        """Raise to-dos for payments held past the tenant's timeout."""
        return _logged("held payment timeouts", holds.overdue_holds(ctx))

    @huey.periodic_task(crontab(minute="30"))
    def autopay_charges() -> dict:
        """Charge what is due to auto-pay mandates and retry soft declines."""
        return _logged("auto-pay charges", autopay_charges_logic.run_due(ctx))

    return _by_name(plan_compliance, expire_credit_notes, service_task_monitor,
                    held_payment_timeouts, autopay_charges)


def _upkeep_schedule(huey: Huey, ctx) -> dict[str, TaskWrapper]:
    """The periodic upkeep: retention, outbox retries, link expiry, lost uploads, the
    dashboard's tallies."""
    @huey.periodic_task(crontab(minute="30", hour="4"))
    def webhook_retention() -> dict:
        """Drop raw webhook requests past the retention and old rate-limit windows."""
        purged = retention.purge_deliveries(ctx)
        purged["rate_limit_windows"] = rate_limits.forget_old_windows(ctx)
        return _logged("webhook retention", purged)

    @huey.periodic_task(crontab(minute="*"))
    def deliver_outbox() -> dict:
        """Deliver due host events and messages."""
        return _logged("outbox delivery", delivery.deliver_due(ctx))

    @huey.periodic_task(crontab(minute="*/5"))
    def expire_links() -> int:
        """Expire payment links past their date."""
        return _logged("payment link expiry", link_state.expire_due(ctx))

    @huey.periodic_task(crontab(minute="*/5"))
    def reconciliation_runs() -> list:
        """Hand again the uploaded files whose task or process was lost."""
        return _logged("reconciliation runs resumed", reconciliation_runs_logic.resume_stale(ctx))

    @huey.periodic_task(crontab(minute="*"))
    def payment_tallies() -> int:
        """Fold the dashboard's pending tally changes (PostgreSQL)."""
        with ctx.transaction() as session:
            return _logged("payment tally changes folded", tallies.fold(session))

    @huey.periodic_task(crontab(minute="40"))
    def outbox_retention() -> dict:
        """Delete finished outbox deliveries, events and feed rows past the retention."""
        return _logged("outbox retention", outbox_retention_logic.purge(ctx))

    return _by_name(webhook_retention, deliver_outbox, expire_links, reconciliation_runs,
                    payment_tallies, outbox_retention)


def _logged(what: str, result):
    if result:
        log.info("%s: %s", what, result)
    return result


def run_pending(jobs: Jobs, limit: int = 100) -> int:
    """Execute what is queued, in this thread, until the queue is empty (tests, and
    ``loket jobs drain``). Returns how many tasks ran."""
    ran = 0
    while ran < limit:
        task = jobs.huey.dequeue()
        if task is None:
            break
        jobs.huey.execute(task)
        ran += 1
    return ran
