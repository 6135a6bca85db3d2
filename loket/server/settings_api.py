"""``/v1/settings``: the tenant's settings document (tenant admins)."""

from __future__ import annotations

from loket.core import audit
from loket.core.settings import load_settings, save_settings
from loket.server.base import Resource


class TenantSettingsResource(Resource):
    """``GET`` the settings; ``PUT`` a partial document merged over them (validated, each
    error named by its JSON path)."""

    def on_get(self, req, resp):
        """The current settings with defaults filled in."""
        with self.ctx.transaction() as session:
            resp.media = load_settings(session, self.tenant(req)).document

    def on_put(self, req, resp):
        """Merge, validate, store and audit."""
        tenant_id = self.tenant(req)
        with self.ctx.transaction() as session:
            before = load_settings(session, tenant_id).document
            saved = save_settings(session, tenant_id, {**before, **self.body(req)})
            audit.record(session, self.actor(req), "settings.updated", "tenant", tenant_id,
                         before=before, after=saved.document, tenant_id=tenant_id)
            resp.media = saved.document


def add_routes(app, ctx) -> None:
    """Mount the settings endpoint."""
    app.add_route("/v1/settings", TenantSettingsResource(ctx))
