"""``loket worker``: the Huey consumer with loket's tasks and schedule."""

from __future__ import annotations

import logging

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
    consumer = jobs.huey.create_consumer(workers=workers, periodic=periodic,
                                         worker_type="thread", initial_delay=0.05,
                                         max_delay=1.0, check_worker_health=True)
    applier = Applier(ctx).start() if Applier.wanted(ctx) else None
    try:
        consumer.run()
    finally:
        if applier is not None:
            applier.stop()
