"""Odd and hostile webhook requests: nothing is lost, nothing crashes, and a failure on
loket's side is answered so the gateway retries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from support.jobs import (  # noqa: F401 - fixtures
    ACTOR,
    config_row,
    deliver,
    events,
    jctx,
    jtenant,
    kit,
    payer_acts,
    payment,
    signed,
    smtp,
    start_checkout,
    todos,
)

from loket import hookimpl
from loket.core.gateway_configs import handshake
from loket.core.host import plans
from loket.core.models import GatewayConfiguration, PaymentPlan, Receivable, WebhookDelivery
from loket.core.settings import load_settings, save_settings


def _deliveries(ctx):
    with ctx.transaction() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_a_long_payment_id_from_the_gateway_is_stored_not_a_500(jctx, jtenant):
    webhook = signed(jctx, jtenant, {"id": "evt_long", "type": "payment.succeeded",
                                     "status": "paid", "payment_id": "X" * 60,
                                     "reference": "sbx_cs_x", "amount": 1, "currency": "USD"})
    assert deliver(jctx, webhook).status == 200
    (event,) = events(jctx)
    assert event.payment_number == "X" * 60 and event.status == "pending"


def test_the_signature_header_is_checked_however_many_headers_came_first(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    headers = {**{f"X-Proxy-{n}": "hop" for n in range(60)}, **webhook.headers}
    assert deliver(jctx, webhook, headers=headers).status == 200
    assert payment(jctx, paying.number).status == "succeeded"


def test_an_event_without_an_id_is_refused_not_taken_for_a_duplicate(jctx, jtenant):
    webhook = signed(jctx, jtenant, {"id": None, "type": "payment.succeeded",
                                     "status": "paid", "payment_id": "PAY-1"})
    receipt = deliver(jctx, webhook)
    assert receipt.status == 400 and "without an id" in receipt.body["error"]
    assert events(jctx) == [] and _deliveries(jctx)[-1].verdict == "rejected"


class Unreachable:
    """A gateway plugin whose parse needs its API, which is down."""

    LOKET_CONTRACT = "1"

    @hookimpl(tryfirst=True)
    def loket_gateway_parse_webhook(self, config, request):
        raise ConnectionError("api.gateway.example: connection refused")


def test_a_failure_on_lokets_side_is_answered_503_and_the_request_kept(jctx, jtenant):
    paying = start_checkout(jctx, jtenant)
    webhook = payer_acts(jctx, jtenant, paying)
    plugin = Unreachable()
    jctx.plugins.pm.register(plugin, name="unreachable")
    try:
        assert deliver(jctx, webhook).status == 503
    finally:
        jctx.plugins.pm.unregister(plugin)
    kept = _deliveries(jctx)[-1]
    assert kept.verdict == "parse-error" and kept.body == webhook.body
    assert deliver(jctx, webhook).status == 200  # the gateway's retry gets through
    assert payment(jctx, paying.number).status == "succeeded"


def test_undecryptable_credentials_keep_the_request_and_answer_503(jctx, jtenant):
    webhook = payer_acts(jctx, jtenant, start_checkout(jctx, jtenant))
    with jctx.transaction() as session:
        session.get(GatewayConfiguration, config_row(jctx, jtenant).id).credentials_encrypted = \
            "not-a-fernet-token"
    assert deliver(jctx, webhook).status == 503
    kept = _deliveries(jctx)[-1]
    assert kept.verdict == "config-error" and kept.body == webhook.body


def test_a_malformed_endpoint_token_is_404(jctx, jtenant):
    from loket.core.webhooks import inbox
    assert inbox.receive(jctx, "sandbox", "bad\x00token", b"{}", {}, "/x").status == 404
    assert inbox.receive(jctx, "sandbox", "t" * 65, b"{}", {}, "/x").status == 404


def test_a_handshake_that_crashes_is_recorded_and_alerted(jctx, jtenant, smtp):
    class Crashing:
        LOKET_CONTRACT = "1"

        @hookimpl(tryfirst=True)
        def loket_gateway_handshake(self, config):
            raise ConnectionError("connection reset by peer")

    with jctx.transaction() as session:
        document = load_settings(session, jtenant).document
        document["notifications"] = {"tenant_admins": ["ops@water.example"]}
        save_settings(session, jtenant, document)
    jctx.clock.advance(days=1)
    plugin = Crashing()
    jctx.plugins.pm.register(plugin, name="crashing")
    try:
        assert handshake.handshake_sweep(jctx) == {"ok": 0, "failed": 1, "alerted": 1}
    finally:
        jctx.plugins.pm.unregister(plugin)
    assert config_row(jctx, jtenant).last_handshake_error == \
        "Sandbox (test gateway) could not be reached (ConnectionError)"
    assert len(todos(jctx, "gateway.handshake_failed")) == 1


def test_a_missed_installment_is_judged_by_the_tenants_own_date(jctx, jtenant):
    with jctx.transaction() as session:
        document = load_settings(session, jtenant).document
        save_settings(session, jtenant, {**document, "timezone": "America/Los_Angeles"})
        plan = session.scalar(select(PaymentPlan))
        first = session.scalar(select(Receivable).where(Receivable.plan_id == plan.id)
                               .order_by(Receivable.sequence))
        due = first.due_date
    # 03:00 UTC the day after the due date is still the due date in Los Angeles.
    jctx.clock.now = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(3),
                                               dt.UTC)
    assert plans.plan_compliance(jctx)["missed"] == 0
    jctx.clock.now += dt.timedelta(hours=9)  # noon UTC: the next day there too
    assert plans.plan_compliance(jctx)["missed"] >= 1
