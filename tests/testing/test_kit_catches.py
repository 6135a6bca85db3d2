"""The kit catches each way a gateway can break the contract, and says what to fix.

One pytest run in a subprocess holds one conformance class per deliberate bug of FakePay
(see kit_fixtures/kitfake_plugin.py); each bug must fail exactly the contract tests listed
here, with a message naming the fix, while every other contract test of that class passes.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from support import KIT_FIXTURES
from support.kit import KIT_SIZE

FIXTURES = KIT_FIXTURES
# pytest plugins of the project venv the kit does not need; they cost 2 s per start-up
NOT_NEEDED = ["-p", "no:hypothesispytest", "-p", "no:schemathesis"]

# bug -> {contract test: phrase its failure message must contain}
EXPECTED = {
    "invalid_schema": {
        "test_describe_gives_a_valid_credential_schema": "is not a valid JSON Schema",
    },
    "secret_not_in_schema": {
        "test_describe_marks_secret_fields": "['signing_key'] are not properties",
    },
    "accepts_bad_credentials": {
        "test_bad_credentials_are_refused_clearly": "raise CredentialsRejected when the "
                                                    "gateway refuses",
    },
    "relative_redirect": {
        "test_charge_returns_absolute_redirect_and_reference": "must be an absolute http(s) URL",
    },
    "not_idempotent": {
        "test_charge_is_idempotent_per_payment": "send payment_id as the gateway's idempotency",
    },
    "amount_off_by_one": {
        name: "never floats" for name in (
            "test_paid_webhook_parses_to_succeeded", "test_fetch_status_agrees_with_the_webhook",
            "test_amounts_round_trip_exactly[two-decimal]",
            "test_amounts_round_trip_exactly[zero-decimal]")
    },
    "no_signature_check": {
        "test_tampered_webhook_is_rejected": "verify the signature over the raw body",
        "test_unsigned_webhook_is_rejected": "raise WebhookRejected when the signature is missing",
    },
    "unmapped_status": {
        "test_map_status_covers_every_declared_status": "map_status('on_hold') raised",
    },
    "refund_over_allowed": {
        "test_refund_of_more_than_paid_is_refused": "raise RefundNotPossible",
    },
    "answers_other_kinds": {
        "test_hooks_answer_none_for_another_kind": "must return None when config.kind is not",
    },
    "fetch_says_pending": {
        "test_fetch_status_agrees_with_the_webhook": "says 'payment.pending' for a paid checkout",
    },
    "minimum_100x": {
        "test_minimum_charges_are_plausible": "minimum_charge['EUR'] is 5000.00 EUR, more than",
    },
}

CLASS = '''
class TestBug_{bug}(GatewayConformance):
    @pytest.fixture(scope="class")
    def loket_gateway_harness(self):
        yield from fake_harness({{"{bug}"}})
'''


def run_bugs(root: Path) -> dict:
    """Run the kit once per bug; return {bug: {test name: failure message or None}}."""
    source = ("import pytest\nfrom kitfake_plugin import fake_harness\n"
              "from loket.testing import GatewayConformance\n"
              + "".join(CLASS.format(bug=bug) for bug in EXPECTED))
    (root / "test_bugs.py").write_text(source)
    (root / "test_no_harness.py").write_text(  # a package that forgot the fixture
        "from loket.testing import GatewayConformance\n"
        "class TestBug_no_harness(GatewayConformance):\n    pass\n")
    report = root / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *NOT_NEEDED, f"--junitxml={report}", "--rootdir", str(root), str(root)],
                   cwd=root, env=env, capture_output=True, timeout=120)
    found: dict = {}
    for case in ET.parse(report).iter("testcase"):
        bug = case.get("classname").rsplit(".TestBug_", 1)[1]
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        found.setdefault(bug, {})[case.get("name")] = (
            None if failure is None else failure.get("message", ""))
    return found


def test_kit_fails_exactly_the_broken_contract_with_a_fix(tmp_path):
    # One test (not one per bug) so that pytest-xdist runs the kit subprocess only once.
    outcomes = run_bugs(tmp_path)
    forgot = outcomes.pop("no_harness")
    assert len(forgot) == KIT_SIZE and all(
        "needs a fixture named 'loket_gateway_harness'" in (m or "") for m in forgot.values())
    problems = []
    for bug, expected in EXPECTED.items():
        results = outcomes[bug]
        failed = {name: msg for name, msg in results.items() if msg is not None}
        if set(failed) != set(expected) or len(results) != KIT_SIZE:
            problems.append((bug, "failed tests", sorted(failed), "expected", sorted(expected)))
            continue
        problems += [(bug, name, failed[name]) for name, phrase in expected.items()
                     if phrase not in failed[name]]
    assert problems == []


def test_plugin_collects_nothing_in_a_project_that_does_not_opt_in(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "def test_one(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.has_plugin('loket')\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *NOT_NEEDED,
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("1 passed"), done.stdout


def test_plugin_import_is_light():
    code = ("import sys, loket.testing; print(sorted(m for m in sys.modules "
            "if m.startswith(('loket.', 'jsonschema', 'babel'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "['loket.testing']"
