"""The non-SNAP signature: DOKU's documented layout, an independent computation, verification."""

import base64
import hashlib
import hmac
import shutil
import subprocess

import pytest

from loket_doku import signature
from loket_doku.testing.emulator import doku_signature

# DOKU's "Signature from API Get Method" page gives this component string for a check status.
DOCUMENTED_GET_COMPONENTS = (
    "Client-Id:MCH-0001-10791114622547\n"
    "Request-Id:d895fb53-479c-4f77-a76a-ab81b40d77cb\n"
    "Request-Timestamp:2020-08-11T08:45:42Z\n"
    "Request-Target:/orders/v1/status/INV-123123-12313"
)
BODY = b'{"order":{"amount":20000,"invoice_number":"INV-1"},"payment":{"payment_due_date":60}}'


def by_hand(secret: str, text: str) -> str:
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return "HMACSHA256=" + base64.b64encode(mac).decode()


def test_get_components_match_dokus_documented_layout_without_digest():
    text = signature.string_to_sign("MCH-0001-10791114622547",
                                    "d895fb53-479c-4f77-a76a-ab81b40d77cb",
                                    "2020-08-11T08:45:42Z", "/orders/v1/status/INV-123123-12313")
    assert text == DOCUMENTED_GET_COMPONENTS


def test_post_signature_equals_an_independent_computation():
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    text = ("Client-Id:BRN-0001-1700000000001\nRequest-Id:req-1\n"
            "Request-Timestamp:2024-05-01T01:02:03Z\nRequest-Target:/checkout/v1/payment\n"
            f"Digest:{digest}")
    expected = by_hand("SK-secret-1", text)
    got = signature.sign("SK-secret-1", "BRN-0001-1700000000001", "req-1",
                         "2024-05-01T01:02:03Z", "/checkout/v1/payment", BODY)
    assert got == expected
    assert got == doku_signature("SK-secret-1", "BRN-0001-1700000000001", "req-1",
                                 "2024-05-01T01:02:03Z", "/checkout/v1/payment", BODY)


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI not installed")
def test_post_signature_equals_openssls():
    text = signature.string_to_sign("MCH-0001-10791114622547", "r-9", "2020-08-11T08:45:42Z",
                                    "/checkout/v1/payment", BODY)
    mac = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", "SK-openssl", "-binary"],
                         input=text.encode(), capture_output=True, check=True).stdout
    assert signature.sign("SK-openssl", "MCH-0001-10791114622547", "r-9",
                          "2020-08-11T08:45:42Z", "/checkout/v1/payment", BODY) == \
        "HMACSHA256=" + base64.b64encode(mac).decode()


def test_signature_covers_the_exact_bytes():
    spaced = (b'{"order": {"amount": 20000, "invoice_number": "INV-1"}, '
              b'"payment": {"payment_due_date": 60}}')
    a = signature.sign("k" * 10, "c", "r", "2024-01-01T00:00:00Z", "/t", BODY)
    b = signature.sign("k" * 10, "c", "r", "2024-01-01T00:00:00Z", "/t", spaced)
    assert a != b


def test_verify_accepts_any_header_case_and_refuses_changes():
    headers = signature.headers("BRN-0001-1700000000001", "SK-verify-1", "req-2", "/hook", BODY)
    lower = {k.lower(): v for k, v in headers.items()}
    assert signature.verify("SK-verify-1", headers, "/hook", BODY)
    assert signature.verify("SK-verify-1", lower, "/hook", BODY)
    assert not signature.verify("SK-verify-2", headers, "/hook", BODY)
    assert not signature.verify("SK-verify-1", headers, "/other-hook", BODY)
    assert not signature.verify("SK-verify-1", headers, "/hook", BODY + b" ")
    assert not signature.verify("SK-verify-1", headers, "/hook", None)
    del lower["request-timestamp"]
    assert not signature.verify("SK-verify-1", lower, "/hook", BODY)


def test_timestamp_is_utc_iso8601_with_z():
    # DOKU's own example: 22 September 2020 08:51:00 WIB is sent as 2020-09-22T01:51:00Z.
    import datetime as dt

    wib = dt.timezone(dt.timedelta(hours=7))
    assert signature.timestamp(dt.datetime(2020, 9, 22, 8, 51, tzinfo=wib)) == \
        "2020-09-22T01:51:00Z"
