"""The hookspec marker of the ``loket`` project (not part of the contract)."""

import pluggy

hookspec = pluggy.HookspecMarker("loket")
