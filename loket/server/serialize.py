"""JSON representations of loket's rows for the REST API (money as ``Money.to_json()``,
times as ISO 8601 UTC). The shapes are the OpenAPI document's response schemas."""

from __future__ import annotations

import datetime as dt

from loket.core.backoffice import paging, queries
from loket.core.models import Consumer, CreditNote, GatewayConfiguration, Payment, Receivable
from loket.core.payments import credit_notes, lifecycle
from loket.core.states import AllocationState
from loket.money import Money


def when(value) -> str | None:
    """An ISO 8601 timestamp in UTC (naive values from SQLite are UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    return value.isoformat()


def money(value: int | None, currency: str) -> dict | None:
    """Minor units as the API's money object."""
    return None if value is None else Money(int(value), currency).to_json()


def page(result: paging.Page, items: list) -> dict:
    """A list response: items, total and page information."""
    return {"items": items, "total": result.total, "total_exact": result.exact,
            "page": result.page, "limit": result.limit, "next_page": result.next_page}


def consumer(row: Consumer) -> dict:
    """A consumer's contact details."""
    return {"account_number": row.account_number, "name": row.name, "email": row.email,
            "phone": row.phone, "service_address": row.service_address,
            "person_type": row.person_type, "account_status": row.account_status or "active",
            "account_status_reason": row.account_status_reason}


def consumer_ref(row: Consumer | None) -> dict | None:
    """Who a payment or credit note belongs to, briefly."""
    return None if row is None else {"account_number": row.account_number, "name": row.name}


def item(row: Receivable) -> dict:
    """A bill, service charge or installment."""
    return {"kind": row.kind, "reference": row.reference, "description": row.description,
            "period": row.period, "due_date": when(row.due_date),
            "amount": money(row.amount, row.currency), "paid": money(row.paid, row.currency),
            "outstanding": money(row.amount - row.paid, row.currency), "status": row.status}


def payment(row: Payment, gateway_kind: str | None = None) -> dict:
    """A payment as lists show it (with its live status)."""
    c = row.currency
    failure = None
    if row.failure_category:
        failure = {"category": row.failure_category, "message": row.failure_message,
                   "code": row.failure_code}
    return {
        "number": row.number, "transaction_number": row.transaction_number,
        "receipt_number": row.receipt_number, "status": row.status,
        "display_status": lifecycle.DISPLAY.get(row.status, row.status),
        "service_task_status": row.service_task or lifecycle.SERVICE_TASK.get(row.status),
        "verification": row.verification, "settlement_status": row.settlement_status,
        "channel": row.channel, "method": row.method, "payment_type": row.payment_type,
        "destination": row.destination, "gateway": gateway_kind,
        "amount": money(row.amount, c), "fee": money(row.fee, c),
        "amount_received": money(row.amount_received, c),
        "change_given": money(row.change_given, c), "refunded": money(row.refunded, c),
        "consumer": consumer_ref(row.consumer), "failure": failure, "notes": row.notes,
        "is_test": row.is_test, "created_at": when(row.created_at),
        "paid_at": when(row.paid_at), "completed_at": when(row.completed_at),
        "payer": payer(row), "agreement_reference": row.agreement_reference,
    }


def payer(row: Payment) -> dict | None:
    """Who paid (on behalf of the account holder, or the holder themselves)."""
    if row.payer_name is None:
        return None
    return {"name": row.payer_name, "email": row.payer_email, "phone": row.payer_phone}


def credit_note(row: CreditNote, now: dt.datetime) -> dict:
    """A credit note with what is left of it."""
    c = row.currency
    return {"number": row.number, "status": credit_notes.note_status(row, now),
            "amount": money(row.amount, c), "applied": money(row.applied, c),
            "reversed": money(row.reversed, c),
            "remaining": money(credit_notes.remaining(row), c),
            "usage_percent": credit_notes.usage_percent(row), "reason": row.reason,
            "remarks": row.remarks, "automatic": row.automatic,
            "payment": row.payment.number, "receipt_number": row.payment.receipt_number,
            "consumer": consumer_ref(row.consumer), "created_by": row.created_by,
            "created_at": when(row.created_at), "expires_at": when(row.expires_at)}


def gateway_kind(session, row: Payment) -> str | None:
    """The gateway a payment went through, if any."""
    if row.gateway_configuration_id is None:
        return None
    return session.get(GatewayConfiguration, row.gateway_configuration_id).kind


def payment_detail(session, row: Payment, now: dt.datetime) -> dict:
    """Everything about one payment: information, destination details, amount analysis,
    credit notes, cash details, transaction, processing information and consumer."""
    kind = gateway_kind(session, row)
    c = row.currency
    details = dict(row.gateway_details or {})
    allocations = [{"destination": a.destination, "kind": r.kind, "reference": r.reference,
                    "description": r.description, "period": r.period,
                    "amount": money(a.amount, c), "reversed": money(a.reversed, c),
                    "state": a.state, "item_status": r.status}
                   for a, r in queries.allocations(session, row)]
    cash = None
    if row.method == "cash":
        cash = {"amount_tendered": money(row.amount_received, c),
                "change_given": money(row.change_given, c),
                "kept": money(row.amount_received - row.change_given, c)}
    return {
        "information": payment(row, kind),
        "destination_details": allocations,
        "amount_analysis": queries.amount_analysis(session, row),
        "credit_notes": [credit_note(n, now) for n in queries.credit_notes_of(session, row)],
        "cash_details": cash,
        "transaction": {"payment_number": row.number,
                        "transaction_number": row.transaction_number, "gateway": kind,
                        "gateway_reference": row.gateway_reference,
                        "webhook_status": details.get("webhook_status"),
                        "settlement_status": row.settlement_status,
                        "payout_reference": row.payout_reference,
                        "settled_fee": money(row.settled_fee, c),
                        "settled_net": money(row.settled_net, c),
                        "gateway_details": {k: v for k, v in details.items()
                                            if isinstance(k, str)}},
        "processing": {"created_by": row.created_by, "created_at": when(row.created_at),
                       "succeeded_at": when(row.succeeded_at),
                       "completed_at": when(row.completed_at),
                       "cancelled_at": when(row.cancelled_at),
                       "processing_time": details.get("processing_time"),
                       "application_state": row.application_state,
                       "service_task_status": row.service_task
                       or lifecycle.SERVICE_TASK.get(row.status),
                       "verification": row.verification},
        "external_payment_data": row.external_payment_data,
        "refunds": [{"amount": money(r.amount, c), "status": r.status,
                     "gateway_reference": r.gateway_reference, "reason": r.reason,
                     "created_by": r.created_by, "created_at": when(r.created_at)}
                    for r in queries.refunds(session, row)],
        "consumer": consumer(row.consumer) if row.consumer else None,
        # an auto-pay attempt: its number, the decline code and kind, the next try
        "autopay": details.get("autopay"),
    }


def receipt(session, row: Payment) -> dict:
    """The receipt of a completed or posted payment."""
    c = row.currency
    lines = [{"kind": r.kind, "reference": r.reference, "description": r.description,
              "period": r.period, "amount": money(a.amount - a.reversed, c)}
             for a, r in queries.allocations(session, row) if a.state == AllocationState.POSTED]
    return {"receipt_number": row.receipt_number, "payment_number": row.number,
            "transaction_number": row.transaction_number, "status": row.status,
            "paid_at": when(row.paid_at), "method": row.method, "channel": row.channel,
            "consumer": consumer_ref(row.consumer), "payer": payer(row), "lines": lines,
            "total": money(row.amount_received, c),
            "total_formatted": Money(row.amount_received, c).format(),
            "change_given": money(row.change_given, c), "refunded": money(row.refunded, c)}
