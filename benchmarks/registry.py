"""The workload registry: every module in :mod:`benchmarks.workloads` that defines
``WORKLOAD`` is a workload. Adding one is adding a file; nothing else changes.

A workload's ``setup(bench)`` prepares its data (on the shared :class:`~benchmarks.env.Bench`)
and returns its :class:`Trial` s; the runner alternates each trial's loket side and its
baseline side for every round and prints the medians and their ratio.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.env import Bench

Figures = dict[str, float]
"""One measured run: figure name (with its unit, e.g. ``"events/s"``, ``"p99 ms"``) ->
value."""


@dataclass
class Trial:
    """One comparison: a loket run and (optionally) a baseline run, each returning figures.

    :param ratio_of: the figure whose loket/baseline ratio the table shows.
    :param goal: a human-readable goal (``"ratio >= 0.5"``), shown beside the result.
    :param met: given the loket and baseline medians, whether the goal is met.
    """

    name: str
    loket: Callable[[], Figures]
    baseline: Callable[[], Figures] | None = None
    baseline_name: str = ""
    ratio_of: str = ""
    goal: str = ""
    met: Callable[[Figures, Figures | None], bool] | None = None
    results: dict[str, list[Figures]] = field(
        default_factory=lambda: {"loket": [], "baseline": []})


@dataclass(frozen=True)
class Workload:
    """A registered workload.

    :param name: what ``--only`` selects.
    :param setup: prepares data, returns the trials.
    :param order: workloads run in ascending order (data-heavy ones last).
    """

    name: str
    setup: Callable[[Bench], list[Trial]]
    order: int = 50
    description: str = ""


def discover() -> list[Workload]:
    """Every workload in :mod:`benchmarks.workloads`, in run order."""
    from benchmarks import workloads  # noqa: PLC0415

    found = []
    for module in pkgutil.iter_modules(workloads.__path__):
        loaded = importlib.import_module(f"benchmarks.workloads.{module.name}")
        workload = getattr(loaded, "WORKLOAD", None)
        if isinstance(workload, Workload):
            found.append(workload)
    return sorted(found, key=lambda w: (w.order, w.name))
