"""loket-twilio against the local Twilio emulator (a real HTTP server on loopback)."""

from __future__ import annotations

import pytest
from loket_twilio import plugin
from loket_twilio.api import TwilioRefused
from loket_twilio.emulator import TwilioEmulator

from loket.errors import Undeliverable
from loket.plugins import Plugins
from loket.types import Notification

MESSAGE = Notification(tenant_id=1, kind="payment_link.sent", subject="Pay",
                       body="Hello John, pay here: http://loket/pay/x")


@pytest.fixture
def twilio():
    with TwilioEmulator() as emulator:
        yield emulator


def test_the_plugin_is_installed_with_its_two_channels():
    plugins = Plugins()
    assert {"sms", "whatsapp"} <= plugins.channels
    assert "twilio" in {i.name for i in plugins.infos()}


def test_sms_goes_to_the_number_from_the_configured_sender(twilio):
    sid = Plugins().channel_send("sms", "+6281234567890", MESSAGE,
                                 {"sms": twilio.options("+15005550006")})
    (sent,) = twilio.messages
    assert sid == sent["sid"] and sid.startswith("SM")
    assert (sent["to"], sent["from"], sent["body"]) == ("+6281234567890", "+15005550006",
                                                        MESSAGE.body)


def test_whatsapp_addresses_carry_the_whatsapp_prefix(twilio):
    plugin.loket_channel_send("whatsapp", "+6281234567890", MESSAGE,
                              {"whatsapp": twilio.options("+14155238886")})
    (sent,) = twilio.messages
    assert (sent["to"], sent["from"]) == ("whatsapp:+6281234567890", "whatsapp:+14155238886")


def test_status_callback_is_passed_on(twilio):
    options = {**twilio.options(), "status_callback": "https://loket.example/twilio/status"}
    plugin.loket_channel_send("sms", "+6281234567890", MESSAGE, {"sms": options})
    assert twilio.messages[0]["status_callback"] == "https://loket.example/twilio/status"


def test_wrong_credentials_are_refused_with_twilios_code(twilio):
    options = {**twilio.options(), "auth_token": "wrong"}
    with pytest.raises(TwilioRefused) as refused:
        plugin.loket_channel_send("sms", "+6281234567890", MESSAGE, {"sms": options})
    assert (refused.value.status, refused.value.code) == (401, 20003)
    assert twilio.messages == []


def test_an_invalid_number_is_refused_for_good(twilio):
    with pytest.raises(Undeliverable) as refused:
        plugin.loket_channel_send("sms", "0812", MESSAGE, {"sms": twilio.options()})
    assert isinstance(refused.value.__cause__, TwilioRefused)
    assert refused.value.__cause__.code == 21211 and "21211" in refused.value.detail


def test_twilio_being_down_is_refused_for_now(twilio):
    twilio.fail_next = 1
    with pytest.raises(TwilioRefused) as refused:
        plugin.loket_channel_send("sms", "+6281234567890", MESSAGE, {"sms": twilio.options()})
    assert refused.value.status == 503


def test_other_channels_are_not_this_plugins():
    assert plugin.loket_channel_send("email", "a@example.com", MESSAGE, {}) is None
