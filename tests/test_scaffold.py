"""``loket plugin new``: the scaffolded package installs, is listed, and fails only at stubs.

The package is pip-installed (editable, a real entry point) into a throw-away virtualenv
layered over the project's, so other test runs sharing the project venv never see it.
"""

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import KIT_FIXTURES
from support.kit import KIT_SIZE
from support.packages import install

from loket import scaffold
from loket.hookspecs import CONTRACT_VERSION

FIXTURES = KIT_FIXTURES
ENV = {**os.environ, "PYTHONPATH": str(FIXTURES)}
# pytest plugins of the project venv the kit does not need; they cost 2 s per start-up
NOT_NEEDED = ["-p", "no:hypothesispytest", "-p", "no:schemathesis"]

FILES = {
    ".gitignore", "README.md", "setup.cfg", "pyproject.toml", "loket_acme/__init__.py",
    "loket_acme/plugin.py", "loket_acme/api.py", "loket_acme/webhooks.py",
    "loket_acme/testing/__init__.py", "loket_acme/testing/__main__.py",
    "loket_acme/testing/emulator.py", "tests/conftest.py", "tests/test_acme_conformance.py",
}
# contract tests that pass on a fresh package: what the template already gets right
PASS_FRESH = {
    "test_describe_gives_a_valid_credential_schema", "test_describe_marks_secret_fields",
    "test_describe_declares_statuses_and_currencies", "test_hooks_answer_none_for_another_kind",
    "test_malformed_credentials_are_refused_naming_a_field",
    "test_map_status_covers_every_declared_status", "test_minimum_charges_are_plausible",
    "test_harness_currencies_have_the_decimals_it_says",
    "test_a_gateway_without_mandates_says_not_supported",
    "test_settlement_kind_matches_the_hooks",
}
# the template's gateway declares no mandates: the mandate contract is skipped, visibly
MANDATE_TESTS = {
    "test_mandate_hooks_are_all_implemented",
    "test_mandate_setup_is_idempotent_and_answers_an_absolute_url",
    "test_a_completed_setup_is_active_with_a_masked_payment_method",
    "test_mandate_events_are_not_payment_events",
    "test_an_off_session_charge_succeeds_once_per_charge_id",
    "test_declines_are_classified[soft-soft]",
    "test_declines_are_classified[hard-hard]",
    "test_a_revoked_mandate_is_not_charged",
}
# a signed gateway without settlement data skips the token and settlement contract tests
KIND_SKIPS = {"test_forged_webhook_is_not_believed",
              "test_settlement_lines_carry_exact_money[api]",
              "test_settlement_lines_carry_exact_money[report]"}
CREDENTIAL_TESTS = {"test_good_credentials_are_accepted",
                    "test_bad_credentials_are_refused_clearly"}


def run_kit(python: Path, package: Path) -> dict:
    """Run the package's tests; return {test name: ("passed"|"skipped"|message)}."""
    report = package / "report.xml"
    subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *NOT_NEEDED, f"--junitxml={report}"], cwd=package, env=ENV, capture_output=True,
                   timeout=120)
    results = {}
    for case in ET.parse(report).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        results[case.get("name")] = (
            failure.get("message") if failure is not None
            else "skipped" if case.find("skipped") is not None else "passed")
    return results


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A freshly scaffolded ``loket-acme``, installed: (python, package dir)."""
    root = tmp_path_factory.mktemp("fresh")
    package = scaffold.new_plugin("acme", root)
    return install(package, root / "venv"), package


def test_new_plugin_writes_a_complete_package(tmp_path):
    package = scaffold.new_plugin("acme", tmp_path)
    assert package == tmp_path / "loket-acme"
    written = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    assert written == FILES
    assert f'LOKET_CONTRACT = "{CONTRACT_VERSION}"' in (package / "loket_acme/__init__.py"
                                                         ).read_text()
    assert "loket =\n    acme = loket_acme.plugin" in (package / "setup.cfg").read_text()
    assert "class TestAcmeConformance(GatewayConformance)" in (
        package / "tests/test_acme_conformance.py").read_text()
    leftovers = [p for p in package.rglob("*") if p.is_file() and "{{" in p.read_text()]
    assert leftovers == []


def test_cli_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert scaffold.main(["plugin", "new", "acme", "--dir", str(tmp_path)]) == 0
    assert scaffold.main(["plugin", "new", "acme", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert scaffold.main(["plugin", "new", "Acme-Pay", "--dir", str(tmp_path)]) == 2
    assert "must be 2-31 lower-case letters" in capsys.readouterr().err
    assert scaffold.main(["plugin", "new", "acme_pay", "--dir", str(tmp_path)]) == 0
    assert "class AcmePay(" not in (tmp_path / "loket-acme-pay/tests/conftest.py").read_text()
    assert "class AcmePayHarness(" in (tmp_path / "loket-acme-pay/tests/conftest.py").read_text()


def test_installed_package_is_listed_by_loket(fresh):
    python, _ = fresh
    code = ("import json, logging; logging.disable(50); from loket.plugins import Plugins; "
            "p = Plugins(); print(json.dumps([[i.name, i.distribution, i.kind, i.contract, "
            "i.error] for i in p.infos()] + [sorted(p.gateways)]))")
    out = json.loads(subprocess.run([str(python), "-c", code], capture_output=True,
                                    text=True, check=True).stdout)
    assert ["acme", "loket-acme", "gateway", CONTRACT_VERSION, None] in out[:-1]
    assert "acme" in out[-1]


def test_fresh_package_fails_only_at_the_documented_stubs(fresh):
    python, package = fresh
    results = run_kit(python, package)
    assert len(results) == KIT_SIZE
    assert {n for n, r in results.items() if r == "passed"} == PASS_FRESH
    assert results["test_amounts_round_trip_exactly[zero-decimal]"] == "skipped"
    assert all(results[name] == "skipped" for name in MANDATE_TESTS), results
    failed = {n: r for n, r in results.items() if r not in ("passed", "skipped")}
    assert len(failed) == 15
    skipped = sum(r == "skipped" for r in results.values())
    guide = (Path(__file__).parent.parent / "docs" / "writing-a-gateway.md").read_text()
    assert (f"passes {len(PASS_FRESH)} contract tests, skips {skipped}" in guide
            and f"and fails {len(failed)}." in guide)  # the guide's first-run counts
    for name, message in failed.items():
        stub = "api.check_credentials" if name in CREDENTIAL_TESTS else "api.create_checkout"
        assert message.startswith(f"NotImplementedError: {stub}: call "), (name, message)


def test_filled_in_package_passes_the_whole_kit(tmp_path):
    """Filling only the stubs (api.py, webhooks.py, the emulator) makes the kit pass."""
    package = scaffold.new_plugin("acme", tmp_path)
    shutil.copytree(FIXTURES / "acme_filled", package, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md", "__pycache__"))
    results = run_kit(install(package, tmp_path / "venv"), package)
    assert {n for n, r in results.items() if r != "passed"} == {
        "test_amounts_round_trip_exactly[zero-decimal]"} | MANDATE_TESTS | KIND_SKIPS, results
    assert len(results) == KIT_SIZE
