"""loket-stripe: the Stripe gateway plugin for loket (Checkout Sessions, webhooks, payouts).

The plugin module registered in the ``loket`` entry-point group is :mod:`loket_stripe.plugin`.
"""

__version__ = "0.1.0"

LOKET_CONTRACT = "1.3"
