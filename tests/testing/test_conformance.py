"""The conformance kit run against FakePay, a small complete gateway kept in kit_fixtures/.

This is exactly how a gateway package opts in: subclass GatewayConformance and provide the
``loket_gateway_harness`` fixture. Every contract test must pass for a correct gateway.
"""

import sys

import pytest
from support import KIT_FIXTURES

sys.path.insert(0, str(KIT_FIXTURES))

from kitfake_plugin import fake_harness  # noqa: E402

from loket.testing import GatewayConformance  # noqa: E402


@pytest.fixture(scope="module")
def loket_gateway_harness():
    yield from fake_harness()


class TestKitFakeConformance(GatewayConformance):
    pass
