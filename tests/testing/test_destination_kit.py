"""The destination conformance kit, run against the built-in ``bill`` processor (which must
pass it), against a processor that allocates beyond what is owed and one whose target is both
held and open (which must fail)."""

import datetime as dt

import pytest

from loket.money import Money
from loket.plugin_api import DestinationTarget, ResolvedTarget, allocate_in_order, hookimpl
from loket.testing import DestinationConformance, DestinationHarness, Receivable, obligation

IDR = "IDR"


class BillHarness(DestinationHarness):
    """The built-in ``bill`` processor with two bills of ACC-1001 and others'."""

    processor = "bill"

    def receivables(self):
        return [
            Receivable(obligation(1, "bill", "INV-1", Money(15_000_000, IDR),
                                  due=dt.date(2024, 5, 1)), "ACC-1001"),
            Receivable(obligation(2, "bill", "INV-2", Money(9_000_000, IDR)), "ACC-1001"),
            Receivable(obligation(3, "bill", "INV-3", Money(5_000_000, IDR)), "ACC-2002"),
            Receivable(obligation(4, "bill", "INV-4", Money(5_000_000, IDR),
                                  Money(0, IDR)), "ACC-1001", status="paid"),
        ]

    def _target(self, reference):
        return DestinationTarget(destination="water", processor="bill",
                                 account_number=self.account_number,
                                 params={"reference": reference})

    def good_target(self):
        return self._target("INV-1")

    def refusals(self):
        return {"unknown reference": (self._target("INV-9"), "reference"),
                "another consumer's bill": (self._target("INV-3"), "reference"),
                "already paid": (self._target("INV-4"), "reference"),
                "no reference": (self._target(""), "reference")}


class TestBillConformance(DestinationConformance):
    @pytest.fixture
    def loket_destination_harness(self):
        return BillHarness()


class Greedy:
    """``bill``, except that it allocates the whole amount paid to the first bill."""

    LOKET_CONTRACT = "1.3"

    @hookimpl(tryfirst=True)
    def loket_destination_apply(self, processor, ledger, resolved, amount):
        if processor != "bill":
            return None
        return [type(a)(a.receivable_id, amount) for a in allocate_in_order(resolved, amount)]


def test_the_kit_catches_allocation_beyond_what_is_owed(loket_destination_harness_greedy):
    kit = TestBillConformance().loket_destination_kit.__wrapped__(
        TestBillConformance(), loket_destination_harness_greedy)
    with pytest.raises(pytest.fail.Exception, match="exceeds what receivable 1 still owes"):
        TestBillConformance().test_apply_allocates_within_what_is_owed(kit, "more")


@pytest.fixture
def loket_destination_harness_greedy():
    harness = BillHarness()
    harness.extra_plugins = (Greedy(),)
    return harness


class HeldAndOpen:
    """``bill``, except that its answer is also held for a form not yet sent."""

    LOKET_CONTRACT = "1.3"

    @hookimpl(tryfirst=True)
    def loket_destination_validate(self, processor, ledger, target):
        if processor != "bill":
            return None
        found = ledger.find("bill", target.params.get("reference", ""))
        return ResolvedTarget(target, target.account_number, (found[0],),
                              hold_key="bill:reference=later",
                              declared_amount=found[0].outstanding)


def test_the_kit_catches_a_target_both_held_and_open(loket_destination_harness_held):
    kit = TestBillConformance().loket_destination_kit.__wrapped__(
        TestBillConformance(), loket_destination_harness_held)
    with pytest.raises(pytest.fail.Exception, match="held .* or open obligations, never both"):
        TestBillConformance().test_validate_resolves_the_good_target(kit)


@pytest.fixture
def loket_destination_harness_held():
    harness = BillHarness()
    harness.extra_plugins = (HeldAndOpen(),)
    return harness
