"""Resolving a to-do at the console keeps to the API's limit on the resolution (2000
characters): a longer one is named on the page and the to-do stays open."""

from __future__ import annotations

from support.console import Person
from support.forms import field_message

from loket.core import todos


def test_a_resolution_past_the_apis_limit_is_named_and_the_todo_stays_open(api, ctx):
    with ctx.transaction() as session:
        todos.raise_todo(session, api.tenant_id, "settlement.mismatch",
                         "Settlement differs", "the bank paid 1.00 less", "payment", "PAY-9")
    manager = Person(client=api.client)
    manager.follow(manager.sign_in(api.keys["billing_manager"]))
    manager.get("/console/todos")
    todo_id = api.get("/v1/todos").json["items"][0]["id"]
    refused = manager.post(f"/console/todos/{todo_id}/resolve", {"resolution": "r" * 2001})
    assert refused.status_code == 422
    assert field_message(refused.text, f"res-{todo_id}") == "Too long: at most 2000 characters."
    assert f'value="{"r" * 2001}"' in refused.text  # what was typed is kept
    assert api.get("/v1/todos").json["items"][0]["status"] == "open"
