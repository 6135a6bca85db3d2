"""Test support shipped with loket-doku: a DOKU HTTP emulator for loopback tests
(:class:`~loket_doku.testing.emulator.DokuEmulator`) and the conformance-kit harness
(:mod:`loket_doku.testing.kit`). Hosts' end-to-end tests import them like any module."""

from loket_doku.testing.emulator import DokuEmulator

__all__ = ["DokuEmulator"]
