"""Built-in destination processor ``installment``: pay one installment of a payment plan."""

from loket.destinations.common import ReferenceProcessor

plugin = ReferenceProcessor("installment", "Pay an installment", "installment")
