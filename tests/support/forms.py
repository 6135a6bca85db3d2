"""Reading a refused console form as a person (and a screen reader) meets it: the message
under an input, which the input names as its description and marks invalid."""

from __future__ import annotations

import re

from support.console import text_of


def field_message(html: str, input_id: str) -> str | None:
    """The text of the message under the input ``input_id`` (``id="err-<input_id>"``), or
    ``None`` when there is none; when there is one, the element with id ``input_id`` must
    name it in ``aria-describedby`` and carry ``aria-invalid="true"``."""
    found = re.search(rf'<p class="[^"]*field-error[^"]*" id="err-{re.escape(input_id)}">'
                      r"(.*?)</p>", html, re.S)
    if found is None:
        return None
    tag = re.search(rf'<[a-z]+ [^>]*id="{re.escape(input_id)}"[^>]*>', html)
    assert tag, f"no element with id {input_id}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    described = re.search(r'aria-describedby="([^"]*)"', tag.group(0))
    assert described and f"err-{input_id}" in described.group(1).split(), tag.group(0)
    return text_of(found.group(1))


def banner(html: str) -> str:
    """The text of the alert at the top of the page ('' when there is none)."""
    found = re.search(r'<p class="notice bad" role="alert">(.*?)</p>', html, re.S)
    return text_of(found.group(1)) if found else ""
