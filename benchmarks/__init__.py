"""loket's benchmark suite: ``make bench`` (``make bench-quick`` for a few minutes).

Each workload (a module in :mod:`benchmarks.workloads`) measures loket and, in the same
run, a bare baseline doing the least the same job needs; the runner alternates them and
prints the medians and their ratio. See ``docs/performance.md``.
"""
