"""Helpers for the webhook, job and notification tests (tests/test_jobs_*, test_webhooks_*,
test_notify_*): a connected sandbox gateway, checkouts, signed webhooks, a controllable
clock, a plugin that injects faults the way a broken dependency would, a real SMTP server
(aiosmtpd) and the Redis probe."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from urllib.parse import urlsplit

import attrs
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from loket import hookimpl
from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import GatewayConfiguration, GatewayEventRow, Payment, Todo
from loket.core.payments import checkout
from loket.core.webhooks import inbox
from loket.demo import SANDBOX_CREDENTIALS, connect_sandbox
from loket.gateways import sandbox_page, sandbox_store
from loket.gateways.sandbox import sign
from loket.jobs.wiring import install_builtins
from support.db import build_ctx
from support.engine import seed  # noqa: F401 - re-exported for the tests

ACTOR = audit.Actor("tester", "cso_admin")

REDIS_URL = "redis://127.0.0.1:6379/0"


# --- time ---------------------------------------------------------------------------


class Clock:
    """A clock the test moves forward (``ctx.clock = clock``)."""

    def __init__(self, start: dt.datetime | None = None):
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> dt.datetime:
        """Move forward by ``timedelta(**delta)``."""
        self.now += dt.timedelta(**delta)
        return self.now


# --- plugins the tests register -----------------------------------------------------


class FaultInjector:
    """Fails event processing the way a broken dependency does: its ``map_status`` (called
    inside the engine's transaction for every event with a status) raises while
    ``failures`` is above zero. Otherwise it answers ``None`` and the gateway answers."""

    LOKET_CONTRACT = "1"

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.failures = 0
        self.message = "destination processor unavailable"

    @hookimpl(tryfirst=True)
    def loket_gateway_map_status(self, config, raw_status):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError(self.message)
        return None


class Recorder:
    """Records what outbound hooks receive (plan defaults, notifications)."""

    LOKET_CONTRACT = "1"

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.notifications = []
        self.defaulted = []

    @hookimpl
    def loket_notify(self, notification):
        self.notifications.append(notification)

    @hookimpl
    def loket_plan_defaulted(self, plan):
        self.defaulted.append(plan)


# --- SMTP -----------------------------------------------------------------------------


class _Collect:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "subject": message["Subject"],
                                  "kind": message["X-Loket-Kind"],
                                  "body": message.get_content()})
        return "250 Message accepted for delivery"


class SmtpServer(Controller):
    """aiosmtpd's threaded controller on an ephemeral port (port 0); with ``tls_context``
    it offers STARTTLS with that context's certificate."""

    def __init__(self, tls_context=None):
        self.collector = _Collect()
        options = {"tls_context": tls_context} if tls_context is not None else {}
        super().__init__(self.collector, hostname="127.0.0.1", port=0, **options)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    @property
    def messages(self) -> list[dict]:
        return list(self.collector.messages)

    def clear(self) -> None:
        self.collector.messages.clear()

    def to(self, address: str) -> list[dict]:
        """Messages received for ``address``."""
        return [m for m in self.messages if address in m["to"]]


def with_smtp(ctx, smtp: SmtpServer, jobs=None) -> None:
    """Point the container's SMTP settings at the test server and bind the built-ins."""
    ctx.config = attrs.evolve(ctx.config, smtp_host="127.0.0.1", smtp_port=smtp.port,
                              smtp_sender="loket@water.example")
    install_builtins(ctx, jobs)


# --- Redis ----------------------------------------------------------------------------


def redis_or_skip() -> str:
    """The local Redis URL, or skip loudly when it is not running."""
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("Redis is not reachable at 127.0.0.1:6379 — Redis job tests SKIPPED")
    return REDIS_URL


def unique_queue() -> str:
    """A queue name no other run shares (Redis keys are prefixed with it)."""
    return f"loket-test-{uuid.uuid4().hex[:12]}"


# --- gateway, checkout, webhooks -----------------------------------------------------


def connect(ctx, tenant_id: int) -> None:
    """Activate, configure and connect the sandbox gateway (its real test transaction)."""
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ACTOR, tenant_id, "sandbox", True)
        configs.save_credentials(ctx, session, ACTOR, tenant_id, "sandbox",
                                  SANDBOX_CREDENTIALS)
    connect_sandbox(ctx, tenant_id, ACTOR)


def config_row(ctx, tenant_id: int) -> GatewayConfiguration:
    with ctx.transaction() as session:
        return session.scalar(select(GatewayConfiguration).where(
            GatewayConfiguration.tenant_id == tenant_id))


def sandbox_db(ctx, tenant_id: int):
    """The sandbox gateway's own records."""
    with ctx.transaction() as session:
        config = configs.config_value(ctx, session, config_row(ctx, tenant_id))
    return sandbox_store.open_store(config)


def start_checkout(ctx, tenant_id: int, reference: str = "INV-2025-001234",
                   kind: str = "bill") -> Payment:
    """John Doe starts paying one item through the sandbox."""
    with ctx.transaction() as session:
        return checkout.start_checkout(ctx, session, ACTOR, tenant_id, "WU-10001", "sandbox",
                                       [{"kind": kind, "reference": reference}])


def payer_acts(ctx, tenant_id: int, payment: Payment, outcome: str = "pay"):
    """The payer presses a button on the sandbox page; returns the signed webhook."""
    webhook, _target = sandbox_page.payer_acts(sandbox_db(ctx, tenant_id),
                                               payment.gateway_reference, outcome)
    return webhook


def settle(ctx, tenant_id: int) -> list:
    """The sandbox pays out; returns its settlement webhooks."""
    return sandbox_page.settle(sandbox_db(ctx, tenant_id))


def signed(ctx, tenant_id: int, payload: dict, timestamp: int | None = None):
    """A webhook with ``payload`` signed with the configuration's secret."""
    row = config_row(ctx, tenant_id)
    body = json.dumps(payload, sort_keys=True).encode()
    return sandbox_page.Webhook(
        url=ctx.config.base_url + configs.webhook_path(row), body=body,
        headers={"Content-Type": "application/json",
                 "Sandbox-Signature": sign(SANDBOX_CREDENTIALS["secret"], body, timestamp)})


def deliver(ctx, webhook, process: bool = True, body: bytes | None = None,
            headers: dict | None = None) -> inbox.Receipt:
    """Hand a webhook to the inbox exactly as the HTTP endpoint does."""
    path = urlsplit(webhook.url).path
    _, _, kind, token = path.rsplit("/", 3)
    return inbox.receive(ctx, kind, token, webhook.body if body is None else body,
                         headers if headers is not None else dict(webhook.headers), path,
                         process=process)


def bills(ctx, tenant_id: int, count: int) -> list[str]:
    """``count`` bills of 10.00 for John Doe (``BATCH-000``…); their references."""
    references = [f"BATCH-{n:03d}" for n in range(count)]
    with ctx.transaction() as session:
        for reference in references:
            receivables.upsert_receivable(session, ACTOR, tenant_id, {
                "account_number": "WU-10001", "kind": "bill", "reference": reference,
                "amount": "10.00", "period": "2026-11", "due_date": "2026-12-31"})
    return references


def paid_and_acknowledged(ctx, tenant_id: int, count: int) -> list[str]:
    """``count`` bills paid through the sandbox, each success webhook stored and answered
    as the endpoint does in deferred mode (not applied); the payments' numbers."""
    numbers = []
    for reference in bills(ctx, tenant_id, count):
        paying = start_checkout(ctx, tenant_id, reference)
        receipt = deliver(ctx, payer_acts(ctx, tenant_id, paying), process=False)
        assert receipt.status == 200 and receipt.body["new"] == 1
        numbers.append(paying.number)
    return numbers


def payment(ctx, number: str) -> Payment:
    with ctx.transaction() as session:
        return session.scalar(select(Payment).where(Payment.number == number))


def events(ctx) -> list[GatewayEventRow]:
    """Stored events, except the connection test payment's."""
    with ctx.transaction() as session:
        test = session.scalar(select(Payment.number).where(Payment.is_test.is_(True)))
        return [e for e in session.scalars(select(GatewayEventRow).order_by(GatewayEventRow.id))
                if test is None or e.payment_number != test]


def todos(ctx, kind: str) -> list[Todo]:
    with ctx.transaction() as session:
        return list(session.scalars(select(Todo).where(Todo.kind == kind).order_by(Todo.id)))


# --- fixtures (import them into a test module to use them) ---------------------------

from types import SimpleNamespace  # noqa: E402

from loket.plugins import Plugins  # noqa: E402
from support.db import BACKEND  # noqa: E402


@pytest.fixture(scope="session")
def smtp():
    """A real SMTP server (aiosmtpd) on a loopback port for the whole run."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kit():
    """Installed plugins plus the fault injector and the recorder."""
    injector, recorder = FaultInjector(), Recorder()
    return SimpleNamespace(injector=injector, recorder=recorder,
                           plugins=Plugins(extra=(injector, recorder)))


def _jctx(tmp_path, kit, smtp, request, backend):
    kit.injector.reset()
    kit.recorder.reset()
    smtp.clear()
    ctx = build_ctx(tmp_path, kit.plugins, backend, request)
    ctx.clock = Clock()
    with_smtp(ctx, smtp)
    return ctx


@pytest.fixture
def jctx(tmp_path, kit, smtp, request):
    """A container (selected backend) with a movable clock, e-mail to the test server."""
    ctx = _jctx(tmp_path, kit, smtp, request, BACKEND)
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def pg_jctx(tmp_path, kit, smtp, request):
    """Like ``jctx`` on PostgreSQL whatever the selected backend."""
    ctx = _jctx(tmp_path, kit, smtp, request, "postgresql")
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def jtenant(jctx) -> int:
    """The demo tenant with the sandbox gateway connected."""
    tenant_id = seed(jctx)
    connect(jctx, tenant_id)
    return tenant_id


def poison_payment(ctx, tenant_id: int, kit, message: str) -> Payment:
    """Pay a checkout whose success event then fails every attempt (``message``) until the
    inbox gives up on it; returns the payment (its event is ``dead``)."""
    paying = start_checkout(ctx, tenant_id)
    kit.injector.failures = 1000
    kit.injector.message = message
    deliver(ctx, payer_acts(ctx, tenant_id, paying))
    for _ in range(ctx.config.webhook_max_attempts + 1):
        ctx.clock.advance(hours=1)
        inbox.retry_due(ctx)
    return paying
