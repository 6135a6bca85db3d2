"""Built-in destination processor ``service``: pay an unpaid service charge."""

from loket.destinations.common import ReferenceProcessor

plugin = ReferenceProcessor("service", "Pay a service charge", "service charge")
