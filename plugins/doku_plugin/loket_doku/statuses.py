"""DOKU's ``transaction.status`` words and what they mean for loket.

DOKU's check-status documentation lists PENDING, SUCCESS, FAILED, EXPIRED, REFUNDED,
TIMEOUT and REDIRECT (with which are final). ``SETTLED`` is loket's own word for a payment
found in a DOKU settlement report.
"""

from __future__ import annotations

from loket.plugin_api import (
    COMPLETED,
    EVENT_EXPIRED,
    EVENT_FAILED,
    EVENT_PENDING,
    EVENT_REFUNDED,
    EVENT_SETTLED,
    EVENT_SUCCEEDED,
    FAILED,
    REFUNDED,
    SUCCEEDED,
    StatusMapping,
)

# raw status -> (loket state or None for "no change", webhook words, settlement words, event)
TABLE: dict[str, tuple[str | None, str, str, str]] = {
    "PENDING": (None, "Pending", "Not Settled", EVENT_PENDING),
    "SUCCESS": (SUCCEEDED, "In Settlement", "In Progress", EVENT_SUCCEEDED),
    "FAILED": (FAILED, "Failed", "Not Settled", EVENT_FAILED),
    "EXPIRED": (FAILED, "Expired", "Not Settled", EVENT_EXPIRED),
    "REFUNDED": (REFUNDED, "Refunded", "Refunded", EVENT_REFUNDED),
    "TIMEOUT": (None, "Timed out at the e-wallet, awaiting final status", "Not Settled",
                EVENT_PENDING),
    "REDIRECT": (None, "Awaiting card verification (3-D Secure)", "Not Settled",
                 EVENT_PENDING),
    "SETTLED": (COMPLETED, "Settled", "Settled", EVENT_SETTLED),
}
STATUSES = tuple(TABLE)


def map_status(raw_status: str) -> StatusMapping:
    """Translate a DOKU status word (any case) into a :class:`StatusMapping`.

    An unknown word changes nothing and is shown to staff as it came.
    """
    row = TABLE.get((raw_status or "").strip().upper())
    if row is None:
        return StatusMapping(None, f"Unknown DOKU status {raw_status!r}", "Not Settled")
    return StatusMapping(row[0], row[1], row[2])


def event_type(raw_status: str) -> str | None:
    """Return the normalized event type for a status word, or ``None`` if unknown."""
    row = TABLE.get((raw_status or "").strip().upper())
    return row[3] if row else None
