"""``loket worker``: the Huey consumer with loket's tasks and schedule."""

from __future__ import annotations

import logging

from huey.consumer import Consumer

from loket.core.webhooks import inbox
from loket.jobs.applier import Applier
from loket.jobs.tasks import Jobs

log = logging.getLogger(__name__)


def recover(ctx) -> dict[str, int]:
    """Apply what a worker that died mid-way left behind: every due pending inbox event.

    The inbox is the source of truth — a task lost with its worker is not needed, the
    event is still ``pending`` in the database. Called before the consumer starts.
    """
    counts = inbox.retry_due(ctx, limit=1000)
    if counts:
        log.info("start-up inbox sweep: %s", counts)
    return counts


def run_worker(ctx, jobs: Jobs, workers: int = 2, periodic: bool = True) -> None:
    """Recover, then run the consumer until SIGINT/SIGTERM (blocks); on PostgreSQL, with the
    applier of deferred webhook events (:mod:`loket.jobs.applier`) beside it.

    :param workers: worker threads.
    :param periodic: run the periodic schedule (with several workers on several machines,
        enabling it on one is enough; enabling it on all is safe, the tasks are idempotent).
    """
    recover(ctx)
    applier = Applier(ctx).start() if Applier.wanted(ctx) else None
    consumer = LoketConsumer(jobs.huey, applier, workers=workers, periodic=periodic,
                             worker_type="thread", initial_delay=0.05, max_delay=1.0,
                             check_worker_health=True)
    try:
        consumer.run()
    finally:
        if applier is not None:
            applier.stop()


class LoketConsumer(Consumer):
    """huey's consumer, which stops the applier before its own workers: also on SIGHUP,
    after which it re-executes the process without returning from ``run``."""

    def __init__(self, huey, applier: Applier | None, **options):
        super().__init__(huey, **options)
        self.applier = applier

    def stop(self, graceful: bool = False) -> None:
        """Stop the applier (after its current batch), then the consumer's workers."""
        if self.applier is not None:
            self.applier.stop()
        super().stop(graceful)
