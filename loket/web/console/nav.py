"""The console's screens: each is shown to the roles that may call the API operation it is
built on (:mod:`loket.server.roles` decides; nothing here lists roles). Screens of other
areas add a :class:`Screen` to :data:`SCREENS` and the navigation follows."""

from __future__ import annotations

import attrs

from loket.server import roles


def N_(message: str) -> str:
    """Mark ``message`` for the catalog; it is translated where it is shown."""
    return message


@attrs.frozen
class Screen:
    """One entry of the navigation.

    :param path: the console URL.
    :param label: the English label (a catalog message id).
    :param operation: the API operation ``(METHOD, template)`` the screen is built on.
    """

    path: str
    label: str
    operation: tuple[str, str]


SCREENS: list[Screen] = [
    Screen("/console/dashboard", N_("Dashboard"), ("GET", "/v1/kpis")),
    Screen("/console/payments", N_("Payments"), ("GET", "/v1/payments")),
    Screen("/console/payments/new", N_("Record payment"), ("POST", "/v1/payments/counter")),
    Screen("/console/credit-notes", N_("Credit notes"), ("GET", "/v1/credit-notes")),
    Screen("/console/disputes", N_("Disputes"), ("GET", "/v1/disputes")),
    Screen("/console/plans", N_("Payment plans"), ("GET", "/v1/payment-plans")),
    Screen("/console/approvals", N_("Approvals"), ("GET", "/v1/approvals")),
    Screen("/console/payment-links", N_("Payment links"), ("GET", "/v1/payment-links")),
    Screen("/console/reconciliation", N_("Reconciliation"), ("GET", "/v1/reconciliation")),
    Screen("/console/autopay", N_("Auto-pay"), ("GET", "/v1/consumers/{account}/mandates")),
    Screen("/console/todos", N_("To-dos"), ("GET", "/v1/todos")),
    Screen("/console/gateways", N_("Gateways"), ("GET", "/v1/gateways")),
    Screen("/console/settings", N_("Settings"), ("GET", "/v1/settings")),
    Screen("/console/bills", N_("My bills"), ("GET", "/v1/me/items")),
    Screen("/console/my-payments", N_("My payments"), ("GET", "/v1/me/payments")),
    Screen("/console/my-autopay", N_("My auto-pay"), ("GET", "/v1/me/mandates")),
]


def visible_screens(role: str) -> list[Screen]:
    """The screens ``role`` may open, in navigation order."""
    return [s for s in SCREENS if role in roles.allowed(*s.operation)]


def home(role: str) -> str:
    """Where ``role`` lands after signing in: its first screen."""
    screens = visible_screens(role)
    return screens[0].path if screens else "/console/sign-in"
