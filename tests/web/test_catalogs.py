"""The gettext catalogs: complete for Indonesian, compiled .mo files in step with their .po
(both are committed; `make catalogs` refreshes them), and the tenant's locale choosing the
language and the money and date formats."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from support import REPO
from support.console import Person, text_of

from loket.web import rendering

LOCALES = Path(str(files("loket.web") / "locale"))
REPO = REPO


def catalog(language: str, kind: str):
    path = LOCALES / language / "LC_MESSAGES" / f"loket.{kind}"
    with path.open("rb") as handle:
        return read_po(handle, locale=language) if kind == "po" else read_mo(handle)


def _flat(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def translated(messages) -> dict:
    """id -> text of the translated messages (plural ids and texts as tuples)."""
    return {_flat(m.id): _flat(m.string) for m in messages
            if m.id and any(_flat(m.string) if isinstance(m.string, (list, tuple))
                            else [m.string])}


@pytest.mark.parametrize("language", ["en", "id"])
def test_compiled_catalogs_match_their_sources(language):
    source = translated(catalog(language, "po"))
    compiled = translated(catalog(language, "mo"))
    assert compiled == source, "run `make catalogs` and commit the .mo files"


def test_every_message_of_the_pages_is_in_the_template_and_translated_to_indonesian(tmp_path):
    pot = tmp_path / "loket.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F",
                    str(REPO / "babel.cfg"), "-k", "N_", "-k", "_", "-k", "gettext", "-k",
                    "ngettext:1,2", "--no-location", "-o", str(pot), str(REPO)],
                   check=True, cwd=REPO)
    with pot.open("rb") as handle:
        wanted = {_flat(m.id) for m in read_po(handle) if m.id}
    indonesian = translated(catalog("id", "po"))
    untranslated = sorted(str(i) for i in wanted if not indonesian.get(i))
    assert not untranslated, f"missing in id/loket.po (run `make catalogs`): {untranslated}"


def test_accept_language_picks_a_language_loket_has():
    assert rendering.negotiate("id-ID,id;q=0.9,en;q=0.8") == "id_ID"
    assert rendering.negotiate("id") == "id_ID"
    assert rendering.negotiate("fr-FR,en-GB;q=0.5") == "en_GB"
    assert rendering.negotiate("fr-FR", "id_ID") == "id_ID"
    assert rendering.negotiate(None) == "en_US"


def test_an_indonesian_tenant_gets_indonesian_pages_with_rupiah_and_dates(api, ctx):
    assert api.put("/v1/settings", {"locale": "id_ID", "timezone": "Asia/Jakarta"}
                   ).status_code == 200
    person = Person(client=api.client, accept_language="en")  # the tenant's locale wins
    page = text_of(person.follow(person.sign_in(api.keys["billing_manager"])).text)
    assert "Dasbor" in page and "Terkumpul hari ini" in page and "Keluar" in page
    assert "US$0,00" in page  # USD written the Indonesian way
    bills = Person(client=api.client)
    text = text_of(bills.follow(bills.sign_in(api.consumer_token)).text)
    assert "Tagihan dan layanan saya" in text and "15 Feb 2025" in text
    assert "US$145,50" in text
