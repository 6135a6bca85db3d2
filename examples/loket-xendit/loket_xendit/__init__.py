"""Xendit Invoices for loket (a worked example of a token-authenticated gateway)."""
