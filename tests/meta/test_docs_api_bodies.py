"""docs/api.md shows every JSON request body of the OpenAPI document, as generated."""

import subprocess
import sys

from support import REPO

ROOT = REPO


def test_the_request_bodies_in_the_api_guide_are_current():
    checked = subprocess.run([sys.executable, str(ROOT / "tools" / "api_request_bodies.py"),
                              "--check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = (ROOT / "docs" / "api.md").read_text()
    assert "### `POST /v1/me/checkout`" in text and '"gateway": "sandbox"' in text
