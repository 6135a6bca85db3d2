"""Fixtures of the page tests: a person at the console on the API test app."""

from __future__ import annotations

import pytest

from api_support import api, connected_api  # noqa: F401 - fixtures
from console_support import Person


@pytest.fixture
def person(api) -> Person:
    """A browser on the console of the seeded tenant (not signed in)."""
    return Person(client=api.client)
