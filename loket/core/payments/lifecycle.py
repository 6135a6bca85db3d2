"""The one payment state machine.

A payment's state is a function of the *facts* the gateway and staff have established
(money taken, settled, failed, refunded amount, cancelled). Facts only accumulate, so a late,
duplicated or reordered event can never move a payment backwards, and any permutation of
the same events ends in the same state. The table below is that function, read top-down:

=====================================================  =====================
facts                                                  state
=====================================================  =====================
cancelled by an authorised user                        cancelled
money taken and refunded in full                       refunded
money taken and refunded in part                       partially_refunded
money taken and settled (or posted at a counter)       completed / posted
money taken                                            succeeded
failed, declined, abandoned, expired, timed out        failed
nothing yet                                            initiated
=====================================================  =====================
"""

from __future__ import annotations

from loket import types as t

# What people see, per state.
DISPLAY: dict[str, str] = {
    t.INITIATED: "Pending",
    t.SUCCEEDED: "Payment Successful",
    t.COMPLETED: "Payment Completed",
    t.POSTED: "Posted",
    t.FAILED: "Failed",
    t.REFUNDED: "Refund",
    t.PARTIALLY_REFUNDED: "Partial Refund",
    t.CANCELLED: "Cancelled",
}
# OPC service-task state per payment state.
SERVICE_TASK: dict[str, str] = {
    t.INITIATED: "Pending",
    t.SUCCEEDED: "Pending Reconciliation",
    t.COMPLETED: "Complete",
    t.POSTED: "Complete",
    t.FAILED: "Error",
}
MONEY_TAKEN = frozenset({t.SUCCEEDED, t.COMPLETED, t.POSTED, t.PARTIALLY_REFUNDED, t.REFUNDED})
def derive_state(*, taken: bool, settled: bool, posted: bool, failed: bool, refunded: int,
                 refundable: int, cancelled: bool) -> str:
    """Return the payment state the facts imply (the table in this module's docstring)."""
    if cancelled:
        return t.CANCELLED
    if taken or posted or settled:
        if refunded and refunded >= refundable:
            return t.REFUNDED
        if refunded:
            return t.PARTIALLY_REFUNDED
        if posted:
            return t.POSTED
        return t.COMPLETED if settled else t.SUCCEEDED
    if failed:
        return t.FAILED
    return t.INITIATED


def state_of(payment) -> str:
    """The state a payment row's facts imply."""
    return derive_state(
        taken=payment.succeeded_at is not None,
        settled=payment.completed_at is not None,
        posted=payment.gateway_configuration_id is None,
        failed=payment.failure_category is not None,
        refunded=payment.refunded,
        refundable=refundable(payment),
        cancelled=payment.cancelled_at is not None,
    )


def refundable(payment) -> int:
    """What can be given back in all: the money received less change and a passed-on fee."""
    fee = payment.fee if payment.fee_passed_on else 0
    return payment.amount_received - payment.change_given - fee
