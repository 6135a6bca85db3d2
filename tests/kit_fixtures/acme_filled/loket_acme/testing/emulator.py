"""Acme's emulator: the FakePay emulator of the kit's fixtures (on PYTHONPATH)."""

from kitfake_emulator import API_KEY, WEBHOOK_SECRET, FakeGateway

__all__ = ["API_KEY", "WEBHOOK_SECRET", "AcmeEmulator"]


class AcmeEmulator(FakeGateway):
    """FakeGateway already has pay/decline/abandon/refund_webhook returning signed webhooks
    (it starts serving when created)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def charged_amount(self, reference: str) -> str:
        return str(self.checkouts[reference]["amount"])
