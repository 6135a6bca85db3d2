"""Words the pages show for values stored in English (states, roles, channels, methods):
listed here so the catalogs carry them; templates translate them where they are shown."""

from __future__ import annotations

from loket.web.console.nav import N_

STATUS_LABELS = {
    "initiated": N_("Pending"), "succeeded": N_("Payment Successful"),
    "completed": N_("Payment Completed"), "posted": N_("Posted"), "failed": N_("Failed"),
    "refunded": N_("Refund"), "partially_refunded": N_("Partial Refund"),
    "cancelled": N_("Cancelled"), "active": N_("Active"), "expired": N_("Expired"),
    "used": N_("Used"), "open": N_("Open"), "resolved": N_("Resolved"), "paid": N_("Paid"),
    "pending": N_("Waiting"), "approved": N_("Approved"), "rejected": N_("Rejected"),
    "under_review": N_("Under review"), "won": N_("Won"), "lost": N_("Lost"),
    "withdrawn": N_("Withdrawn"), "sent": N_("Sent"), "partially_paid": N_("Partly paid"),
    "revoked": N_("Revoked"), "scheduled": N_("Scheduled"), "charging": N_("Charging"),
    "retrying": N_("Retrying"), "stopped": N_("Stopped"), "held": N_("Held"),
    # payment plans: their states and compliance
    "defaulted": N_("Defaulted"), "on_track": N_("On track"), "at_risk": N_("At risk"),
    # credit notes: used up (loket.core.states.CreditNoteStatus)
    "applied": N_("Applied"),
}
STATUS_TONES = {"succeeded": "good", "completed": "good", "posted": "good", "paid": "good",
                "active": "good", "resolved": "good", "failed": "bad", "cancelled": "bad",
                "expired": "bad", "initiated": "wait", "open": "wait", "pending": "wait",
                "approved": "good", "rejected": "bad", "under_review": "wait", "won": "good",
                "lost": "bad", "withdrawn": "", "sent": "wait", "partially_paid": "wait",
                "revoked": "bad", "defaulted": "bad", "on_track": "good", "at_risk": "wait"}
ROLE_LABELS = {
    "tenant_admin": N_("Tenant admin"), "cso_admin": N_("CSO admin"),
    "cso_executive": N_("CSO executive"), "billing_manager": N_("Billing manager"),
    "recovery_executive": N_("Recovery executive"),
    "customer_executive": N_("Customer executive"), "consumer": N_("Consumer"),
}
WORDS = [N_("walk-in"), N_("online"), N_("kiosk"), N_("bank"), N_("cash"), N_("card"), N_("cheque"),
         N_("bank_transfer"), N_("bill"), N_("service"), N_("installment"), N_("bills"),
         N_("services"), N_("installments"), N_("all"), N_("test"),
         # credit note reasons (loket.core.payments.credit_notes.REASONS)
         N_("Overpayment"), N_("Duplicate Payment"), N_("Billing Error"),
         N_("Billing Adjustment"), N_("Refund Request"), N_("Customer Request"), N_("Other"),
         # what a guest proves an account with (loket.core.settings.GUEST_FACTS)
         N_("Name on the account"), N_("Amount of the last bill"), N_("Postcode"),
         N_("E-mail address"), N_("Phone number"),
         # the numbered documents (number_formats) and the approvals' kinds
         N_("Payments"), N_("Receipts"), N_("Credit notes"), N_("Transactions"),
         N_("Refund"), N_("Credit note"), N_("email"), N_("sms"), N_("whatsapp"),
         # how often a payment plan's installments fall due (plan_schedule.Frequency)
         N_("weekly"), N_("biweekly"), N_("monthly"), N_("quarterly")]


# Other stored words, by what they say: a payment's checks, application and settlement, an
# allocation's state (an intended one on a payment whose money was not taken is not paid), a
# message channel.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "verification": {"unverified": N_("Not verified"), "verified": N_("Verified")},
    "application": {"pending": N_("Not applied yet"), "applied": N_("Applied to the items"),
                    "error": N_("Could not be applied"), "error_resolved": N_("Error resolved")},
    "settlement": {"N/A": N_("Not settled"), "In Progress": N_("Being settled"),
                   "Success": N_("Settled"), "Failed": N_("Settlement failed")},
    "allocation": {"intended": N_("Waiting for the money"), "posted": N_("Paid"),
                   "void": N_("Undone"), "not_taken": N_("Not paid"),
                   "not_applied": N_("Not applied yet")},
    # a payment's amount analysis (loket.core.backoffice.queries.amount_analysis)
    "analysis": {"exact": N_("Paid exactly"), "over_paid": N_("Over paid"),
                 "under_paid": N_("Under paid"), "pending": N_("Waiting for the money"),
                 "none": N_("Nothing taken")},
    "channel": {"email": N_("E-mail"), "sms": N_("SMS"), "whatsapp": N_("WhatsApp"),
                "log": N_("Server log (for testing)")},
}


def value_label(kind: str, value: str | None) -> str:
    """The English label of a stored word ``value`` of ``kind`` (a key of
    :data:`VALUE_LABELS`; its catalog message id); the word itself when it has none, ''
    for none."""
    if not value:
        return ""
    return VALUE_LABELS.get(kind, {}).get(value, value)


def status_label(status: str) -> str:
    """The English label of a state (its catalog message id)."""
    return STATUS_LABELS.get(status, status)


def status_tone(status: str) -> str:
    """The badge colour of a state: good, bad, wait or neutral ('')."""
    return STATUS_TONES.get(status, "")
