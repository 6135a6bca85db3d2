"""What loket says to people in e-mails and text messages, in the tenant's language.

Each message kind has a template per language in ``loket/core/outbox/templates/<lang>/
<kind>.txt``: header lines ``subject:`` and ``sms:`` (the short text for SMS and WhatsApp),
a blank line, then the e-mail body. Placeholders are ``{name}``, ``{number}``,
``{amount}``…; amounts are formatted by the caller in the tenant's locale. A tenant's own
wording (settings ``messages.templates``) replaces loket's for its kinds.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any

import attrs

DEFAULT_LANGUAGE = "en"


@attrs.frozen
class Wording:
    """A message in one language: its subject, e-mail body and short (SMS) text."""

    subject: str
    body: str
    short: str


def language_of(locale: str) -> str:
    """The language part of a locale (``id_ID`` -> ``id``)."""
    return (locale or DEFAULT_LANGUAGE).split("_")[0].split("-")[0].lower()


@cache
def template(kind: str, language: str) -> Wording | None:
    """loket's template of ``kind`` in ``language`` (English when it has none in that
    language); ``None`` when the kind has no template at all."""
    folder = files("loket.core.outbox") / "templates"
    for lang in (language, DEFAULT_LANGUAGE):
        source = folder / lang / f"{kind}.txt"
        if source.is_file():
            return _parse(source.read_text(encoding="utf-8"))
    return None


def _parse(text: str) -> Wording:
    head, _sep, body = text.partition("\n\n")
    fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
    body = body.strip("\n")
    return Wording(subject=fields.get("subject", "").strip(), body=body,
                   short=fields.get("sms", "").strip() or body)


def fill(text: str, values: dict[str, Any]) -> str:
    """``text`` with its ``{placeholders}`` replaced (unknown ones are left as written)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


def worded(kind: str, locale: str, values: dict[str, Any],
           own: dict[str, str] | None = None) -> Wording:
    """The message of ``kind`` for a tenant writing ``locale``, filled with ``values``.

    :param own: the tenant's own ``{"subject", "body"}`` for this kind (its body is also
        the short text), overriding loket's template.
    :raises KeyError: the kind has no template and the tenant set none.
    """
    base = template(kind, language_of(locale))
    if base is None and not own:
        raise KeyError(f"no message template for {kind!r}")
    own = own or {}
    subject = own.get("subject") or (base.subject if base else "")
    body = own.get("body") or (base.body if base else "")
    short = own.get("body") or (base.short if base else body)
    return Wording(fill(subject, values), fill(body, values), fill(short, values))
