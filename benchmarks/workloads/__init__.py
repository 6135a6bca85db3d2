"""One module per workload, each defining ``WORKLOAD`` (:class:`benchmarks.registry.Workload`)."""
