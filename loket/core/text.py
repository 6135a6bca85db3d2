"""Text the database cannot store: NUL characters and lone UTF-16 surrogates (``"\\ud800"``
is valid JSON, but neither UTF-8 nor PostgreSQL has a place for it)."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> bool:
    """``True`` when ``text`` has no NUL character and no lone surrogate."""
    return _UNSTORABLE.search(text) is None


def unstorable_paths(node: Any, path: tuple = ()) -> list[tuple]:
    """The paths (tuples of keys and indexes) of every string, key included, in a parsed
    JSON document that cannot be stored; a key's own path ends with that key."""
    if isinstance(node, str):
        return [] if storable(node) else [path]
    if isinstance(node, dict):
        out = [path + (k,) for k in node if isinstance(k, str) and not storable(k)]
        for key, value in node.items():
            out += unstorable_paths(value, path + (key,))
        return out
    if isinstance(node, (list, tuple)):
        return [p for i, v in enumerate(node) for p in unstorable_paths(v, path + (i,))]
    return []


def printable(text: str) -> str:
    """``text`` made storable for a log or an error column (offending characters escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
