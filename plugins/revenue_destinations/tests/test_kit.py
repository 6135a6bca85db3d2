"""What loket needs of every destination processor this package installs: it is found
through the ``loket`` entry points, describes a valid target schema and the attribute
schemas of the receivable kinds it reads, and answers ``None`` for another processor."""

from __future__ import annotations

import importlib.metadata

import jsonschema
import pytest

from loket.plugin_api import DestinationTarget, Money, ResolvedTarget

PROCESSORS = ("filing_period", "collection_notice", "form_dln", "obligation", "tax_role",
              "tax_form")


def test_every_processor_is_an_entry_point_of_loket_revenue():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="loket")
           if ep.dist is not None and ep.dist.name == "loket-revenue"}
    assert set(eps) == set(PROCESSORS)


@pytest.mark.parametrize("name", PROCESSORS)
def test_describe_gives_valid_schemas(plugins, name):
    description = plugins.require_processor(name)
    jsonschema.Draft202012Validator.check_schema(description.target_schema)
    assert description.receivable_kinds
    for kind in description.receivable_kinds:
        jsonschema.Draft202012Validator.check_schema(description.attribute_schemas[kind])
    assert set(description.target_schema["required"]) <= set(
        description.target_schema["properties"])


def test_hooks_answer_none_for_another_processor(plugins):
    from loket_revenue import processors, tax_form
    resolved = ResolvedTarget(DestinationTarget("d", "bill", "A"), "A", ())
    for plugin in (processors.filing_period, processors.collection_notice, processors.form_dln,
                   processors.obligation, processors.tax_role, tax_form.plugin):
        assert plugin.loket_destination_retrieve_due("bill", None, "A") is None
        assert plugin.loket_destination_validate("bill", None, resolved.target) is None
        assert plugin.loket_destination_prepare("bill", resolved, "card", "individual",
                                                None) is None
        assert plugin.loket_destination_apply("bill", None, resolved, Money(1, "USD")) is None


def test_retrieve_due_lists_the_kind_oldest_first(plugins, ledger):
    assert [o.reference for o in plugins.retrieve_due("collection_notice", ledger, "T-1")] == [
        "CN-1", "CN-2"]
    assert [o.reference for o in plugins.retrieve_due("filing_period", ledger, "T-1")] == [
        "VAT-Q2", "VAT-Q3"]
    assert plugins.retrieve_due("obligation", ledger, "T-2")[0].reference == "OB-9"
