"""``Loket-Signature``: one ``v1`` per live secret of the endpoint, the current one first; a
receiver accepts a delivery when any ``v1`` is its secret's, within five minutes."""

from __future__ import annotations

import pytest

from loket.core.outbox import signing

BODY = b'{"id":"evt_1"}'
T = 1_700_000_000


def test_each_live_secret_signs_and_either_verifies():
    header = signing.header_value(["whsec_new", "whsec_old"], T, BODY)
    stamp, found = signing.parse(header)
    assert stamp == T
    assert found == [signing.signature("whsec_new", T, BODY),
                     signing.signature("whsec_old", T, BODY)]
    assert header == f"t={T},v1={found[0]},v1={found[1]}"
    assert signing.verify("whsec_new", header, BODY, T + 299)
    assert signing.verify("whsec_old", header, BODY, T + 299)
    assert not signing.verify("whsec_other", header, BODY, T)
    assert not signing.verify("whsec_old", header, BODY, T + 301)
    assert not signing.verify("whsec_old", header, BODY + b" ", T)


def test_one_secret_signs_once():
    header = signing.header_value("whsec_x", T, BODY)
    assert header == f"t={T},v1={signing.signature('whsec_x', T, BODY)}"
    assert signing.header_value(["whsec_x"], T, BODY) == header
    with pytest.raises(ValueError):
        signing.header_value([], T, BODY)


@pytest.mark.parametrize("header", [
    "v1={sig}",  # no timestamp
    "t=x,v1={sig}",
    "t={t},t={t},v1={sig}",  # a timestamp given twice
    "t=-{t},v1={sig}",
])
def test_a_header_without_one_plain_timestamp_is_refused(header):
    sig = signing.signature("whsec_x", T, BODY)
    assert not signing.verify("whsec_x", header.format(t=T, sig=sig), BODY, T)


def test_spaces_other_schemes_and_strange_characters_are_read_as_a_receiver_would():
    sig = signing.signature("whsec_x", T, BODY)
    assert signing.verify("whsec_x", f"t={T}, v0=abc, v1=\u00e9\u00e9, v1={sig}", BODY, T)
    assert not signing.verify("whsec_x", f"t={T},v1=\u00e9", BODY, T)  # never raises
