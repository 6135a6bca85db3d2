"""loket: a plugin-based payment-gateway integration framework for utilities and revenue
agencies."""

import pluggy

__version__ = "0.2.0"

hookimpl = pluggy.HookimplMarker("loket")
"""Mark a function as an implementation of a loket hook (see :mod:`loket.hookspecs`)."""
