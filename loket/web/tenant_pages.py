"""Pages a person reaches without signing in, under a tenant's address (``/guest/{tenant}``,
``/receipts/{tenant}/…``): the tenant's name and settings when the address names one, the
person's language, and the answer of such a page that refuses."""

from __future__ import annotations

from typing import Any

import attrs
import falcon

from loket.core import tenants
from loket.core.settings import Settings, load_settings
from loket.errors import NotFound
from loket.web import rendering


@attrs.frozen
class TenantLook:
    """What a page under a tenant's address is shown with."""

    name: str | None
    """The tenant's name (``None``: the address names no tenant)."""
    settings: Settings | None
    locale: str
    """The browser's language among the page's, else the tenant's, else the default."""

    @property
    def timezone(self) -> str:
        """The tenant's time zone (UTC without a tenant)."""
        return self.settings["timezone"] if self.settings else "UTC"

    def values(self) -> dict[str, Any]:
        """The template values naming the tenant, if there is one."""
        return {"tenant_name": self.name} if self.name is not None else {}


def tenant_look(ctx: Any, req: falcon.Request, slug: str) -> TenantLook:
    """The look of a page at tenant ``slug``'s address, for the browser that sent ``req``;
    called when such a page answers (a refusal included), in a transaction of its own."""
    name, settings = None, None
    with ctx.transaction() as session:
        try:
            row = tenants.tenant_by_slug(session, slug)
            name, settings = row.name, load_settings(session, row.id)
        except NotFound:
            pass
    locale = rendering.negotiate(req.get_header("Accept-Language"), settings["locale"]
                                 if settings else rendering.DEFAULT_LOCALE)
    return TenantLook(name, settings, locale)


def refuse(resp: falcon.Response, status: int, template: str, look: TenantLook,
           **values: Any) -> None:
    """Answer with ``template`` rendered in ``look`` with ``values``, as status ``status``,
    not cached."""
    resp.status = falcon.code_to_http_status(status)
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Cache-Control", "no-store")
    resp.text = rendering.render(template, look.locale, look.timezone, **values,
                                 **look.values())
