"""The installation id: generated once, kept in the database, handed to gateway hooks."""

from __future__ import annotations

import attrs

from loket.core import audit
from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.installation import installation_id
from loket.demo import SANDBOX_CREDENTIALS


def test_the_installation_id_is_generated_once_and_survives_a_restart(ctx):
    with ctx.transaction() as session:
        first = installation_id(ctx, session)
    restarted = Loket.create(attrs.evolve(ctx.config), plugins=ctx.plugins, engine=ctx.engine)
    with restarted.transaction() as session:
        assert installation_id(restarted, session) == first and len(first) == 32


def test_two_installations_have_different_ids(ctx, tmp_path, plugins, request):
    from support.db import build_ctx
    (tmp_path / "other").mkdir()
    other = build_ctx(tmp_path / "other", plugins, "sqlite", request)
    with other.transaction() as theirs, ctx.transaction() as ours:
        assert installation_id(other, theirs) != installation_id(ctx, ours)


def test_gateway_hooks_receive_the_installation_id(ctx, tenant_id):
    with ctx.transaction() as session:
        configs.set_active(ctx, session, audit.SYSTEM, tenant_id, "sandbox", True)
        row = configs.save_credentials(ctx, session, audit.SYSTEM, tenant_id, "sandbox",
                                       SANDBOX_CREDENTIALS)
        config = configs.config_value(ctx, session, row)
        assert config.installation_id == installation_id(ctx, session)
