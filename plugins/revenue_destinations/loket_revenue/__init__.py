"""Revenue-agency destination processors for loket (distribution ``loket-revenue``).

Installed with pip, they register through the ``loket`` entry points like every plugin; a
tenant routes destinations to them in its settings, e.g.::

    destinations:
      pay-a-filing-period: {processor: filing_period,
                            fields: {tin: taxpayer_id, tax: tax_type, period: period}}
"""

__version__ = "0.2.0"
