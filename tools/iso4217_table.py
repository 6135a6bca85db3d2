"""Write loket/iso4217.json, the minor-unit digits of every ISO 4217 currency.

The table comes from the pinned ``iso4217`` distribution (the dev extra; ISO's own list
one); funds and metals without a minor unit (XAU, XDR...) are left out. Run it after the
lock moves ``iso4217``: ``.venv/bin/python tools/iso4217_table.py``; the test suite checks
the committed table against the installed distribution.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from iso4217 import Currency

TABLE = Path(__file__).resolve().parent.parent / "loket" / "iso4217.json"


def table() -> dict:
    """Return the document written to ``loket/iso4217.json``."""
    digits = {c.code: c.exponent for c in Currency if c.exponent is not None}
    return {"source": f"iso4217 {version('iso4217')}", "digits": dict(sorted(digits.items()))}


if __name__ == "__main__":
    TABLE.write_text(json.dumps(table(), indent=1) + "\n")
    print(f"wrote {TABLE} ({len(table()['digits'])} currencies)")
