"""Destinations (the OPC web services) and host data upserts.

A consumer token may use the destination services for its own account only; staff name
the account in the request.
"""

from __future__ import annotations

from loket.core import tenants
from loket.core.host import receivables
from loket.core.host.obligations import Ledger
from loket.core.payments import agreements, holds
from loket.core.payments.payers import Payer
from loket.core.payments.posting import resolve_targets
from loket.core.settings import load_settings
from loket.errors import NotFound, ValidationFailed
from loket.server import idempotent
from loket.server import serialize as s
from loket.server.base import Resource, created
from loket.server.consumer_api import keep_answer, start_destination


def obligation(o) -> dict:
    """An obligation as the destination services show it."""
    return {"kind": o.kind, "reference": o.reference, "description": o.description,
            "period": o.period, "due_date": s.when(o.due_date),
            "amount_due": o.amount_due.to_json(), "outstanding": o.outstanding.to_json(),
            "plan_reference": o.plan_reference}


def total_of(resolved) -> int:
    """What a resolved target costs: its obligations' outstanding amounts, or for a target
    that does not exist yet (held until the host sends it) the amount the payer declared."""
    if not resolved.obligations and resolved.declared_amount is not None:
        return resolved.declared_amount.amount
    return sum(o.outstanding.amount for o in resolved.obligations)


class DestinationResource(Resource):
    """Base: the routing table entry and the account the caller may act for."""

    def route(self, session, req, name: str) -> tuple:
        """``(settings, route)`` of destination ``name`` or 404."""
        settings = load_settings(session, self.tenant(req))
        if name not in settings["destinations"]:
            raise NotFound(f"no destination {name!r}")
        return settings, settings["destinations"][name]

    def account(self, req, given: str | None) -> str:
        """The account to act for: a consumer's own, or the one staff named."""
        own = self.principal(req).account_number
        if own is not None:
            if given not in (None, own):
                raise NotFound(f"no consumer with account number {given!r}")
            return own
        if not given:
            raise ValidationFailed("account_number is required", field="account_number")
        return given

    def resolve(self, session, req, name: str):
        """Validate the request's target through the routing table and the processor."""
        settings, _ = self.route(session, req, name)
        body = self.body(req)
        account = self.account(req, body.get("account_number"))
        return settings, resolve_targets(self.ctx, session, settings, self.tenant(req),
                                         account, name, body.get("fields", {}))


class Destinations(DestinationResource):
    """``GET /v1/destinations``: the tenant's routing table with each processor's schema."""

    def on_get(self, req, resp):
        """List destinations."""
        with self.ctx.transaction() as session:
            settings = load_settings(session, self.tenant(req))
            items = []
            for name, route in sorted(settings["destinations"].items()):
                d = self.ctx.plugins.destinations.get(route["processor"])
                items.append({"name": name, "processor": route["processor"],
                              "title": d.title if d else None,
                              "fields": sorted(route.get("fields", {})),
                              "available": d is not None,
                              "target_schema": d.target_schema if d else None})
        resp.media = {"items": items, "total": len(items)}


class Due(DestinationResource):
    """``GET /v1/destinations/{name}/due?account_number=``: what the account owes there."""

    def on_get(self, req, resp, name):
        """OPC "retrieve payments due"."""
        with self.ctx.transaction() as session:
            settings, route = self.route(session, req, name)
            account = self.account(req, self.query(req).get("account_number"))
            processor = route["processor"]
            self.ctx.plugins.require_processor(processor)
            due = self.ctx.plugins.retrieve_due(processor, Ledger(session, self.tenant(req)),
                                                account)
            total = sum(o.outstanding.amount for o in due)
            resp.media = {"destination": name, "account_number": account,
                          "items": [obligation(o) for o in due],
                          "total": s.money(total, settings.currency)}


class Validate(DestinationResource):
    """``POST /v1/destinations/{name}/validate``: validate only (OPC VALIDATEONLY)."""

    def on_post(self, req, resp, name):
        """Resolve the target; a wrong one is a 422 naming the field."""
        with self.ctx.transaction() as session:
            settings, resolved = self.resolve(session, req, name)
            resp.media = {"valid": True, "destination": name,
                          "account_number": resolved.account_number,
                          "items": [obligation(o) for o in resolved.obligations],
                          "total": s.money(total_of(resolved), settings.currency),
                          "held": resolved.hold_key is not None}


class Prepare(DestinationResource):
    """``POST /v1/destinations/{name}/prepare``: the fee and extra data (OPC PREPARE)."""

    def on_post(self, req, resp, name):
        """Validate, then ask the processor for the fee and the gateway's extra data."""
        method = self.body(req).get("method", "card")
        with self.ctx.transaction() as session:
            settings, resolved = self.resolve(session, req, name)
            consumer = tenants.consumer_by_account(session, self.tenant(req),
                                                       resolved.account_number)
            processor = settings.route(name)["processor"]
            prepared = self.ctx.plugins.prepare(processor, resolved, method,
                                                consumer.person_type,
                                                settings.fee_rule(name, method))
            total = total_of(resolved)
            fee = prepared.fee.amount.amount if prepared.fee.passed_on else 0
            resp.media = {"destination": name, "method": method,
                          "items": [obligation(o) for o in resolved.obligations],
                          "total": s.money(total, settings.currency),
                          "fee": prepared.fee.amount.to_json(),
                          "fee_passed_on": prepared.fee.passed_on,
                          "fee_description": prepared.fee.description,
                          "amount_to_charge": s.money(total + fee, settings.currency),
                          "extra": dict(prepared.extra)}


class DestinationPayments(DestinationResource):
    """``POST /v1/destinations/{name}/payments``: pay a destination online through a
    gateway; answers the redirect URL."""

    claims_in_transaction = True

    def on_post(self, req, resp, name):
        """Validate the target, then start a checkout for its obligations."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            if idempotent.replayed(session, req, resp):
                return
            _, resolved = self.resolve(session, req, name)
            media, failure = start_destination(self.ctx, req, session, resolved,
                                               body["gateway"], body.get("method", "card"),
                                               Payer.from_json(body.get("payer")),
                                               amount=body.get("amount"))
            keep_answer(session, req, media, failure)
        if failure is not None:
            raise failure
        created(resp, media)


class HostUpsert(Resource):
    """``POST /v1/host/{consumers|receivables}[/bulk]``: create or update host data, one or
    many (all or none: a bad item fails the whole batch, naming ``items[i].field``)."""

    def __init__(self, ctx, what: str, bulk: bool):
        super().__init__(ctx)
        self.what = what
        self.bulk = bulk

    def _one(self, session, req, data: dict) -> dict:
        if self.what == "consumers":
            return s.consumer(receivables.upsert_consumer(session, self.actor(req),
                                                          self.tenant(req), data))
        if self.what == "agreements":
            try:
                consumer = tenants.consumer_by_account(session, self.tenant(req),
                                                       data["account_number"])
            except NotFound:
                raise ValidationFailed(f"unknown account {data['account_number']!r}",
                                       field="account_number") from None
            agreement = agreements.upsert_agreement(session, self.actor(req), self.tenant(req),
                                                    consumer, data)
            return {"account_number": consumer.account_number,
                    "reference": agreement.reference, "status": agreement.status,
                    "reason": agreement.reason}
        row = receivables.upsert_receivable(session, self.actor(req), self.tenant(req), data,
                                            self.ctx.plugins.attribute_schemas())
        applied = holds.release_matching(self.ctx, session, row)
        return {"account_number": data["account_number"], **s.item(row),
                "attributes": receivables.attributes_of(session, row.id),
                "held_payments_applied": applied}

    def on_post(self, req, resp):
        """Upsert the item(s)."""
        body = self.body(req)
        with self.ctx.transaction() as session:
            if not self.bulk:
                resp.media = self._one(session, req, body)
                return
            out = []
            for index, data in enumerate(body["items"]):
                try:
                    out.append(self._one(session, req, data))
                except ValidationFailed as exc:
                    raise ValidationFailed(f"items[{index}]: {exc.detail}", errors=[
                        {"field": f"items[{index}].{e['field']}", "message": e["message"]}
                        for e in exc.errors]) from None
            resp.media = {"upserted": len(out), "items": out}


def add_routes(app, ctx) -> None:
    """Mount the destination services and host data endpoints."""
    app.add_route("/v1/destinations", Destinations(ctx))
    app.add_route("/v1/destinations/{name}/due", Due(ctx))
    app.add_route("/v1/destinations/{name}/validate", Validate(ctx))
    app.add_route("/v1/destinations/{name}/prepare", Prepare(ctx))
    app.add_route("/v1/destinations/{name}/payments", DestinationPayments(ctx))
    app.add_route("/v1/host/consumers", HostUpsert(ctx, "consumers", False))
    app.add_route("/v1/host/consumers/bulk", HostUpsert(ctx, "consumers", True))
    app.add_route("/v1/host/receivables", HostUpsert(ctx, "receivables", False))
    app.add_route("/v1/host/receivables/bulk", HostUpsert(ctx, "receivables", True))
    app.add_route("/v1/host/agreements", HostUpsert(ctx, "agreements", False))
