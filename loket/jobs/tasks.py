"""The tasks and the periodic schedule, registered on a Huey instance for one container.

Every task is idempotent (the work lives in :mod:`loket.core.webhooks.inbox` and
:mod:`loket.core.jobs_logic`), so a task run twice, or by two workers, changes nothing the
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
============================  ==================  ============================================

``send_email`` is enqueued by the built-in notifier and retried with backoff (5 times from
1 minute) when the mail server is unreachable; ``process_event`` applies one inbox event.
"""

from __future__ import annotations

import logging

import attrs
from huey import crontab
from huey.api import Huey, TaskWrapper

from loket.core import jobs_logic, notify_email

from loket.core.webhooks import inbox
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

    def periodic(self) -> dict[str, TaskWrapper]:
        """The periodic tasks by name (``loket jobs run NAME`` runs one now)."""
        return {"inbox": self.sweep_inbox, "timeouts": self.expire_payments,
                "reconciliation": self.reconciliation_timeouts,
                "handshakes": self.gateway_handshakes, "plans": self.plan_compliance,
                "credit-notes": self.expire_credit_notes}


def register(huey: Huey, ctx) -> Jobs:
    """Register loket's tasks on ``huey``, bound to the container ``ctx``.

    Producers (API processes) and consumers (``loket worker``) both call this, so task
    names agree. Called once per Huey instance.
    """
    smtp = notify_email.SmtpSettings.from_config(ctx.config)

    @huey.pre_execute()
    def bind_task(task) -> None:
        """Start each task's log lines afresh, with the task's name and id bound."""
        logs.clear()
        logs.bind(task=task.name, task_id=task.id)

    @huey.task()
    def process_event(event_row_id: int) -> str:
        """Apply one stored gateway event."""
        return inbox.process_event(ctx, event_row_id)

    @huey.task(retries=5, retry_delay=60, retry_backoff=2)
    def send_email(notification) -> bool:
        """Send one notification by e-mail (raises, so Huey retries, when SMTP fails)."""
        return notify_email.send(smtp, notification)

    @huey.periodic_task(crontab(minute="*"))
    def sweep_inbox() -> dict:
        """Retry the inbox's due events."""
        return _logged("inbox sweep", inbox.retry_due(ctx))

    @huey.periodic_task(crontab(minute="*/5"))
    def expire_payments() -> dict:
        """Time out overdue initiated payments."""
        return _logged("payment timeout sweep", jobs_logic.payment_timeout_sweep(ctx))

    @huey.periodic_task(crontab(minute="15"))
    def reconciliation_timeouts() -> int:
        """Raise to-dos for payments not settled in time."""
        return _logged("reconciliation timeouts", jobs_logic.reconciliation_timeouts(ctx))

    @huey.periodic_task(crontab(minute="0", hour="2"))
    def gateway_handshakes() -> dict:
        """Run the daily gateway handshake."""
        return _logged("gateway handshakes", jobs_logic.handshake_sweep(ctx))

    @huey.periodic_task(crontab(minute="0", hour="3"))
    def plan_compliance() -> dict:
        """Check payment plans for missed installments."""
        return _logged("plan compliance", jobs_logic.plan_compliance(ctx))

    @huey.periodic_task(crontab(minute="10", hour="0"))
    def expire_credit_notes() -> int:
        """Expire credit notes past their date."""
        return _logged("credit note expiry", jobs_logic.expire_credit_notes(ctx))

    return Jobs(huey=huey, process_event=process_event, send_email=send_email,
                sweep_inbox=sweep_inbox, expire_payments=expire_payments,
                reconciliation_timeouts=reconciliation_timeouts,
                gateway_handshakes=gateway_handshakes, plan_compliance=plan_compliance,
                expire_credit_notes=expire_credit_notes)


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
