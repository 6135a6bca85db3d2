"""Gateway secrets are encrypted at rest, masked in output, and keys rotate."""

import pytest
from sqlalchemy import text
from support.engine import ACTOR

from loket.core.config import AppConfig
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.secrets import SecretBox, mask
from loket.errors import ConfigurationError

SECRET = "sbx_PlainTextSecretValue99"


def _configure(ctx, tenant_id):
    with ctx.transaction() as session:
        configs.set_active(ctx, session, ACTOR, tenant_id, "sandbox", True)
        return configs.save_credentials(ctx, session, ACTOR, tenant_id, "sandbox",
                                         {"merchant_name": "Water Co", "secret": SECRET})


def test_raw_database_rows_hold_no_plaintext_secret(ctx, tenant_id):
    row = _configure(ctx, tenant_id)
    assert row.credentials_masked == {"merchant_name": "Water Co", "secret": "…e99"}
    with ctx.engine.connect() as connection:
        for table in ("gateway_configurations", "audit_log"):
            dump = " ".join(str(r) for r in connection.execute(text(f"SELECT * FROM {table}")))
            assert SECRET not in dump and "PlainTextSecret" not in dump
    with ctx.transaction() as session:
        config = configs.config_value(ctx, session, configs.get_row(session, tenant_id,
                                                                         "sandbox"))
    assert config.credentials["secret"] == SECRET


def test_rotation_keeps_old_rows_readable_and_reencrypts(ctx, tenant_id):
    row = _configure(ctx, tenant_id)
    new_key = SecretBox.generate_key()
    rotated = SecretBox((new_key, *ctx.config.secret_keys))
    assert rotated.decrypt(row.credentials_encrypted)["secret"] == SECRET
    token = rotated.rotate(row.credentials_encrypted)
    assert SecretBox((new_key,)).decrypt(token)["secret"] == SECRET
    with pytest.raises(ConfigurationError):
        SecretBox((SecretBox.generate_key(),)).decrypt(token)


def test_new_credentials_are_read_at_once_and_a_caller_cannot_change_the_kept_ones(
        ctx, tenant_id):
    row = _configure(ctx, tenant_id)
    first = ctx.secrets.decrypt_credentials(row.credentials_encrypted)
    first["secret"] = "changed by a caller"
    assert ctx.secrets.decrypt_credentials(row.credentials_encrypted)["secret"] == SECRET
    with ctx.transaction() as session:
        configs.save_credentials(ctx, session, ACTOR, tenant_id, "sandbox", {
            "merchant_name": "Water Co", "secret": "sbx_AnotherSecretValue42"})
    with ctx.transaction() as session:
        config = configs.config_value(ctx, session, configs.get_row(session, tenant_id,
                                                                         "sandbox"))
    assert config.credentials["secret"] == "sbx_AnotherSecretValue42"


def test_a_process_keeps_a_bounded_number_of_credentials_and_no_cookie():
    box = SecretBox((SecretBox.generate_key(),))
    tokens = [box.encrypt({"n": n}) for n in range(SecretBox.DECRYPTED_KEPT + 10)]
    assert [box.decrypt_credentials(token)["n"] for token in tokens] == list(range(len(tokens)))
    assert len(box._decrypted) == SecretBox.DECRYPTED_KEPT
    assert box.decrypt_credentials(tokens[0]) == {"n": 0}  # let go, decrypted again
    cookie = box.encrypt({"t": "a guest's bearer token"})
    assert box.decrypt(cookie) == {"t": "a guest's bearer token"}
    assert cookie not in box._decrypted  # what a request carries is not kept


@pytest.mark.parametrize("keys, message", [
    ((), "LOKET_SECRET_KEY is not set"),
    (("not-a-key",), "key #1 is malformed"),
    ((SecretBox.generate_key(), "short"), "key #2 is malformed"),
])
def test_missing_or_malformed_key_stops_start_up(keys, message):
    with pytest.raises(ConfigurationError, match=message):
        Loket.create(AppConfig(database_url="sqlite://", secret_keys=keys))


def test_from_env_reads_several_keys():
    first, second = SecretBox.generate_key(), SecretBox.generate_key()
    config = AppConfig.from_env({"LOKET_SECRET_KEY": f"{first}, {second}"})
    assert config.secret_keys == (first, second)


@pytest.mark.parametrize("value, shown", [
    ("sk_live_abcdefghijk8sd", "sk_live_…8sd"), ("whsec_123456789", "whsec_…789"),
    ("BRN-0239-1736742088036", "BRN-…036"), ("hunter2hunter2", "…er2"), ("abc", "…"),
])
def test_mask(value, shown):
    assert mask(value) == shown
