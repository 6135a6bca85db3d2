"""Interpreter settings for a process that runs loket and nothing else: an API worker under
the shipped gunicorn configuration, ``loket worker``, any ``loket`` command.

loket's work allocates many short-lived objects (rows, dictionaries, statement parameters)
and few reference cycles. With CPython's default collector thresholds (700, 10, 10) a
process still runs a young-generation collection every few hundred allocations and, every
few hundred payments, a full collection that walks every object it holds, the loaded code of
SQLAlchemy, babel and loket included: a pause of 80-120 ms on a 2-core machine, and a sixth
of a bulk reconciliation's CPU. :func:`tune_gc` takes what is loaded so far out of the
collector's sight (``gc.freeze``) and collects young objects every :data:`THRESHOLDS` [0]
allocations instead.

A host that embeds loket as a library keeps its own settings: nothing in loket calls this
but the process entry points. ``LOKET_GC=default`` keeps Python's settings in those too.
"""

from __future__ import annotations

import gc
import os

THRESHOLDS = (50_000, 20, 10)
"""The collector's thresholds once tuned: a young collection per 50,000 net allocations
(a few hundred payments; a pause of about 10-20 ms), an older one every 20 of those (as
CPython 3.11 to 3.13 count them)."""


def tune_gc() -> bool:
    """Set the collector up for a loket process, once its code is loaded.

    Called by the shipped gunicorn configuration once a worker has loaded the app, by the
    ``loket`` program before it runs a command and again once ``loket worker`` has built its
    container, and by the benchmarks that stand for those processes. Each call moves every
    object alive so far to the permanent generation (after a collection, so that no garbage
    is kept for good); the thresholds are set to :data:`THRESHOLDS`.

    :returns: whether it changed anything (``False`` with ``LOKET_GC=default``).
    """
    if os.environ.get("LOKET_GC", "").lower() == "default":
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
