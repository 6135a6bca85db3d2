"""The Xendit emulator (``python -m loket_xendit.testing`` runs it alone)."""

from loket_xendit.testing.emulator import CALLBACK_TOKEN, SECRET_KEY, XenditEmulator

__all__ = ["CALLBACK_TOKEN", "SECRET_KEY", "XenditEmulator"]
