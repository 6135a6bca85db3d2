"""Background work on Huey 3: the queue, the tasks, the periodic schedule and the worker.

Every process that owns a container calls :func:`setup` once at start::

    ctx = Loket.create(AppConfig.from_env())
    jobs = loket.jobs.setup(ctx)      # queue + tasks + built-in notifier/tracking bound

The API process then only enqueues (e-mails); ``loket worker`` runs the consumer and the
periodic schedule (:mod:`loket.jobs.tasks`). The queue is chosen by
:func:`loket.jobs.queue.make_huey`.
"""

from __future__ import annotations

from loket.jobs.queue import make_huey
from loket.jobs.tasks import Jobs, register
from loket.jobs.wiring import install_builtins


def setup(ctx, name: str | None = None, batched_tracking: bool = False) -> Jobs:
    """Build the queue for ``ctx.config``, register the tasks and bind the built-in e-mail
    notifier (which then enqueues) and tracking sink to the container.

    :param name: the queue's name (default ``loket``; tests use a unique one).
    :param batched_tracking: tracking events written in batches (API processes).
    :returns: the :class:`~loket.jobs.tasks.Jobs` (the Huey instance and its tasks).
    """
    from loket.ops.metrics import instrument_plugins  # noqa: PLC0415

    jobs = register(make_huey(ctx.config, name), ctx)
    install_builtins(ctx, jobs, batched_tracking)
    instrument_plugins(ctx.plugins)  # gateway calls counted in workers too
    return jobs


__all__ = ["Jobs", "install_builtins", "make_huey", "register", "setup"]
