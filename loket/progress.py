"""Progress bars for the command line: long imports show how far they are."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def count_lines(path: Path) -> int:
    """The number of lines of a file, read a megabyte at a time."""
    with path.open("rb") as stream:
        return sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b""))


def progress_bar(total: int, unit: str, quiet: bool = False,
                 out: TextIO | None = None) -> Callable[..., None]:
    """A progress bar on stderr: ``[#####.....] 50% 500,000/1,000,000 rows 41,000/s``,
    redrawn in place on a terminal, a line per tenth elsewhere. Returns ``update(done)``."""
    stream = out or sys.stderr
    started = time.monotonic()
    shown = {"tenth": -1}

    def update(done: int, final: bool = False) -> None:
        if quiet:
            return
        share = min(done / total, 1.0) if total else 1.0
        tenth = int(share * 10)
        if not stream.isatty() and tenth == shown["tenth"] and not final:
            return
        shown["tenth"] = tenth
        rate = done / max(time.monotonic() - started, 1e-6)
        bar = "#" * int(share * 30) + "." * (30 - int(share * 30))
        line = f"[{bar}] {share:4.0%} {done:,}/{total:,} {unit} {rate:,.0f}/s"
        stream.write(("\r" + line + ("\n" if final else "")) if stream.isatty()
                     else line + "\n")
        stream.flush()
    return update


