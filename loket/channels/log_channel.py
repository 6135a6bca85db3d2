"""The ``log`` message channel: writes each message as a JSON line to
``{var_dir}/messages.log`` instead of sending it (development and demos)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from loket.plugin_api import CONTRACT_VERSION, Notification, hookimpl, json_safe

LOKET_CONTRACT = CONTRACT_VERSION
FILENAME = "messages.log"


@hookimpl(trylast=True)
def loket_channel_describe() -> tuple[str, ...]:
    """The ``log`` channel."""
    return ("log",)


@hookimpl(trylast=True)
def loket_channel_send(channel: str, recipient: str, message: Notification,
                       options: dict[str, Any]) -> str | None:
    """Append the message to ``messages.log`` in the var directory; returns its line tag."""
    if channel != "log":
        return None
    path = Path(options.get("var_dir") or "var") / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"at": dt.datetime.now(dt.UTC).isoformat(), "to": recipient,
            "kind": message.kind, "subject": message.subject, "body": message.body,
            "data": json_safe(message.data)}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
    return f"log:{path.name}"
