"""Sub-commands ``loket worker``, ``loket jobs run|drain`` and
``loket webhooks list|show|replay`` (added to the ``loket`` command by ``add_parser``)."""

from __future__ import annotations

import json

from loket.core import audit

CLI = audit.Actor("cli", "system")


def _setup(args, production: bool = False, needs_key: bool = True):
    """The container and the queue; ``production`` (the worker) refuses to run without
    ``LOKET_SECRET_KEY`` and writes tracking events in batches, as API processes do (a
    batch of webhook events applied does not commit a transaction per payment for its
    analytics); the administration commands write each tracking event at once (they exit
    right after) and, without ``LOKET_SECRET_KEY``, use the development key: those that work
    with stored secrets (``needs_key``: running jobs, replaying events) only on a database
    whose encrypted values that key reads
    (:func:`~loket.cli_secret_key.refuse_a_foreign_database`)."""
    from loket import jobs
    from loket.cli_secret_key import refuse_a_foreign_database
    from loket.core.config import AppConfig
    from loket.core.context import Loket
    ctx = Loket.create(AppConfig.from_env(development_key=not production))
    if needs_key:
        refuse_a_foreign_database(ctx)
    return ctx, jobs.setup(ctx, getattr(args, "queue_name", None), batched_tracking=production)


def cmd_worker(args) -> None:
    from loket.jobs.worker import run_worker
    from loket.ops.runtime import tune_gc
    ctx, jobs = _setup(args, production=True)  # logs: configured by the ``loket`` command
    ctx.check_stored_money()
    tune_gc()  # again: the container and the task code are loaded now
    run_worker(ctx, jobs, workers=args.workers, periodic=not args.no_periodic)


def cmd_jobs_run(args) -> None:
    from loket.jobs.tasks import run_pending
    ctx, jobs = _setup(args)
    task = jobs.periodic()[args.job]
    if args.enqueue:
        task()
        print(f"{args.job} enqueued")
        return
    # Run it here, now; e-mails it raises are sent by this process as well.
    result = task.call_local()
    sent = run_pending(jobs)
    print(f"{args.job}: {result or 'nothing to do'} ({sent} queued task(s) run)")


def cmd_jobs_drain(args) -> None:
    from loket.jobs.tasks import run_pending
    _ctx, jobs = _setup(args)
    print(f"{run_pending(jobs, args.limit)} task(s) run")


def _tenant_id(ctx, slug):
    if not slug:
        return None
    from loket.core.tenants import tenant_by_slug
    with ctx.transaction() as session:
        return tenant_by_slug(session, slug).id


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def cmd_webhooks_list(args) -> None:
    from loket.core.webhooks import inbox
    ctx, _jobs = _setup(args, needs_key=False)  # reads the inbox only
    rows = inbox.list_events(ctx, _tenant_id(ctx, args.tenant), args.status, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    print(f"{'ID':>6}  {'STATUS':<9} {'TRIES':>5}  {'RECEIVED':<19}  {'TYPE':<18} "
          f"{'PAYMENT':<18} EVENT / LAST ERROR")
    for row in rows:
        print(f"{row['id']:>6}  {row['status']:<9} {row['attempts']:>5}  "
              f"{_when(row['received_at']):<19}  {row['type']:<18} "
              f"{row['payment_id'] or row['gateway_reference'] or '-':<18} {row['event_id']}")
        if row["last_error"] and row["status"] != "processed":
            print(f"{'':>8}{row['last_error']}")


def cmd_webhooks_show(args) -> None:
    from loket.core.webhooks import inbox
    ctx, _jobs = _setup(args, needs_key=False)  # reads the inbox only
    print(json.dumps(inbox.show_event(ctx, args.id, _tenant_id(ctx, args.tenant)), indent=2,
                     default=str))


def cmd_webhooks_replay(args) -> None:
    from loket.core.webhooks import inbox
    ctx, _jobs = _setup(args)
    status = inbox.replay(ctx, args.id, CLI, _tenant_id(ctx, args.tenant))
    print(f"event {args.id} replayed: {status}")


def add_parser(sub) -> None:
    """Add ``worker``, ``jobs`` and ``webhooks`` to the ``loket`` command's sub-parsers."""
    worker = sub.add_parser("worker", help="run the background worker (Huey consumer)")
    worker.add_argument("--workers", type=int, default=2, help="worker threads (2)")
    worker.add_argument("--no-periodic", action="store_true",
                        help="do not run the periodic schedule on this worker")
    worker.add_argument("--queue-name", help="queue name (LOKET_QUEUE_NAME, default loket)")
    worker.set_defaults(func=cmd_worker)

    jobs = sub.add_parser("jobs", help="run a periodic job now").add_subparsers(
        dest="jobs_cmd", required=True)
    run = jobs.add_parser("run", help="run one periodic job now, in this process")
    run.add_argument("job", choices=("inbox", "timeouts", "reconciliation", "handshakes",
                                     "plans", "credit-notes", "autopay",
                                     "webhook-retention", "outbox", "links",
                                     "service-tasks", "held-payments",
                                     "reconciliation-runs", "tallies",
                                     "outbox-retention"))
    run.add_argument("--enqueue", action="store_true", help="hand it to the worker instead")
    run.add_argument("--queue-name")
    run.set_defaults(func=cmd_jobs_run)
    drain = jobs.add_parser("drain", help="run queued tasks in this process, then exit")
    drain.add_argument("--limit", type=int, default=1000)
    drain.add_argument("--queue-name")
    drain.set_defaults(func=cmd_jobs_drain)

    hooks = sub.add_parser("webhooks", help="the webhook inbox").add_subparsers(
        dest="webhooks_cmd", required=True)
    lst = hooks.add_parser("list", help="stored gateway events, newest first")
    lst.add_argument("--tenant", help="tenant slug")
    lst.add_argument("--status", choices=("pending", "processed", "ignored", "dead", "orphan"))
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_webhooks_list)
    show = hooks.add_parser("show", help="one event with the request it came in")
    show.add_argument("id", type=int)
    show.add_argument("--tenant")
    show.set_defaults(func=cmd_webhooks_show)
    replay = hooks.add_parser("replay", help="apply an event again (dead, orphan, any)")
    replay.add_argument("id", type=int)
    replay.add_argument("--tenant")
    replay.set_defaults(func=cmd_webhooks_replay)
