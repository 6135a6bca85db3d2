"""Running loket: structured logs, metrics, health checks and ``loket doctor``."""
