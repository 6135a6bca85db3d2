"""The contract tests every destination processor must pass (the OPC processor pattern:
describe, retrieve due, validate, prepare, apply), calling its hooks only through
:class:`loket.plugins.Plugins`, exactly as the core does.

A destination package opts in by subclassing :class:`DestinationConformance` in a test
module and providing the ``loket_destination_harness`` fixture. Every failure says what
the author must fix.
"""

from __future__ import annotations

import attrs
import pytest

from loket import types
from loket.errors import PluginError, ValidationFailed
from loket.money import Money
from loket.plugins import Plugins
from loket.testing.destination_harness import DestinationHarness, MemoryLedger
from loket.testing.kit import fail


@attrs.define
class DestinationKit:
    """The harness, the plugins and the ledger one contract test works with."""

    harness: DestinationHarness
    plugins: Plugins
    ledger: MemoryLedger

    @property
    def processor(self) -> str:
        return self.harness.processor

    def resolved(self) -> types.ResolvedTarget:
        """The good target, validated."""
        try:
            resolved = self.plugins.validate_target(self.processor, self.ledger,
                                                    self.harness.good_target())
        except PluginError as exc:  # the contract loket itself enforces on every answer
            fail(exc.detail)
        if not isinstance(resolved, types.ResolvedTarget):
            fail("loket_destination_validate must return a ResolvedTarget")
        return resolved


class DestinationConformance:
    """The destination contract as tests. Subclass it in a test module to run it."""

    @pytest.fixture
    def loket_destination_kit(self, loket_destination_harness: DestinationHarness
                              ) -> DestinationKit:
        """The :class:`DestinationKit` for the package's harness."""
        harness = loket_destination_harness
        if not harness.processor:
            fail(f"{type(harness).__name__}.processor is empty: set it to the name your "
                 "loket_destination_describe returns")
        plugins = Plugins(extra=tuple(harness.extra_plugins))
        if harness.processor not in plugins.destinations:
            fail(f"no installed plugin describes destination processor {harness.processor!r}"
                 f" (installed: {', '.join(sorted(plugins.destinations))}). Check the "
                 "'loket' entry point and reinstall the package (pip install -e .)")
        return DestinationKit(harness, plugins, MemoryLedger(harness.receivables()))

    def test_describe_gives_a_target_schema(self, loket_destination_kit: DestinationKit
                                            ) -> None:
        from jsonschema import Draft202012Validator, SchemaError

        d = loket_destination_kit.plugins.destinations[loket_destination_kit.processor]
        try:
            Draft202012Validator.check_schema(d.target_schema)
        except SchemaError as exc:
            fail(f"loket_destination_describe: target_schema is not a valid JSON Schema: "
                 f"{exc.message}")
        if d.target_schema.get("type") != "object" or not d.title:
            fail("loket_destination_describe: target_schema must be an object schema and "
                 "title must name the processor for staff")
        if not d.receivable_kinds:
            fail("loket_destination_describe: list the receivable_kinds the processor reads")

    def test_retrieve_due_lists_open_obligations(self, loket_destination_kit: DestinationKit
                                                 ) -> None:
        kit = loket_destination_kit
        due = kit.plugins.retrieve_due(kit.processor, kit.ledger, kit.harness.account_number)
        if not due:
            fail("loket_destination_retrieve_due listed nothing for the harness's account: "
                 "read ledger.open_items(account_number, kind) for your receivable kinds")
        for item in due:
            if not isinstance(item, types.Obligation) or item.outstanding.amount <= 0:
                fail(f"loket_destination_retrieve_due must list Obligations still owed, "
                     f"got {item!r}")

    def test_validate_resolves_the_good_target(self, loket_destination_kit: DestinationKit
                                               ) -> None:
        kit = loket_destination_kit
        resolved = kit.resolved()
        if resolved.account_number != kit.harness.account_number:
            fail(f"ResolvedTarget.account_number is {resolved.account_number!r}; expected "
                 f"the target's {kit.harness.account_number!r}")
        if not resolved.obligations and resolved.hold_key is None:
            fail("ResolvedTarget has no obligations (and no hold_key): return the open "
                 "obligations the payment is for")
        known = {r.obligation.receivable_id for r in kit.ledger.receivables}
        strangers = [o.reference for o in resolved.obligations if o.receivable_id not in known]
        if strangers:
            fail(f"ResolvedTarget names obligations not in the ledger: {strangers}")

    def test_validate_refuses_naming_the_field(self, loket_destination_kit: DestinationKit
                                               ) -> None:
        kit = loket_destination_kit
        refusals = kit.harness.refusals()
        if not refusals:
            pytest.skip(f"{type(kit.harness).__name__}.refusals() names no target to refuse")
        for name, (target, field) in refusals.items():
            try:
                kit.plugins.validate_target(kit.processor, kit.ledger, target)
            except ValidationFailed as exc:
                named = [e.get("field") for e in exc.errors if isinstance(e, dict)]
                if field not in named:
                    fail(f"refusal {name!r}: ValidationFailed names {named}; expected "
                         f"field={field!r}")
                continue
            fail(f"loket_destination_validate accepted the target of refusal {name!r} "
                 f"({dict(target.params)}): raise ValidationFailed(message, field={field!r})")

    def test_prepare_works_out_the_fee(self, loket_destination_kit: DestinationKit) -> None:
        kit = loket_destination_kit
        resolved = kit.resolved()
        rule = kit.harness.fee_rule()
        for person_type in kit.harness.person_types:
            prepared = kit.plugins.prepare(kit.processor, resolved, "card", person_type, rule)
            if not isinstance(prepared, types.Prepared):
                fail("loket_destination_prepare must return a Prepared (fee and extra)")
            fee = prepared.fee.amount
            if fee.currency != resolved.total.currency or fee.amount < 0:
                fail(f"the fee {fee} must be a non-negative amount in "
                     f"{resolved.total.currency}")
            passed = rule is not None and person_type in rule.pass_to
            if prepared.fee.passed_on != passed:
                fail(f"for person type {person_type!r} Fee.passed_on is "
                     f"{prepared.fee.passed_on}; the fee rule passes it to {rule and rule.pass_to}"
                     " (loket.plugin_api.compute_fee does it)")
        free = kit.plugins.prepare(kit.processor, resolved, "card", "individual", None)
        if free.fee.amount.amount != 0:
            fail("without a fee rule the fee must be zero")

    @pytest.mark.parametrize("paid", ["exactly", "less", "more"])
    def test_apply_allocates_within_what_is_owed(self, loket_destination_kit: DestinationKit,
                                                 paid: str) -> None:
        kit = loket_destination_kit
        resolved = kit.resolved()
        total = resolved.total
        amount = Money({"exactly": total.amount, "less": max(1, total.amount // 2),
                        "more": total.amount + 100}[paid], total.currency)
        allocations = kit.plugins.apply(kit.processor, kit.ledger, resolved, amount)
        owed = {o.receivable_id: o.outstanding.amount for o in resolved.obligations}
        spent = 0
        for allocation in allocations:
            if allocation.receivable_id not in owed:
                fail(f"an Allocation names receivable {allocation.receivable_id}, not one of "
                     "the resolved obligations")
            if not 0 < allocation.amount.amount <= owed[allocation.receivable_id]:
                fail(f"an Allocation of {allocation.amount} exceeds what receivable "
                     f"{allocation.receivable_id} still owes (or is not positive)")
            spent += allocation.amount.amount
        if spent > amount.amount:
            fail(f"allocations sum to {spent}, more than the {amount} paid")
        if spent < min(amount.amount, total.amount):
            fail(f"a payment of {amount} ({paid} what is owed) allocated only {spent}: "
                 "allocate what was paid, up to what is owed (allocate_in_order does it); "
                 "what is left becomes a credit note")
