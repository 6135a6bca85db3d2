"""Built-in destination processor ``bill``: pay a bill by its invoice number."""

from loket.destinations.common import ReferenceProcessor

plugin = ReferenceProcessor("bill", "Pay a bill", "bill")
