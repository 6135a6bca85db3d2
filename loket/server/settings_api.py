"""``/v1/settings``: the tenant's settings document (tenant admins)."""

from __future__ import annotations

from loket.core.settings import load_settings, update_settings
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
            saved = update_settings(session, self.actor(req), tenant_id, self.body(req),
                                    processors=self.ctx.plugins.destinations)
            resp.media = saved.document


def add_routes(app, ctx) -> None:
    """Mount the settings endpoint."""
    app.add_route("/v1/settings", TenantSettingsResource(ctx))
