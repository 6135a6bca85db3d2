"""Fixtures for the DOKU plugin tests: the emulator, a configuration, a notification
receiver standing in for loket's webhook endpoint, and the conformance-kit harness."""

from __future__ import annotations

import pytest

from loket.plugin_api import GatewayConfig
from loket_doku.testing.emulator import DokuEmulator
from loket_doku.testing.kit import DokuHarness, NotificationReceiver, make_config


@pytest.fixture
def doku():
    """A running DOKU emulator."""
    with DokuEmulator() as emulator:
        yield emulator


@pytest.fixture
def receiver():
    """loket's webhook endpoint stand-in (set ``.config`` is done by the ``config`` fixture)."""
    r = NotificationReceiver()
    yield r
    r.stop()


@pytest.fixture
def config(doku, receiver) -> GatewayConfig:
    """A working DOKU configuration whose notifications go to ``receiver``."""
    cfg = make_config(doku, receiver.url)
    receiver.config = cfg
    return cfg


@pytest.fixture
def loket_gateway_harness(doku):
    """The conformance kit's harness, on a fresh emulator."""
    yield DokuHarness(doku)
