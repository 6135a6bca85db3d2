"""Stripe's statuses as loket shows them: the one table of the issue, and nothing else.

``raw_status`` words are what this plugin's events carry (``GatewayEvent.raw_status``):
Stripe's payment outcome (``succeeded``, ``failed``, ``pending``), the checkout's end
(``expired``), a refund (``refunded``, ``refund failed``) and the payout's fate
(``payout created``, ``payout paid``, ``payout failed``).
"""

from __future__ import annotations

from loket.plugin_api import (
    COMPLETED,
    FAILED,
    INITIATED,
    KEEP,
    REFUNDED,
    SUCCEEDED,
    StatusMapping,
)

KEEP_PREVIOUS = KEEP
"""The table says a failed payout keeps the previous webhook status: ``(keep)``."""

TABLE = {
    #  raw status        internal    webhook status   settlement status
    "succeeded":      (SUCCEEDED, "In Settlement", "In Progress"),
    "failed":         (FAILED,    "Failed",        "N/A"),
    "pending":        (INITIATED, "Not Confirmed", "N/A"),
    "payout created": (None,      "In Settlement", "In Progress"),
    "payout paid":    (COMPLETED, "Settled",       "Success"),
    "payout failed":  (None,      KEEP_PREVIOUS,   "Failed"),
    # Not in the table, but emitted by this plugin:
    "expired":        (FAILED,    "Failed",        "N/A"),
    "refunded":       (REFUNDED,  "Refunded",      "N/A"),
    "refund failed":  (None,      "Refund Failed", "N/A"),
}

STATUSES = tuple(TABLE)


def map_status(raw_status: str) -> StatusMapping:
    """Translate a raw status word; an unknown word changes nothing and shows "Unknown"."""
    row = TABLE.get((raw_status or "").strip().lower())
    if row is None:
        return StatusMapping(None, "Unknown", "N/A")
    return StatusMapping(*row)
