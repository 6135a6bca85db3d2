"""Fixtures for the DOKU plugin tests: the emulator, a configuration, a notification
receiver standing in for loket's webhook endpoint, and the conformance-kit harness."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from doku_emulator import DokuEmulator  # noqa: E402
from doku_testkit import DokuHarness, NotificationReceiver, make_config  # noqa: E402

from loket.plugin_api import GatewayConfig  # noqa: E402


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
