"""Saving a gateway's credentials: they replace stored ones that no configured key decrypts
any more (a lost key), so entering them again is the way back."""

from __future__ import annotations

from support.engine import ADMIN, CREDENTIALS, connect_sandbox

from loket.core.gateway_configs import configs
from loket.core.secrets import SecretBox


def test_credentials_saved_with_a_lost_key_are_replaced_by_entering_them_again(
        ctx, tenant_id):
    connect_sandbox(ctx, tenant_id)
    with ctx.transaction() as session:  # saved with a key that is no longer configured
        row = configs.get_row(session, tenant_id, "sandbox")
        row.credentials_encrypted = SecretBox((SecretBox.generate_key(),)).encrypt(CREDENTIALS)
    with ctx.transaction() as session:
        configs.save_credentials(ctx, session, ADMIN, tenant_id, "sandbox", CREDENTIALS)
    with ctx.transaction() as session:
        row = configs.get_row(session, tenant_id, "sandbox")
        assert ctx.secrets.decrypt(row.credentials_encrypted) == CREDENTIALS
        assert (row.connected, row.test_payment_id) == (False, None)  # tested again
