"""An API whose messages really leave: e-mail to the local SMTP server, SMS to the Twilio
emulator, on a clock the test moves."""

from __future__ import annotations

import attrs
import pytest
from loket_twilio.emulator import TwilioEmulator

from support.api import make_api
from support.jobs import Clock, with_smtp


@pytest.fixture
def twilio():
    """A fresh Twilio emulator on a loopback port."""
    with TwilioEmulator() as emulator:
        yield emulator


def messaging_api(ctx, tenant_id: int, smtp, twilio):
    """The tenant's API with SMS sent to ``twilio`` and e-mail to ``smtp`` (emptied), the
    container's clock replaced by a :class:`~support.jobs.Clock`."""
    ctx.config = attrs.evolve(ctx.config, channel_options={"sms": twilio.options()})
    with_smtp(ctx, smtp)
    smtp.clear()
    ctx.clock = Clock()
    return make_api(ctx, tenant_id)
