"""The per-source rate limit of the endpoints anyone may call: webhook URLs, the payer's
return and the pay pages. Past the limit the answer is 429 with ``Retry-After``, before
anything is read or stored. Counted in the database (:mod:`loket.core.rate_limits`), so
the limit holds across every API process sharing it."""

from __future__ import annotations

import logging

import falcon

from loket.core import rate_limits

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/v1/webhooks/"
PAYER_PREFIXES = ("/v1/return/", "/pay/")


class PublicRateLimitMiddleware:
    """Counts each public request against its source address (``req.remote_addr``: put
    loket behind a proxy that sets it, e.g. gunicorn's ``--forwarded-allow-ips``)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def process_request(self, req, resp):
        """Refuse the request with 429 when its source is over the limit."""
        path = req.path
        config = self.ctx.config
        if path.startswith(WEBHOOK_PREFIX):
            limit, bucket = config.webhook_rate_limit, "webhook"
        elif path.startswith(PAYER_PREFIXES) or path == "/pay":
            limit, bucket = config.public_rate_limit, "payer"
        else:
            return
        if limit <= 0:
            return
        source = req.remote_addr or "-"
        verdict = rate_limits.hit(self.ctx, f"{bucket}:{source}", limit,
                                  config.public_rate_window_seconds)
        if not verdict.allowed:
            if verdict.hits == limit + 1:
                log.warning("%s requests from %s over %s per %s s: refusing with 429", bucket,
                            source, limit, config.public_rate_window_seconds)
            raise falcon.HTTPTooManyRequests(
                title="Too many requests",
                description=f"more than {limit} requests from this address in "
                            f"{config.public_rate_window_seconds} seconds; retry after "
                            f"{verdict.retry_after} seconds",
                retry_after=verdict.retry_after)
