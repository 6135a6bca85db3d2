"""What the tests of the conformance kit itself share."""

from loket.testing import GatewayConformance


def _cases(name: str) -> int:
    """How many test cases a contract test runs (a parametrized one runs one per value)."""
    marks = getattr(getattr(GatewayConformance, name), "pytestmark", [])
    return max([len(m.args[1]) for m in marks if m.name == "parametrize"] or [1])


KIT_SIZE = sum(_cases(name) for name in dir(GatewayConformance) if name.startswith("test_"))
"""How many contract tests the kit runs for one gateway (parametrized ones counted per
value)."""
