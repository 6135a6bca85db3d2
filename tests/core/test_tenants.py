"""Tenants and their consumers: a tenant's slug fits in a URL; a consumer found by account
number is remembered for the rest of the transaction, never past a change that would make it
wrong."""

import pytest
from sqlalchemy import delete
from support.db import statements_sent
from support.engine import ACTOR, seed

from loket.core.host.receivables import upsert_consumer
from loket.core.models import Consumer
from loket.core.tenants import consumer_by_account, create_tenant, tenant_by_slug
from loket.errors import NotFound, ValidationFailed


@pytest.mark.parametrize("slug", ["", "gas/water", "gas water?", "x" * 65, "Water", "-water",
                                  "water_co", "water.co", "air\n"])
def test_a_slug_that_cannot_be_a_url_segment_is_refused(ctx, slug):
    with ctx.transaction() as session, pytest.raises(ValidationFailed) as refused:
        create_tenant(session, ACTOR, slug, "Water Co")
    assert refused.value.errors[0]["field"] == "slug"


@pytest.mark.parametrize("slug", ["w", "water", "pdam-kota-2", "9", "x" * 64])
def test_a_slug_of_lowercase_letters_digits_and_hyphens_is_taken(ctx, slug):
    with ctx.transaction() as session:
        create_tenant(session, ACTOR, slug, "Water Co")
    with ctx.transaction() as session:
        assert tenant_by_slug(session, slug).name == "Water Co"


def test_the_same_consumer_twice_in_a_transaction_costs_one_statement(ctx, tenant_id):
    sent = statements_sent(ctx.engine)
    with ctx.transaction() as session:
        first = consumer_by_account(session, tenant_id, "WU-10001")
        assert consumer_by_account(session, tenant_id, "WU-10001") is first
        other = consumer_by_account(session, tenant_id, "CRN29391")
        assert other.account_number == "CRN29391"
        assert consumer_by_account(session, tenant_id, "WU-10001") is first
    assert len([s for s in sent if "FROM consumers" in s]) == 3


def test_a_consumer_deleted_in_the_transaction_is_not_found_again(ctx, tenant_id):
    with ctx.transaction() as session:
        upsert_consumer(session, ACTOR, tenant_id, {"account_number": "GONE-1", "name": "Gone"})
        consumer = consumer_by_account(session, tenant_id, "GONE-1")
        session.execute(delete(Consumer).where(Consumer.id == consumer.id))
        session.expire_all()
        with pytest.raises(NotFound):
            consumer_by_account(session, tenant_id, "GONE-1")
        upsert_consumer(session, ACTOR, tenant_id, {"account_number": "GONE-2", "name": "Gone"})
        consumer = consumer_by_account(session, tenant_id, "GONE-2")
        session.delete(consumer)
        with pytest.raises(NotFound):  # deleted, not yet flushed: looked up again, not found
            consumer_by_account(session, tenant_id, "GONE-2")


def test_another_tenants_account_is_never_answered_from_memory(ctx, tenant_id):
    other = seed(ctx, slug="t2")
    with ctx.transaction() as session:
        mine = consumer_by_account(session, tenant_id, "WU-10001")
        theirs = consumer_by_account(session, other, "WU-10001")
        assert theirs.tenant_id == other and theirs.id != mine.id
