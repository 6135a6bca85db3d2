"""Messages go out through the plugin that declared their channel, and each channel plugin
gets only its own channels' options: an SMS goes to Twilio (the emulator) even when another
channel plugin is asked first and would answer anything, and that plugin never sees the
Twilio credentials."""

from __future__ import annotations

import attrs
import pytest
from support.engine import ACTOR
from support.messaging import twilio  # noqa: F401 - a fixture

from loket import hookimpl
from loket.core.links import links
from loket.core.outbox import delivery
from loket.plugins import Plugins

PAGER_OPTIONS = {"token": "pager-token"}


class Pager:
    """A third-party channel plugin (``pager``) that answers for any channel it is asked
    about, asked before the others, and records what it was given."""

    LOKET_CONTRACT = "1.3"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def loket_channel_describe(self):
        return ("pager",)

    @hookimpl(tryfirst=True)
    def loket_channel_send(self, channel, recipient, message, options):
        self.calls.append((channel, dict(options)))
        return f"pager:{len(self.calls)}"


@pytest.fixture
def pager():
    """The recording pager plugin."""
    return Pager()


@pytest.fixture
def plugins(pager):
    """Every installed plugin (loket-twilio among them) and the pager."""
    return Plugins(extra=(pager,))


def test_each_channel_is_sent_by_its_own_plugin_with_its_own_options_only(
        ctx, tenant_id, pager, twilio):  # noqa: F811
    sms = twilio.options()
    ctx.config = attrs.evolve(ctx.config, channel_options={
        "sms": sms, "whatsapp": twilio.options("+14155238886"), "pager": PAGER_OPTIONS})
    with ctx.transaction() as session:
        links.create_link(ctx, session, ACTOR, tenant_id, links.LinkRequest(
            account_number="WU-10001", channels=("sms", "pager")))
    assert delivery.deliver_due(ctx) == {}  # both went out right after the commit

    (text,) = twilio.messages
    assert text["to"] == "+15550100" and text["sid"].startswith("SM")
    assert pager.calls == [("pager", {"pager": PAGER_OPTIONS,
                                      "var_dir": str(ctx.config.var_dir)})]
    assert sms["auth_token"] not in repr(pager.calls)
