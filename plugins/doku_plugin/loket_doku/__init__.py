"""loket-doku: the DOKU Checkout gateway for loket.

DOKU's Python library covers only its SNAP APIs, so this package speaks the non-SNAP
Checkout HTTP API itself (``requests`` + the HMAC-SHA256 request signature).
The hook implementations live in :mod:`loket_doku.plugin`.
"""

__version__ = "0.1.0"
KIND = "doku"
