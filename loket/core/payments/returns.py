"""The payer comes back from the gateway's hosted page (success or cancel)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from loket.core import audit
from loket.core.gateway_configs import configs
from loket.core.models import GatewayConfiguration, Payment
from loket.core.payments.posting import lock_payment, refresh_state, snapshot
from loket.core.webhooks import outcomes
from loket.errors import GatewayError
from loket.types import EventType, PaymentStatus


def handle_return(ctx, session: Session, payment: Payment, result: str) -> Payment:
    """The payer came back from the gateway.

    ``cancel``: a payer who comes back without paying ends ``failed`` (abandoned) unless the
    gateway already took the money. ``success``: if no webhook has arrived yet, ask the
    gateway once (fetch status) and apply what it says.
    """
    payment = lock_payment(session, payment.id)
    if payment.status != PaymentStatus.INITIATED or payment.gateway_configuration_id is None:
        return payment
    row = session.get_one(GatewayConfiguration, payment.gateway_configuration_id)
    config = configs.config_value(ctx, session, row)
    try:
        event = ctx.plugins.fetch_status(config, payment.number, payment.gateway_reference)
    except GatewayError:
        event = None
    if event is not None and event.type != EventType.PENDING:
        outcomes.apply_event(ctx, session, row, event)
    elif result == "cancel":
        before = snapshot(payment)
        payment.failure_category = "abandoned"
        payment.failure_message = "The payer left the checkout without paying"
        refresh_state(ctx, session, audit.SYSTEM, payment, "payment.abandoned", before)
    return session.get_one(Payment, payment.id)
