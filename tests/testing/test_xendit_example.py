"""The worked example of a token gateway (examples/loket-xendit): small, green under the kit,
its emulator runs alone, and the kit catches the mistake token gateways invite (believing
the callback's body)."""

import base64
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import requests
from support import REPO

from loket.testing.mandate_conformance import MandateConformance

EXAMPLE = REPO / "examples" / "loket-xendit"
ENV = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
NOT_NEEDED = ["-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:cacheprovider"]
# what a token gateway without decline/refund callbacks or settlement data skips
SKIPPED = {
    "test_tampered_webhook_is_rejected", "test_refund_webhook_parses_to_refunded",
    "test_settlement_lines_carry_exact_money[api]",
    "test_settlement_lines_carry_exact_money[report]",
    "test_amounts_round_trip_exactly[zero-decimal]",
}
NAIVE = '''
import json
from loket.plugin_api import GatewayEvent, hookimpl, from_major, tokens_match, WebhookRejected
from loket_xendit import plugin


class Naive:
    """The example, except that it believes what the callback's body says."""

    LOKET_CONTRACT = plugin.LOKET_CONTRACT

    @hookimpl
    def loket_gateway_parse_webhook(self, config, request):
        if config.kind != "xendit":
            return None
        if not tokens_match(config.credentials["callback_token"],
                            request.headers.get("x-callback-token")):
            raise WebhookRejected("bad token")
        body = json.loads(request.body)
        kind = {"PAID": "payment.succeeded", "EXPIRED": "payment.expired"}[body["status"]]
        return [GatewayEvent(event_id=body["id"] + body["status"], type=kind,
                             raw_status=body["status"], payment_id=body["external_id"],
                             gateway_reference=body["id"],
                             amount=from_major(body["amount"], "IDR"))]


for _name in dir(plugin):
    if _name.startswith("loket_gateway_") and not hasattr(Naive, _name):
        setattr(Naive, _name, staticmethod(getattr(plugin, _name)))
'''


def run(tests: Path, *args: str) -> dict:
    """Run pytest on ``tests``; return {test name: "passed" | "skipped" | failure message}."""
    report = tests / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", *NOT_NEEDED, *args,
                    f"--junitxml={report}", str(tests)], cwd=EXAMPLE, env=ENV,
                   capture_output=True, timeout=300)
    results = {}
    for case in ET.parse(report).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        results[case.get("name")] = (
            failure.get("message") if failure is not None
            else "skipped" if case.find("skipped") is not None else "passed")
    report.unlink()
    return results


def test_the_plugin_code_is_under_200_lines():
    code = [p for p in (EXAMPLE / "loket_xendit").rglob("*.py") if "testing" not in p.parts]
    lines = sum(len(p.read_text().splitlines()) for p in code)
    assert code and lines < 200, lines


def test_the_example_passes_the_kit():
    results = run(EXAMPLE / "tests")
    failed = {n: r for n, r in results.items() if r not in ("passed", "skipped")}
    assert failed == {}
    skipped = {n for n, r in results.items() if r == "skipped"}
    mandates = {n for n in skipped if n.split("[")[0] in dir(MandateConformance)}
    assert skipped - mandates == SKIPPED
    assert results["test_forged_webhook_is_not_believed"] == "passed"
    assert results["test_declined_payer_is_reported"] == "passed"


def test_the_kit_catches_a_token_gateway_that_believes_the_body(tmp_path):
    (tmp_path / "naive_plugin.py").write_text(NAIVE)
    (tmp_path / "conftest.py").write_text(
        "import pytest\nfrom conftest_example import XenditEmulator, XenditHarness\n"
        "from naive_plugin import Naive\n\n\n@pytest.fixture(scope='session')\n"
        "def loket_gateway_harness():\n    with XenditEmulator() as emulator:\n"
        "        yield XenditHarness(emulator, Naive())\n")
    example = (EXAMPLE / "tests/conftest.py").read_text()
    fixture = '@pytest.fixture(scope="session")\ndef loket_gateway_harness'
    (tmp_path / "conftest_example.py").write_text(example.replace(fixture, "def _harness"))
    (tmp_path / "test_naive.py").write_text(
        "from loket.testing import GatewayConformance\n\n\n"
        "class TestNaive(GatewayConformance):\n    pass\n")
    results = run(tmp_path, "-k", "forged or paid_webhook", "--rootdir", str(tmp_path))
    assert results["test_paid_webhook_parses_to_succeeded"] == "passed"
    assert "believed a forged callback" in results["test_forged_webhook_is_not_believed"]


def test_the_emulator_runs_alone():
    process = subprocess.Popen([sys.executable, "-m", "loket_xendit.testing"], env=ENV,
                               stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("emulator listening on http://127.0.0.1:")
        url = first.split()[-1]
        key = process.stdout.readline().split("secret_key=")[1].split()[0]
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        assert requests.get(url + "/balance?x=1", headers={"Authorization": auth},
                            timeout=5).json() == {"balance": 1000000}
        assert requests.get(url + "/balance", timeout=5).status_code == 401
        created = requests.post(url + "/v2/invoices", headers={"Authorization": auth},
                                json={"external_id": "P-1", "amount": 10000}, timeout=5).json()
        one = requests.get(f"{url}/v2/invoices/{created['id']}?expand=1",
                           headers={"Authorization": auth}, timeout=5)
        assert one.json()["external_id"] == "P-1"  # the path parameter, not a prefix match
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
