"""The receiver's check docs/api.md gives hosts accepts what loket sends: one signature or
two (during a secret's rotation), with either live secret, and nothing else."""

from __future__ import annotations

import re
import time

from support import REPO

from loket.core.outbox import signing

BODY = b'{"id":"evt_1","type":"payment.posted"}'


def _documented_verify():
    guide = (REPO / "docs" / "api.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", guide, re.S)
               if "def verify(" in block]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the guide's own example
    return namespace["verify"]


def test_the_documented_verifier_accepts_either_live_secret_and_nothing_else():
    verify = _documented_verify()
    now = int(time.time())
    both = signing.header_value(["whsec_new", "whsec_old"], now, BODY)
    assert verify("whsec_new", both, BODY) and verify("whsec_old", both, BODY)
    assert not verify("whsec_other", both, BODY)
    assert not verify("whsec_new", both, BODY + b" ")
    one = signing.header_value("whsec_new", now, BODY)
    assert verify("whsec_new", one, BODY) and not verify("whsec_old", one, BODY)
    stale = signing.header_value("whsec_new", now - 301, BODY)
    assert not verify("whsec_new", stale, BODY)
