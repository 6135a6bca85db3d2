"""DOKU's ``transaction.status`` words and what they mean for loket.

DOKU's check-status documentation lists PENDING, SUCCESS, FAILED, EXPIRED, REFUNDED,
TIMEOUT and REDIRECT (with which are final). ``SETTLED`` is loket's own word for a payment
found in a DOKU settlement report.

``FAILED`` depends on the checkout: DOKU Checkout lets the payer try again after a failed
attempt unless the checkout was created with ``order.disable_retry_payment`` (the plugin
sends it from ``options["disable_retry_payment"]``, see :mod:`loket_doku.checkout`). While
retries are allowed a FAILED attempt leaves the payment open (``payment.pending`` carrying
DOKU's failure words); only when they are disabled is it final (``payment.failed``).
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
    KEEP,
    REFUNDED,
    SUCCEEDED,
    SettlementStatus,
    StatusMapping,
)

NA, SUCCESS = SettlementStatus.NOT_APPLICABLE, SettlementStatus.SUCCESS

# raw status -> (loket state or None for "no change", webhook words, settlement words, event)
TABLE: dict[str, tuple[str | None, str, str, str]] = {
    "PENDING": (None, "Pending", NA, EVENT_PENDING),
    "SUCCESS": (SUCCEEDED, "In Settlement", "In Progress", EVENT_SUCCEEDED),
    "FAILED": (FAILED, "Failed", NA, EVENT_FAILED),
    "EXPIRED": (FAILED, "Expired", NA, EVENT_EXPIRED),
    "REFUNDED": (REFUNDED, "Refunded", KEEP, EVENT_REFUNDED),
    "TIMEOUT": (None, "Timed out at the e-wallet, awaiting final status", NA,
                EVENT_PENDING),
    "REDIRECT": (None, "Awaiting card verification (3-D Secure)", NA,
                 EVENT_PENDING),
    "SETTLED": (COMPLETED, "Settled", SUCCESS, EVENT_SETTLED),
}
STATUSES = tuple(TABLE)
#: FAILED while the payer may still retry on the same checkout (retries not disabled).
RETRYABLE_FAILED = (None, "Attempt failed, the payer may try again", NA,
                    EVENT_PENDING)


def _row(raw_status: str, retries_allowed: bool) -> tuple | None:
    word = (raw_status or "").strip().upper()
    if word == "FAILED" and retries_allowed:
        return RETRYABLE_FAILED
    return TABLE.get(word)


def map_status(raw_status: str, retries_allowed: bool = True) -> StatusMapping:
    """Translate a DOKU status word (any case) into a :class:`StatusMapping`.

    ``retries_allowed``: the configuration's checkouts let the payer retry after a failed
    attempt (then FAILED changes nothing). An unknown word changes nothing and is shown to
    staff as it came.
    """
    row = _row(raw_status, retries_allowed)
    if row is None:
        return StatusMapping(None, f"Unknown DOKU status {raw_status!r}", NA)
    return StatusMapping(row[0], row[1], row[2])


def event_type(raw_status: str, retries_allowed: bool = True) -> str | None:
    """Return the normalized event type for a status word, or ``None`` if unknown
    (FAILED is ``payment.pending`` while ``retries_allowed``, else ``payment.failed``)."""
    row = _row(raw_status, retries_allowed)
    return row[3] if row else None
