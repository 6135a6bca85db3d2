"""Converters the value types share (not part of the contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A fresh plain dict of ``value`` (``None`` becomes empty)."""
    return dict(value or {})
