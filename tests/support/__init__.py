"""What the tests share: fixtures and helpers by subject (``support.api``, ``support.engine``…)
and the paths of the repository they read."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root (docs/, tools/, var/ are read from here)."""

KIT_FIXTURES = REPO / "tests" / "kit_fixtures"
"""Example plugins the conformance-kit tests load."""
