"""The files named on the ``loket`` command line: one that is missing, unreadable, not UTF-8
or not the JSON a command needs is refused with one line, ``loket: <file>: <reason>``
(status 2), never a traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loket.errors import BadRequest

_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


@contextmanager
def reading(name: str, *caught: type[Exception]) -> Iterator[None]:
    """Around the statements of a command that read the file ``name``: an ``OSError``
    (missing, unreadable, a directory) or a ``UnicodeDecodeError`` (not UTF-8) they raise,
    or only the ``caught`` kinds when given, becomes the error ``<file>: <reason>``.

    :raises BadRequest: naming the file and the reason (never its content).
    """
    kinds: tuple[type[Exception], ...] = caught or (OSError, UnicodeDecodeError)
    try:
        yield
    except kinds as exc:
        raise BadRequest(f"{name}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def json_object(name: str | None, what: str) -> dict:
    """The JSON object in the file ``name`` (standard input when ``None``), read by a
    command such as ``loket settings set``; ``what`` names it in the error.

    :raises BadRequest: the file cannot be read, is not JSON, or holds something other
        than an object (its kind named, never its content).
    """
    label = name or "standard input"
    with reading(label):
        text = Path(name).read_text(encoding="utf-8-sig") if name else sys.stdin.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{label}: not JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno})") from None
    if not isinstance(document, dict):
        raise BadRequest(f"{label}: {what} is a JSON object ({{...}}), not "
                         f"{_JSON_KINDS.get(type(document), 'a value')}")
    return document
