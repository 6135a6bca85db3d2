"""Settings read from ``LOKET_*`` variables."""

from __future__ import annotations

from loket.core.config import AppConfig
from loket.core.secrets import SecretBox

KEY = SecretBox.generate_key()


def test_host_webhooks_reach_only_public_https_unless_the_operator_allows_its_network():
    assert AppConfig.from_env({"LOKET_SECRET_KEY": KEY}).host_webhooks_allow_private is False
    for value, allowed in (("1", True), ("true", True), ("yes", True), ("0", False)):
        config = AppConfig.from_env({"LOKET_SECRET_KEY": KEY,
                                     "LOKET_HOST_WEBHOOKS_ALLOW_PRIVATE": value})
        assert config.host_webhooks_allow_private is allowed, value


def test_the_smtp_ca_file_is_read():
    assert AppConfig.from_env({"LOKET_SECRET_KEY": KEY}).smtp_ca_file is None
    config = AppConfig.from_env({"LOKET_SECRET_KEY": KEY,
                                 "LOKET_SMTP_CA_FILE": "/etc/loket/smtp-ca.pem"})
    assert config.smtp_ca_file == "/etc/loket/smtp-ca.pem"
