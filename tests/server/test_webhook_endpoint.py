"""``POST /v1/webhooks/{gateway}/{token}`` with ``LOKET_WEBHOOK_APPLY=deferred``: answered once
the events are stored, the worker asked to apply them; without a queue, applied before the
answer whatever the setting."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
import pytest
from support.api import api, connected_api  # noqa: F401 - fixtures

from loket.core.config import AppConfig
from loket.core.secrets import SecretBox
from loket.core.webhooks import inbox
from loket.errors import ConfigurationError
from loket.gateways import sandbox_page


def _pay(api) -> tuple[str, object]:
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    reference = started.json["redirect_url"].rstrip("/").rsplit("/", 1)[-1]
    webhook, _ = sandbox_page.payer_acts(api.sandbox_db(), reference, "pay")
    return started.json["payment"]["number"], webhook


def _status(api, number: str) -> str:
    return api.get(f"/v1/payments/{number}").json["information"]["status"]


def test_a_deferred_webhook_is_acknowledged_stored_and_applied_by_the_worker(connected_api):
    api = connected_api
    api.ctx.config = attrs.evolve(api.ctx.config, webhook_apply="deferred")
    kicks: list[int] = []
    api.ctx.event_kick = lambda: kicks.append(1)
    number, webhook = _pay(api)
    answer = api.deliver(webhook)
    assert answer.status_code == 200 and answer.json["new"] == 1
    assert kicks == [1] and _status(api, number) == "initiated"
    again = api.client.simulate_post(urlsplit(webhook.url).path, body=webhook.body,
                                     headers=webhook.headers)
    assert again.json["duplicates"] == 1 and kicks == [1]  # nothing new: no task
    assert inbox.apply_due_batch(api.ctx) == {"processed": 1}
    assert _status(api, number) == "succeeded"


def test_without_a_queue_a_deferred_setting_still_applies_before_answering(connected_api):
    api = connected_api
    api.ctx.config = attrs.evolve(api.ctx.config, webhook_apply="deferred")
    api.ctx.event_kick = None
    number, webhook = _pay(api)
    assert api.deliver(webhook).status_code == 200
    assert _status(api, number) == "succeeded"


def test_the_setting_is_read_from_the_environment_and_checked():
    env = {"LOKET_SECRET_KEY": SecretBox.generate_key()}
    assert AppConfig.from_env(env).webhook_apply == "inline"
    assert AppConfig.from_env({**env, "LOKET_WEBHOOK_APPLY": "deferred"}).webhook_apply == \
        "deferred"
    with pytest.raises(ConfigurationError, match="LOKET_WEBHOOK_APPLY is inline or deferred"):
        AppConfig.from_env({**env, "LOKET_WEBHOOK_APPLY": "later"})
