"""The deployment under test: PostgreSQL and Redis shared by two API processes (gunicorn
with loket's shipped configuration, two workers each) and two ``loket worker`` processes.
A mixed workload — checkouts paid on the sandbox's hosted page, duplicated webhooks sent to
both processes at once, settlements, counter payments racing for the same bill from two
counters — goes to both API processes; then every payment is applied exactly once, no
bill is overpaid, and allocations + credit + change = received. The same run checks what
operators rely on: /metrics summing both gunicorn workers, /health/live and /health/ready,
log lines of a webhook carrying request id, tenant and event id, and no token in any log.
"""

from __future__ import annotations

import concurrent.futures as futures
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select, text
from support.db import BACKEND, empty_postgres_database, pg_available
from support.jobs import redis_or_skip, smtp  # noqa: F401 - fixture
from support.ops import (
    check_money,
    event_statuses,
    free_port,
    gunicorn,
    json_lines,
    python_env,
    samples,
    stop,
    value,
    wait_for,
    worker,
)

from loket.core import audit, tenants
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.host import receivables
from loket.core.models import GatewayConfiguration, Payment, WebhookDelivery
from loket.core.secrets import SecretBox
from loket.demo import connect_sandbox
from loket.gateways import sandbox_page, sandbox_store
from loket.jobs.queue import make_huey
from loket.plugins import Plugins

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

SETUP = audit.Actor("deployment-test", "system")
CREDENTIALS = {"merchant_name": "Deployment Water", "secret": "sbx_deploy0123456789abcdef"}
ONLINE = 12   # accounts paying two bills online
TWICE = 3     # of which this many start a second checkout of the same bills and pay both
COUNTER = 6   # accounts whose bill two counters take at once


@pytest.fixture
def database():
    """A throw-away PostgreSQL database migrated by ``loket db upgrade``."""
    if BACKEND != "postgresql":
        pytest.skip("the deployment test runs in the PostgreSQL pass (LOKET_TEST_DB="
                    "postgresql), whatever the backend it is the same run")
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 — deployment test SKIPPED")
    with empty_postgres_database("loket_deploy") as url:
        yield url


def _seed(ctx) -> tuple[int, dict]:
    """The tenant, its accounts and bills, the sandbox connected; returns the tenant id and
    the credentials (API keys by role, consumer tokens by account)."""
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, SETUP, "deploy", "Deployment Water",
                                       {"currency": "USD"})
        for n in range(ONLINE + COUNTER):
            account = f"ACC-{n:03d}"
            receivables.upsert_consumer(session, SETUP, tenant.id, {
                "account_number": account, "name": f"Payer {n}",
                "email": f"payer{n}@example.com"})
            bills = 2 if n < ONLINE else 1
            for b in range(bills):
                receivables.upsert_receivable(session, SETUP, tenant.id, {
                    "account_number": account, "kind": "bill", "reference": f"B-{n:03d}-{b}",
                    "amount": f"{100 + n}.{25 * b:02d}", "description": "Water"})
        configs.set_active(ctx, session, SETUP, tenant.id, "sandbox", True)
        configs.save_credentials(ctx, session, SETUP, tenant.id, "sandbox", CREDENTIALS)
        keys = {role: tenants.create_api_key(session, SETUP, tenant.id, role, role)
                for role in ("cso_admin", "cso_executive")}
        tenant_id = tenant.id
    connect_sandbox(ctx, tenant_id, SETUP)
    signer = tenants.TokenSigner(ctx.config.secret_keys[0].encode())
    tokens = {f"ACC-{n:03d}": signer.consumer_token(tenant_id, f"ACC-{n:03d}", 3600)
              for n in range(ONLINE)}
    return tenant_id, {"keys": keys, "tokens": tokens}


def _auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_two_api_processes_and_two_workers_apply_a_mixed_workload_exactly_once(
        database, smtp, tmp_path):  # noqa: F811 - fixture
    redis_url = redis_or_skip()
    queue_name = f"loket-deploy-{uuid.uuid4().hex[:10]}"
    key = SecretBox.generate_key()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    var = tmp_path / "var"
    env = python_env(LOKET_DATABASE_URL=database, LOKET_REDIS_URL=redis_url,
                     LOKET_QUEUE_NAME=queue_name, LOKET_SECRET_KEY=key,
                     LOKET_BASE_URL=urls[0], LOKET_VAR_DIR=str(var),
                     LOKET_SMTP_HOST="127.0.0.1", LOKET_SMTP_PORT=str(smtp.port),
                     LOKET_SMTP_SENDER="loket@deploy.example", LOKET_LOG_FORMAT="json")
    upgraded = subprocess.run([sys.executable, "-m", "loket.cli", "db", "upgrade"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr

    config = AppConfig.from_env(env)
    ctx = Loket.create(config, plugins=Plugins())
    smtp.clear()
    tenant_id, creds = _seed(ctx)
    logs = [tmp_path / "api-a.log", tmp_path / "api-b.log", tmp_path / "worker-1.log",
            tmp_path / "worker-2.log"]
    processes = [
        gunicorn(dict(env, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom-a")), ports[0], logs[0]),
        gunicorn(dict(env, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom-b")), ports[1], logs[1]),
        worker(env, logs[2]),
        worker(env, logs[3], "--no-periodic"),
    ]
    http = requests.Session()
    try:
        for url, log in zip(urls, logs, strict=False):  # logs also holds the workers
            wait_for(lambda url=url: http.get(url + "/health/ready", timeout=5).status_code
                     == 200, 180, f"{url} to be ready", log)
        sent = {0: 0, 1: 0}  # checkouts answered 201, per API process

        def pay_online(n: int, attempt: int = 0) -> str:
            account = f"ACC-{n:03d}"
            api = (n + attempt) % 2
            started = requests.post(urls[api] + "/v1/me/checkout", json={
                "gateway": "sandbox", "items": [{"kind": "bill", "reference": f"B-{n:03d}-{b}"}
                                                for b in (0, 1)]},
                headers=_auth(creds["tokens"][account]), timeout=30)
            if started.status_code != 201:
                return f"refused {started.status_code}"
            sent[api] += 1
            outcome = "decline" if n % 5 == 4 else "pay"
            # The payer's browser reaches the hosted page through the other process; its
            # webhook goes to LOKET_BASE_URL (the first process).
            page = urls[1] + urlsplit(started.json()["redirect_url"]).path
            acted = requests.post(page, data={"action": outcome}, allow_redirects=False,
                                  timeout=30)
            assert acted.status_code == 303, acted.text
            return outcome

        def counter(n: int, api: int) -> int:
            account, bill = f"ACC-{n:03d}", f"B-{n:03d}-0"
            body = ({"account_number": account, "payment_type": "bill", "method": "cash",
                     "amount_received": f"{200 + n}.00", "change_given": f"{100}.00",
                     "references": [bill], "paid_on": "2025-01-15"} if api == 0 else
                    {"account_number": account, "payment_type": "bill", "method": "card",
                     "amount_received": f"{100 + n}.00", "references": [bill],
                     "paid_on": "2025-01-15"})
            return requests.post(urls[api] + "/v1/payments/counter", json=body,
                                 headers=_auth(creds["keys"]["cso_executive"]),
                                 timeout=30).status_code

        with futures.ThreadPoolExecutor(8) as pool:
            online = [pool.submit(pay_online, n) for n in range(ONLINE)]
            online += [pool.submit(pay_online, n, 1) for n in range(TWICE)]
            counters = [pool.submit(counter, n, api) for n in range(ONLINE, ONLINE + COUNTER)
                        for api in (0, 1)]
            outcomes = [f.result() for f in online]
            counter_codes = [f.result() for f in counters]
        assert outcomes.count("pay") >= ONLINE - ONLINE // 5, outcomes
        assert all(code in (201, 409, 422) for code in counter_codes), counter_codes
        assert counter_codes.count(201) >= COUNTER  # at least one counter per bill

        # Every webhook delivered so far, sent again to both processes at once.
        with ctx.transaction() as session:
            deliveries = [(d.path, bytes(d.body), dict(d.headers)) for d in session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.verdict == "accepted"))]
        assert len(deliveries) >= ONLINE

        def resend(delivery, api):
            path, body, headers = delivery
            headers = {k: v for k, v in headers.items()
                       if k in ("content-type", "sandbox-signature")}
            return requests.post(urls[api] + path, data=body, headers=headers,
                                 timeout=30).status_code

        with futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda job: resend(*job),
                                  [(d, api) for d in deliveries for api in (0, 1)]))
        assert set(codes) == {200}, codes

        # The sandbox pays out; its settlement webhooks alternate between the processes.
        with ctx.transaction() as session:
            row = session.scalar(select(GatewayConfiguration).where(
                GatewayConfiguration.tenant_id == tenant_id))
            gateway = configs.config_value(ctx, session, row)
        settlements = sandbox_page.settle(sandbox_store.open_store(gateway))
        for i, hook in enumerate(settlements):
            assert requests.post(urls[i % 2] + urlsplit(hook.url).path, data=hook.body,
                                 headers=hook.headers, timeout=30).status_code == 200
        # The workers: a sweep handed to them, and the e-mails the API processes enqueued.
        enqueued = subprocess.run([sys.executable, "-m", "loket.cli", "jobs", "run", "inbox",
                                   "--enqueue"], env=env, capture_output=True, text=True,
                                  timeout=60)
        assert enqueued.returncode == 0, enqueued.stderr
        huey = make_huey(config, queue_name)
        wait_for(lambda: huey.pending_count() == 0, 60, "the workers to drain the queue")
        wait_for(lambda: len(smtp.messages) > 0, 30, "e-mail sent by a worker")

        # The money.
        with ctx.transaction() as session:
            counts = check_money(session)
            statuses = event_statuses(session)
            paid_online = session.scalars(select(Payment).where(
                Payment.channel == "online", Payment.is_test.is_(False))).all()
        assert counts["payments"] >= ONLINE + COUNTER
        assert statuses.get("pending", 0) == 0 and statuses.get("dead", 0) == 0, statuses
        completed = [p for p in paid_online if p.status == "completed"]
        assert len(completed) == len(settlements) > 0
        assert {p.status for p in paid_online} <= {"completed", "failed", "initiated"}
        # Exactly once: each payment's success is audited once, however many copies came.
        with ctx.transaction() as session:
            audited = dict(session.execute(text(
                "SELECT entity_id, count(*) FROM audit_log WHERE action = "
                "'payment.succeeded' GROUP BY entity_id")).all())
        assert audited and set(audited.values()) == {1}, audited

        # What operators see.
        for url in urls:
            assert http.get(url + "/health/live", timeout=5).json() == {"status": "ok"}
            ready = http.get(url + "/health/ready", timeout=10)
            assert ready.status_code == 200, ready.text
        found = samples(http.get(urls[0] + "/metrics", timeout=10).text)
        assert value(found, "loket_http_requests_total", method="POST",
                     route="/v1/me/checkout", status="201") == sent[0]
        assert value(found, "loket_webhook_deliveries_total", gateway="sandbox",
                     verdict="duplicate") >= len(deliveries)
        assert value(found, "loket_queue_depth") == 0
        assert value(found, "loket_gateway_events", status="dead") == 0
        assert value(found, "loket_payments", status="completed") == len(completed)
        assert value(found, "loket_gateway_calls_total", gateway="sandbox", hook="charge",
                     outcome="ok") >= 1
    finally:
        stop(processes)
        http.close()
        try:
            make_huey(config, queue_name).flush()
        finally:
            ctx.engine.dispose()

    api_lines = [line for log in logs[:2] for line in json_lines(log)]
    worker_lines = [line for log in logs[2:] for line in json_lines(log)]
    webhook_lines = [line for line in api_lines
                     if line.get("route") == "/v1/webhooks/{gateway}/{token}"
                     and line.get("event") == "request" and line.get("status") == 200]
    assert webhook_lines
    assert all(line.get("request_id") and line.get("tenant") == tenant_id
               and line.get("event_id") for line in webhook_lines)

    def applied(lines):
        return [line for line in lines if "applied" in str(line.get("event"))
                and line.get("logger") == "loket.core.webhooks.inbox"]

    # An event is applied by the API process that received it, or retried by a worker.
    assert applied(api_lines)
    assert all(line.get("event_id") and line.get("tenant") == tenant_id
               and line.get("request_id") for line in applied(api_lines))
    assert all(line.get("event_id") and line.get("tenant") == tenant_id and line.get("task")
               for line in applied(worker_lines))
    everything = "\n".join(log.read_text(errors="replace") for log in logs)
    assert row.webhook_token not in everything
    assert key not in everything and CREDENTIALS["secret"] not in everything
    for secret in [*creds["keys"].values(), *creds["tokens"].values()]:
        assert secret not in everything
