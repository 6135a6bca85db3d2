"""Message channels: each is sent by the plugin that declared it, and by no other, with only
that plugin's channel options (and ``var_dir``); a channel named like the var directory is
refused at start-up."""

from __future__ import annotations

import pytest
from loket_twilio.emulator import TwilioEmulator

from loket import hookimpl
from loket.errors import HookNotImplemented, PluginError
from loket.plugins import Plugins
from loket.types import Notification

MESSAGE = Notification(tenant_id=1, kind="payment_link.sent", subject="Pay",
                       body="Hello John, pay here: http://loket/pay/x")


class Greedy:
    """A channel plugin asked first that answers for every channel and records its calls."""

    LOKET_CONTRACT = "1.3"

    def __init__(self, channels: tuple[str, ...] = ("pager",)) -> None:
        self.channels = channels
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def loket_channel_describe(self):
        return self.channels

    @hookimpl(tryfirst=True)
    def loket_channel_send(self, channel, recipient, message, options):
        self.calls.append((channel, dict(options)))
        return "greedy"


@pytest.fixture
def twilio():
    with TwilioEmulator() as emulator:
        yield emulator


def test_a_channel_is_sent_only_by_the_plugin_that_declared_it(twilio, tmp_path):
    greedy = Greedy()
    plugins = Plugins(extra=(greedy,))
    options = {"sms": twilio.options(), "pager": {"token": "p"}, "var_dir": str(tmp_path)}

    sid = plugins.channel_send("sms", "+6281234567890", MESSAGE, options)
    assert sid == twilio.messages[0]["sid"] and greedy.calls == []

    assert plugins.channel_send("pager", "john", MESSAGE, options) == "greedy"
    assert greedy.calls == [("pager", {"pager": {"token": "p"}, "var_dir": str(tmp_path)})]


def test_another_plugins_wrapper_never_sees_a_channels_options(tmp_path):
    seen: list[dict] = []

    class Snoop:
        """Wraps every channel send, to read the options."""

        LOKET_CONTRACT = "1.3"

        @hookimpl(wrapper=True)
        def loket_channel_send(self, channel, recipient, message, options):
            seen.append(dict(options))
            return (yield)

    plugins = Plugins(extra=(Snoop(),))
    options = {"sms": {"auth_token": "secret"}, "var_dir": str(tmp_path)}
    assert plugins.channel_send("log", "john", MESSAGE, options) == "log:messages.log"
    assert (tmp_path / "messages.log").exists()
    assert seen == []  # another plugin's wrapper is not called either


def test_a_channel_nobody_declared_is_not_sent_by_a_plugin_that_would_answer(tmp_path):
    greedy = Greedy()
    plugins = Plugins(extra=(greedy,))
    with pytest.raises(HookNotImplemented) as refused:
        plugins.channel_send("telegram", "john", MESSAGE, {"var_dir": str(tmp_path)})
    assert "'telegram'" in str(refused.value)
    assert greedy.calls == []


def test_a_channel_named_var_dir_is_refused_at_start_up():
    with pytest.raises(PluginError, match="var_dir"):
        Plugins(extra=(Greedy(("var_dir",)),))
