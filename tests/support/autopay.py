"""Helpers of the auto-pay tests: a clock the tests move, a fresh auto-pay account created
through the host API, and the payer's browser on a gateway's mandate page."""

from __future__ import annotations

import datetime as dt

import attrs

from loket.core.tenants import TokenSigner


@attrs.define
class Clock:
    """A clock the tests control: loket's container reads it for every "now"."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, days: int = 0, hours: int = 0, minutes: int = 0) -> None:
        """Move time forward."""
        self.now += dt.timedelta(days=days, hours=hours, minutes=minutes)


def control_time(live) -> Clock:
    """Give the running loket a clock the test moves (starting at the real now)."""
    clock = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    live.ctx.clock = clock
    return clock


def consumer_token(live, account: str) -> str:
    """A fresh consumer token for ``account`` at loket's current (test) time."""
    signer = TokenSigner(live.ctx.config.secret_keys[0].encode())
    token = signer.consumer_token(live.tenant_id, account, 3600,
                                  now=int(live.ctx.now().timestamp()))
    live.tokens[account] = token
    return token


def new_account(live, account: str, host_role: str = "tenant_admin") -> None:
    """The host creates a consumer with an e-mail address; the consumer gets a token."""
    made = live.post("/v1/host/consumers", {"account_number": account, "name": f"Payer {account}",
                                            "email": f"{account.lower()}@example.test"},
                     host_role)
    assert made.status_code in (200, 201), made.text
    consumer_token(live, account)


def add_bill(live, account: str, reference: str, amount: str, due_in_days: int,
             host_role: str = "tenant_admin") -> None:
    """The host creates a bill due ``due_in_days`` from loket's current (test) date."""
    due = (live.ctx.now().date() + dt.timedelta(days=due_in_days)).isoformat()
    made = live.post("/v1/host/receivables", {
        "account_number": account, "kind": "bill", "reference": reference, "amount": amount,
        "description": "Water bill", "due_date": due}, host_role)
    assert made.status_code in (200, 201), made.text


def outstanding(live, account: str, reference: str) -> str:
    """What the bill still owes, as the staff API shows it."""
    consumer_token(live, account)
    items = live.get("/v1/me/items?type=bills", as_=account).json()["items"]
    found = [i for i in items if i["reference"] == reference]
    return found[0]["outstanding"]["decimal"] if found else "0.00"
