"""The chaos run: N payments through the sandbox and the Stripe emulator while API and worker
processes are killed with SIGKILL and restarted at random; every gateway event is delivered
3 times, shuffled, from 16 threads. Prints a verdict and exits non-zero on any break.

    python tools/chaos.py --payments 10000          # `make chaos` (PAYMENTS=… to change)

Needs PostgreSQL on 127.0.0.1:5432 (a throw-away database is created and dropped). What it
checks once everything has settled:

- every payment that was paid is applied exactly once (one posted allocation, equal to its
  bill; the bill paid exactly its amount);
- no bill is overpaid;
- allocations + credit notes + change = amount received, for every payment;
- no event is lost (every event delivered is stored, and applied or ignored);
- nothing is stuck without a to-do (no request without a verdict, no pending event, no paid
  payment still initiated, unless a to-do names it);
- the dashboard's running tallies (counts by status, money per local day, folded or not)
  equal the payments.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

from loket.core import audit, tenants
from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.host.imports import import_csv
from loket.core.models import Base, GatewayConfiguration
from loket.core.secrets import SecretBox
from loket.core.tenants import TokenSigner
from loket.demo import SANDBOX_CREDENTIALS
from loket.gateways import sandbox_store
from loket.gateways.sandbox import sign
from loket.gateways.sandbox_page import payer_acts
from loket_stripe.testing.emulator import StripeEmulator

ACTOR = audit.Actor("chaos", "system")
PG_ADMIN = os.environ.get("LOKET_TEST_PG_ADMIN",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Fleet:
    """The API and worker processes, each restartable; ``kill_one`` SIGKILLs one."""

    def __init__(self, env: dict, apis: int, workdir: Path):
        self.env = env
        self.workdir = workdir
        self.ports = [_free_port() for _ in range(apis)]
        self.procs: dict[str, subprocess.Popen] = {}
        self.kills = {"api": 0, "worker": 0}
        self.lock = threading.Lock()

    def _command(self, name: str) -> list[str]:
        if name == "worker":
            return [str(BIN / "loket"), "worker", "--workers", "2"]
        port = self.ports[int(name.split("-")[1])]
        return [str(BIN / "loket"), "serve", "--host", "127.0.0.1", "--port", str(port)]

    def start(self, name: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(self._command(name), env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        for index in range(len(self.ports)):
            self.start(f"api-{index}")
        self.start("worker")
        for port in self.ports:
            self.wait_ready(port)

    def wait_ready(self, port: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"API on port {port} did not start")

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def kill_one(self, rng: random.Random) -> str:
        """SIGKILL one process (an API or the worker) and start it again."""
        with self.lock:
            name = rng.choice(sorted(self.procs))
            proc = self.procs[name]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills["worker" if name == "worker" else "api"] += 1
            self.start(name)
        if name != "worker":  # the next kill only once it serves again
            self.wait_ready(self.ports[int(name.split("-")[1])])
        return name

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


class Killer(threading.Thread):
    """Kills a random process every ``interval`` seconds (±50 %) until stopped."""

    def __init__(self, fleet: Fleet, interval: float, rng: random.Random):
        super().__init__(daemon=True)
        self.fleet, self.interval, self.rng = fleet, interval, rng
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval * self.rng.uniform(0.5, 1.5)):
            self.fleet.kill_one(self.rng)


def _post(urls: list[str], path: str, rng: random.Random, **kwargs) -> requests.Response:
    """POST to any live API process, retrying (same body, same headers) until it answers
    something other than a connection failure, 409 in progress, 429 or 503."""
    for attempt in range(600):
        url = rng.choice(urls) + path
        try:
            answer = requests.post(url, timeout=30, **kwargs)
        except requests.RequestException:
            time.sleep(0.2)
            continue
        if answer.status_code in (409, 429, 503) or answer.status_code >= 500:
            if answer.status_code == 409 and "in progress" not in answer.text:
                return answer
            time.sleep(min(0.2 * (attempt + 1), 2))
            continue
        return answer
    raise RuntimeError(f"{path}: no answer after 600 attempts")


def setup(ctx: Loket, payments: int, emulator: StripeEmulator, rng: random.Random):
    """A tenant, one consumer with one bill per payment, Stripe and the sandbox connected."""
    lines = ["account_number,name,kind,reference,amount,period,due_date"]
    bills = {}
    for n in range(payments):
        amount = rng.randint(1000, 50000)
        bills[f"B-{n:06d}"] = (f"C-{n:06d}", amount)
        lines.append(f"C-{n:06d},Payer {n},bill,B-{n:06d},{amount // 100}.{amount % 100:02d},"
                     f"2026-11,2026-12-31")
    with ctx.transaction() as session:
        tenant = tenants.create_tenant(session, ACTOR, "chaos", "Chaos Water",
                                       {"currency": "USD"})
        session.flush()
        tenant_id = tenant.id
        import_csv(session, ACTOR, tenant_id, "\n".join(lines) + "\n")
        for kind, credentials in (("sandbox", SANDBOX_CREDENTIALS),
                                  ("stripe", emulator.credentials())):
            configs.set_active(ctx, session, ACTOR, tenant_id, kind, True)
            row = configs.save_credentials(ctx, session, ACTOR, tenant_id, kind, credentials)
            row.connected = True
    return tenant_id, bills


def run_payments(ctx, fleet: Fleet, emulator: StripeEmulator, tenant_id: int, bills: dict,
                 threads: int, seed: int) -> tuple[list, dict]:
    """Check out and pay every bill through the API (half Stripe, half sandbox); returns
    the gateway events to deliver and each payment's number by bill."""
    signer = TokenSigner.for_keys(ctx.config.secret_keys)
    with ctx.transaction() as session:
        rows = {r.kind: r for r in session.query(GatewayConfiguration)}
        sandbox_config = configs.config_value(ctx, session, rows["sandbox"])
    sandbox_db_lock = threading.Lock()
    sandbox_db = sandbox_store.open_store(sandbox_config)
    webhook_url = {kind: configs.webhook_path(row) for kind, row in rows.items()}
    deliveries: list = []
    numbers: dict = {}
    lock = threading.Lock()
    work = list(bills.items())

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while True:
            with lock:
                if not work:
                    return
                reference, (account, _amount) = work.pop()
            gateway = "stripe" if int(reference[2:]) % 2 else "sandbox"
            token = signer.consumer_token(tenant_id, account, 24 * 3600)
            answer = _post(fleet.urls(), "/v1/me/checkout", rng, json={
                "gateway": gateway, "items": [{"kind": "bill", "reference": reference}]},
                headers={"Authorization": f"Bearer {token}",
                         "Idempotency-Key": f"chaos-{reference}"})
            if answer.status_code != 201:
                raise RuntimeError(f"checkout {reference}: {answer.status_code} {answer.text}")
            gateway_reference = urlsplit(answer.json()["redirect_url"]).path.rstrip("/") \
                .rsplit("/", 1)[-1]
            found = []
            if gateway == "stripe":
                for event in emulator.pay(gateway_reference):
                    found.append(("stripe", webhook_url["stripe"], event))
            else:
                with sandbox_db_lock:
                    webhook, _ = payer_acts(sandbox_db, gateway_reference, "pay")
                found.append(("sandbox", webhook_url["sandbox"], webhook.body))
            with lock:
                numbers[reference] = answer.json()["payment"]["number"]
                deliveries.extend(found)

    _in_threads(threads, worker)
    return deliveries, numbers


def _in_threads(count: int, target) -> None:
    errors: list = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001 - reported as a break
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def deliver_all(fleet: Fleet, emulator: StripeEmulator, deliveries: list, threads: int,
                seed: int) -> dict:
    """Every event 3 times, shuffled, from ``threads`` threads; signed at send time as a
    gateway's retry is. Returns the answers by status."""
    queue = [d for d in deliveries for _ in range(3)]
    random.Random(seed).shuffle(queue)
    lock = threading.Lock()
    answers: dict = {}

    def worker(index: int) -> None:
        rng = random.Random(seed * 7919 + index)
        while True:
            with lock:
                if not queue:
                    return
                kind, path, item = queue.pop()
            if kind == "stripe":
                body, headers = emulator.signed(item)
            else:
                body = item
                headers = {"Content-Type": "application/json",
                           "Sandbox-Signature": sign(SANDBOX_CREDENTIALS["secret"], body)}
            answer = _post(fleet.urls(), path, rng, data=body, headers=headers)
            with lock:
                answers[answer.status_code] = answers.get(answer.status_code, 0) + 1

    _in_threads(threads, worker)
    return answers


def settle(engine, timeout: float) -> None:
    """Wait until no request lacks a verdict and no event is pending (the worker's sweeps
    resume what the kills interrupted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as db:
            waiting = db.execute(text(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE verdict = 'pending') + "
                "(SELECT count(*) FROM gateway_events WHERE status = 'pending')")).scalar()
        if not waiting:
            return
        time.sleep(2)


CHECKS = {
    "payments not applied exactly once": """
        SELECT p.number FROM payments p
        LEFT JOIN allocations a ON a.payment_id = p.id AND a.state = 'posted'
        WHERE p.is_test = false AND p.number = ANY(:numbers)
        GROUP BY p.id, p.number, p.amount, p.status
        HAVING count(a.id) <> 1 OR coalesce(sum(a.amount), 0) <> p.amount
            OR p.status NOT IN ('succeeded', 'completed')""",
    "bills overpaid or not paid exactly": """
        SELECT reference FROM receivables WHERE paid > amount OR paid <> amount""",
    "allocations + credit + change <> received": """
        SELECT p.number FROM payments p
        WHERE p.is_test = false AND p.status IN ('succeeded', 'completed', 'posted')
          AND p.amount_received <> p.change_given
            + coalesce((SELECT sum(amount) FROM allocations a
                        WHERE a.payment_id = p.id AND a.state = 'posted'), 0)
            + coalesce((SELECT sum(amount) FROM credit_notes c WHERE c.payment_id = p.id), 0)""",
    "requests without a verdict": """
        SELECT id::text FROM webhook_deliveries WHERE verdict = 'pending'""",
    "dashboard counts by status <> the payments": """
        WITH tallied AS (
            SELECT tenant_id, is_test, status, sum(payments) AS n FROM (
                SELECT tenant_id, is_test, status, payments FROM payment_status_tallies
                UNION ALL
                SELECT tenant_id, is_test, status, payments FROM payment_tally_changes) t
            GROUP BY 1, 2, 3 HAVING sum(payments) <> 0),
        actual AS (SELECT tenant_id, is_test, status, count(*) AS n FROM payments
                   GROUP BY 1, 2, 3)
        SELECT coalesce(a.status, t.status) || ': ' || coalesce(a.n, 0) || ' payments, '
               || coalesce(t.n, 0) || ' tallied'
        FROM actual a FULL JOIN tallied t ON t.tenant_id = a.tenant_id
             AND t.is_test = a.is_test AND t.status = a.status
        WHERE coalesce(a.n, 0) <> coalesce(t.n, 0)""",
    "dashboard money per day <> the payments": """
        WITH taken AS (SELECT * FROM (VALUES ('succeeded'), ('completed'), ('posted'),
                       ('partially_refunded'), ('refunded')) AS v(status)),
        tallied AS (
            SELECT tenant_id, paid_on, channel, method, payment_type, sum(net) AS net
            FROM (SELECT tenant_id, paid_on, channel, method, payment_type, net, payments
                  FROM payment_day_tallies
                  UNION ALL
                  SELECT tenant_id, paid_on, channel, method, payment_type, net, payments
                  FROM payment_tally_changes
                  WHERE NOT is_test AND status IN (SELECT status FROM taken)
                    AND paid_on IS NOT NULL) t
            GROUP BY 1, 2, 3, 4, 5 HAVING sum(payments) <> 0),
        actual AS (
            SELECT p.tenant_id, (p.paid_at AT TIME ZONE coalesce(s.document ->> 'timezone',
                   'UTC'))::date AS paid_on, p.channel, p.method, p.payment_type,
                   sum(p.amount_received - p.change_given - p.refunded) AS net
            FROM payments p LEFT JOIN tenant_settings s ON s.tenant_id = p.tenant_id
            WHERE NOT p.is_test AND p.status IN (SELECT status FROM taken)
              AND p.paid_at IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5)
        SELECT coalesce(a.paid_on, t.paid_on)::text || ': ' || coalesce(a.net, 0)
               || ' collected, ' || coalesce(t.net, 0) || ' tallied'
        FROM actual a FULL JOIN tallied t ON t.tenant_id = a.tenant_id
             AND t.paid_on = a.paid_on AND t.channel = a.channel AND t.method = a.method
             AND t.payment_type = a.payment_type
        WHERE coalesce(a.net, 0) <> coalesce(t.net, 0)""",
    "events stuck without a to-do": """
        SELECT e.event_id FROM gateway_events e
        WHERE e.status NOT IN ('processed', 'ignored')
          AND NOT EXISTS (SELECT 1 FROM todos t WHERE t.entity_type = 'gateway_event'
                          AND t.entity_id = e.id::text)""",
}


def verdict(engine, payments: int, numbers: dict, event_ids: set, answers: dict) -> dict:
    """Run every check; returns ``{check: [offending ids…]}`` (empty lists when sound)."""
    found = {}
    with engine.connect() as db:
        for name, query in CHECKS.items():
            params = {"numbers": list(numbers.values())} if ":numbers" in query else {}
            found[name] = [row[0] for row in db.execute(text(query), params)][:20]
        stored = {row[0] for row in db.execute(text("SELECT event_id FROM gateway_events"))}
    found["events lost"] = sorted(event_ids - stored)[:20]
    found["checkouts missing"] = [f"{payments - len(numbers)} of {payments}"] \
        if len(numbers) != payments else []
    found["deliveries refused (4xx)"] = [f"{n} x {status}" for status, n in answers.items()
                                         if 400 <= status < 500]
    return found


def explain(engine, numbers: list[str]) -> list[str]:
    """What the database says about payments a check named: state, application state and
    every to-do raised about them (printed under a BROKEN verdict)."""
    out = []
    with engine.connect() as db:
        for number in numbers[:10]:
            row = db.execute(text(
                "SELECT status, application_state, amount, amount_received, "
                "(SELECT coalesce(sum(amount), 0) FROM allocations a WHERE a.payment_id = p.id "
                " AND a.state = 'posted') FROM payments p WHERE number = :n"),
                {"n": number}).first()
            todos = [f"{k}: {t} ({d[:200]})" for k, t, d in db.execute(text(
                "SELECT kind, title, detail FROM todos WHERE entity_id = :n OR title LIKE :l "
                "OR detail LIKE :l"), {"n": number, "l": f"%{number}%"})]
            out.append(f"{number}: {tuple(row) if row else 'missing'}; to-dos: {todos}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chaos; returns the exit status (1 on any break)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--kill-every", type=float, default=5.0,
                        help="seconds between kills (±50 %%), counted once the killed "
                             "process serves again")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep-database", action="store_true",
                        help="keep the database when the verdict is BROKEN")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    name = f"loket_chaos_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    workdir = args.workdir or Path("var") / name
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"chaos: {args.payments} payments, {args.apis} API processes + 1 worker, "
          f"{args.threads} threads, a SIGKILL every ~{args.kill_every} s, seed {args.seed}",
          flush=True)
    status = 2
    try:
        status = _run(args, rng, url, workdir, started)
        return status
    finally:
        if status == 0 or not args.keep_database:
            with admin.connect() as db:
                db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"database kept for inspection: {url}", flush=True)


def _run(args, rng: random.Random, url: str, workdir: Path, started: float) -> int:
    """Wire the emulator, the database and the fleet, then run the chaos."""
    with StripeEmulator() as emulator:
        key = SecretBox.generate_key()
        env = {**os.environ, "LOKET_DATABASE_URL": url, "LOKET_SECRET_KEY": key,
               "LOKET_VAR_DIR": str(workdir), "LOKET_QUEUE": "postgres",
               "LOKET_QUEUE_NAME": workdir.name, "LOKET_IDEMPOTENCY_LEASE_SECONDS": "5",
               "LOKET_PUBLIC_RATE_LIMIT": "0", "LOKET_WEBHOOK_RATE_LIMIT": "0",
               "LOKET_SMTP_PORT": "1",
               "LOKET_GATEWAY_OPTIONS": json.dumps({"stripe": {
                   "api_base": emulator.url, "max_network_retries": 0}})}
        env.pop("LOKET_REDIS_URL", None)
        config = AppConfig.from_env(env)
        ctx = Loket.create(config)
        Base.metadata.create_all(ctx.engine)
        tenant_id, bills = setup(ctx, args.payments, emulator, rng)
        fleet = Fleet(env, args.apis, workdir)
        fleet.start_all()
        killer = Killer(fleet, args.kill_every, rng)
        killer.start()
        try:
            return _chaos(args, ctx, fleet, killer, emulator, tenant_id, bills, started)
        finally:
            killer.stopped.set()
            fleet.stop()
            ctx.engine.dispose()


def _chaos(args, ctx, fleet, killer, emulator, tenant_id, bills, started) -> int:
    """Pay, deliver, settle, judge; prints the figures and the verdict."""
    try:
        deliveries, numbers = run_payments(ctx, fleet, emulator, tenant_id, bills,
                                           args.threads, args.seed)
        paid_at = time.monotonic()
        answers = deliver_all(fleet, emulator, deliveries, args.threads, args.seed)
        delivered_at = time.monotonic()
    finally:
        killer.stopped.set()
        killer.join()
    for port in fleet.ports:
        fleet.wait_ready(port)
    settle(ctx.engine, timeout=300)
    event_ids = {e["id"] if kind == "stripe" else json.loads(e)["id"]
                 for kind, _, e in deliveries}
    found = verdict(ctx.engine, args.payments, numbers, event_ids, answers)
    named = sorted({n for key in ("payments not applied exactly once",
                                  "allocations + credit + change <> received")
                    for n in found[key]})
    details = explain(ctx.engine, named) if named else []
    broken = {k: v for k, v in found.items() if v}
    total = time.monotonic() - started
    print(f"checkouts and payments: {len(numbers)} in {paid_at - started:.0f} s; "
          f"deliveries: {sum(answers.values())} ({len(deliveries)} events x 3) in "
          f"{delivered_at - paid_at:.0f} s, answers {dict(sorted(answers.items()))}; "
          f"killed: {fleet.kills['api']} API, {fleet.kills['worker']} worker; "
          f"total {total:.0f} s", flush=True)
    for check in found:
        print(f"  {'BROKEN' if found[check] else 'ok':<6} {check}"
              + (f": {found[check]}" if found[check] else ""))
    for line in details:
        print(f"    {line}")
    print("VERDICT: " + ("BROKEN" if broken else "SOUND"), flush=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
