"""The plugin authors' reference matches the code, and the helpers of loket.plugin_api
(amounts in major units, exact JSON, HMAC, callback tokens, the emulator base) keep their
promises."""

import subprocess
import sys
from decimal import Decimal

import pytest
import requests
from support import REPO

from loket import hookspecs, plugin_api
from loket.money import Money
from loket.plugin_reference import missing_field_docs, render

ROOT = REPO


def test_the_committed_reference_is_what_the_code_gives():
    committed = (ROOT / "docs" / "plugin-reference.md").read_text()
    assert committed == render(), "docs/plugin-reference.md is stale: loket plugin reference"


def test_the_reference_command_checks_and_writes(tmp_path):
    out = tmp_path / "ref.md"
    command = [sys.executable, "-m", "loket.cli", "plugin", "reference", "--output", str(out)]
    assert subprocess.run([*command, "--check"], capture_output=True).returncode == 1
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert subprocess.run([*command, "--check"], capture_output=True).returncode == 0


def test_every_hook_every_event_type_and_every_field_is_in_the_reference():
    text = render()
    hooks = [n for n in dir(hookspecs) if n.startswith("loket_")]
    assert all(f"### `{name}`" in text for name in hooks)
    assert all(f"| `{event.value}` |" in text for event in plugin_api.EventType)
    assert "| `refund.failed` | 1.1 |" in text
    assert missing_field_docs() == []
    assert "| `created_at` | `dt.datetime | None` | `None` | When the payment was created" in text


@pytest.mark.parametrize("minor,currency,major", [
    (12345, "USD", "123.45"), (500, "JPY", "500"), (1_000_000, "IDR", "10000.00"),
    (1234, "KWD", "1.234"), (0, "USD", "0.00")])
def test_major_units_round_trip_exactly(minor, currency, major):
    amount = Money(minor, currency)
    assert plugin_api.major_units(amount) == Decimal(major)
    assert str(plugin_api.major_units(amount)) == major
    assert plugin_api.from_major(major, currency) == amount
    assert plugin_api.from_major(Decimal(major), currency) == amount


def test_whole_units_and_their_refusals():
    assert plugin_api.whole_units(Money(1_000_000, "IDR")) == 10_000
    assert plugin_api.whole_units(Money(500, "JPY")) == 500
    with pytest.raises(ValueError, match="fraction of a IDR unit"):
        plugin_api.whole_units(Money(1_000_050, "IDR"))
    with pytest.raises(TypeError, match="float"):
        plugin_api.from_major(1.5, "USD")
    with pytest.raises(ValueError, match="more decimals than USD has"):
        plugin_api.from_major("1.005", "USD")
    with pytest.raises(ValueError, match="not a number"):
        plugin_api.from_major("12,50", "USD")


def test_json_is_exact_and_float_free():
    body = plugin_api.dumps({"amount": Money(1_000_000, "IDR"), "fee": Decimal("0.10"),
                             "items": [{"n": 1, "note": "@loket-number-0@"}]})
    assert body == (b'{"amount":10000.00,"fee":0.10,'
                    b'"items":[{"n":1,"note":"@loket-number-0@"}]}')
    assert plugin_api.loads(body)["amount"] == Decimal("10000.00")
    assert plugin_api.loads(b'{"a": 0.1}')["a"] == Decimal("0.1")
    with pytest.raises(TypeError, match="float"):
        plugin_api.dumps({"amount": 0.1})


def test_hmac_and_tokens_compare_in_constant_time():
    mac = plugin_api.hmac_sha256("secret", b"body")
    assert plugin_api.verify_hmac_sha256("secret", b"body", mac.upper())
    assert not plugin_api.verify_hmac_sha256("secret", b"bodY", mac)
    assert not plugin_api.verify_hmac_sha256("secret", b"body", None)
    b64 = plugin_api.hmac_sha256("secret", "body", "base64")
    assert plugin_api.verify_hmac_sha256(b"secret", "body", b64, "base64")
    assert plugin_api.tokens_match("tok", " tok ")
    assert not plugin_api.tokens_match("tok", "tok2") and not plugin_api.tokens_match("", "")


def test_the_emulator_routes_whole_paths_and_ignores_query_strings():
    class Invoices(plugin_api.Emulator):
        def __init__(self):
            super().__init__()
            self.route("POST", "/v2/invoices", lambda r: (201, {"made": r.json()["amount"]}))
            self.route("GET", "/v2/invoices/{id}", lambda r: (200, {"id": r.params["id"],
                                                                  "q": dict(r.query)}))

    with Invoices() as emulator:
        made = requests.post(emulator.url + "/v2/invoices?x=1", data=b'{"amount": 10.50}',
                             timeout=5)
        assert (made.status_code, made.content) == (201, b'{"made":10.50}')
        one = requests.get(emulator.url + "/v2/invoices/inv_1?expand=all", timeout=5)
        assert one.json() == {"id": "inv_1", "q": {"expand": "all"}}
        assert requests.get(emulator.url + "/v2/invoices", timeout=5).status_code == 404
        assert requests.get(emulator.url + "/v2/invoices/a/b", timeout=5).status_code == 404
        assert [r.path for r in emulator.log] == ["/v2/invoices", "/v2/invoices/inv_1"]


def test_the_guide_lists_every_contract_test_of_the_kit():
    from loket.testing import GatewayConformance

    guide = (ROOT / "docs" / "writing-a-gateway.md").read_text()
    missing = [n for n in dir(GatewayConformance) if n.startswith("test_") and f"`{n}" not in guide]
    assert missing == []
