"""Optional gateway hooks of reconciliation: settlements by API or from a report file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from loket.hookspecs._marker import hookspec
from loket.types import GatewayConfig, SettlementLine


@hookspec(firstresult=True)
def loket_gateway_fetch_settlements(
    config: GatewayConfig, since: dt.datetime, until: dt.datetime
) -> Sequence[SettlementLine] | None:
    """Optional. List what the gateway settled in a period, for reconciliation.

    Called by the reconciliation job and on demand. Stops at the first non-``None`` result.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param since: start (aware datetime, inclusive).
    :param until: end (aware datetime, exclusive).
    :returns: a list of :class:`~loket.types.SettlementLine` (possibly empty), or ``None``
        for another kind.

    Optional: on a gateway without it, loket answers "not supported by this gateway".

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def loket_gateway_parse_settlement_report(
    config: GatewayConfig, content: bytes, filename: str
) -> Iterable[SettlementLine] | None:
    """Optional. Read a settlement report file the gateway delivered (CSV/XLSX) into lines.

    Called when staff upload a report for reconciliation. Stops at the first non-``None``
    result. A reconciliation run (the worker's reading of a file) calls it more than once
    for the same file (a first reading checks every line, an attempt that starts again
    skips the lines already settled by position): the same bytes must give the same lines
    in the same order.

    :param config: the :class:`~loket.types.GatewayConfig`.
    :param content: the file's bytes.
    :param filename: its name (the extension tells the format).
    :returns: the :class:`~loket.types.SettlementLine` values, or ``None`` for another kind:
        a list, or (streaming form) any iterable such as a generator, which loket reads
        lazily, a block of lines at a time, so a million-line report never has to be held
        as a million objects. A :class:`~loket.errors.ValidationFailed` raised while the
        lines are read fails the reconciliation before it moves any money.
    :raises loket.errors.ValidationFailed: the file does not have the documented columns.

    Optional: on a gateway without it, loket answers "not supported by this gateway".

    .. versionadded:: 1.0

    .. versionchanged:: 1.3
       any iterable of lines (a generator streams the file); a run reads the same file
       more than once.
    """
