"""Fail early when the lock and the packages' metadata disagree.

Run by `make` right after installing ``requirements/lock.txt`` (hash-checked, without
dependencies) and the three local distributions (editable, without dependencies). Every
requirement the distributions declare, including the ``dev`` extra, must then be satisfied by
what the lock installed; otherwise someone changed the metadata without running ``make lock``.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement

LOCAL = {"loket": {"dev"}, "loket-stripe": set(), "loket-doku": set(), "loket-twilio": set(),
         "loket-revenue": set()}


def problems() -> list[str]:
    """Return one sentence per declared requirement the installed set does not satisfy."""
    found = []
    for dist, extras in LOCAL.items():
        for line in metadata.requires(dist) or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            try:
                version = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                found.append(f"{dist} needs {req}, which requirements/lock.txt does not pin")
                continue
            if not req.specifier.contains(version, prereleases=True):
                found.append(f"{dist} needs {req}, but {req.name} {version} is installed")
    return found


if __name__ == "__main__":
    errors = problems()
    if errors:
        print("The lock and the packages' metadata disagree:", file=sys.stderr)
        for error in errors:
            print(f"  - {error}", file=sys.stderr)
        print("Run `make lock` and commit requirements/lock.txt on its own.", file=sys.stderr)
        sys.exit(1)
