"""Test support shipped with loket-stripe: a Stripe HTTP emulator for loopback tests
(:class:`~loket_stripe.testing.emulator.StripeEmulator`) and the conformance-kit harness
(:mod:`loket_stripe.testing.kit`). Hosts' end-to-end tests import them like any module."""

from loket_stripe.testing.emulator import StripeEmulator

__all__ = ["StripeEmulator"]
