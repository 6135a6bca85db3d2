"""What the operations guide states as a number is the number the code uses."""

from __future__ import annotations

from support import REPO

from loket.core.config import AppConfig
from loket.core.settings import DEFAULTS

DOCS = REPO / "docs"


def test_the_guide_gives_the_real_number_of_webhook_attempts():
    guide = (DOCS / "operations.md").read_text()
    assert f"`webhook_max_attempts` ({AppConfig().webhook_max_attempts}," in guide


def test_the_guide_gives_the_real_webhook_retention():
    guide = (DOCS / "operations.md").read_text()
    assert f"`webhook_retention_days` (default {DEFAULTS['webhook_retention_days']})" in guide
