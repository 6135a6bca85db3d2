"""The bare baselines loket is compared with, served by gunicorn like loket:

- ``bare_app``: a Falcon endpoint answering a constant (what the HTTP stack alone costs);
- ``verify_insert_app``: a Falcon endpoint that verifies a Stripe signature with the Stripe
  SDK and INSERTs the body in one autocommitted statement (the least a webhook receiver
  that keeps what it acknowledged can do).

Environment: ``BENCH_DATABASE_URL`` (a psycopg URL) and ``BENCH_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import json
import os

import falcon

TABLE = """CREATE TABLE IF NOT EXISTS bare_events (
    id bigserial PRIMARY KEY, event_id text UNIQUE NOT NULL, body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now())"""


class _Constant:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}

    on_post = on_get


class _VerifyInsert:
    def __init__(self) -> None:
        import psycopg  # noqa: PLC0415 - only the baseline process needs it
        import stripe  # noqa: PLC0415

        self.stripe = stripe
        self.secret = os.environ["BENCH_WEBHOOK_SECRET"]
        url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        self.connection = psycopg.connect(url, autocommit=True)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.bounded_stream.read()
        try:
            event = self.stripe.Webhook.construct_event(
                body, req.get_header("Stripe-Signature") or "", self.secret, tolerance=300)
        except (self.stripe.SignatureVerificationError, ValueError):
            raise falcon.HTTPBadRequest(title="bad signature") from None
        self.connection.execute(
            "INSERT INTO bare_events (event_id, body) VALUES (%s, %s) "
            "ON CONFLICT (event_id) DO NOTHING", (event["id"], body))
        resp.text = json.dumps({"received": 1})


def bare_app() -> falcon.App:
    """A Falcon app whose every route answers ``{"ok": true}``."""
    app = falcon.App()
    app.add_sink(lambda req, resp, **_: setattr(resp, "media", {"ok": True}), "/")
    app.add_route("/health", _Constant())
    return app


def verify_insert_app() -> falcon.App:
    """A Falcon app: ``POST /webhook`` verifies a Stripe signature and stores the event."""
    app = falcon.App()
    app.add_route("/webhook", _VerifyInsert())
    app.add_route("/health", _Constant())
    return app


def create_table(database_url: str) -> None:
    """Create the baseline's table (before its server starts)."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as connection:
        connection.execute(TABLE)
