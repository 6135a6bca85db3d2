"""My auto-pay names the gateways a payment method can be saved at by their names, not the
kinds loket stores."""

from __future__ import annotations

import re

from support.console import Person


def test_the_gateways_are_offered_by_their_display_names(connected_api):
    api = connected_api
    consumer = Person(client=api.client)
    consumer.follow(consumer.sign_in(api.consumer_token))
    page = consumer.get("/console/my-autopay")
    assert page.status_code == 200
    offered = re.findall(r'<option value="([^"]+)">([^<]+)</option>',
                         page.text[page.text.index('id="gateway"'):])
    assert ("sandbox", api.ctx.plugins.gateways["sandbox"].display_name) in offered
    assert api.ctx.plugins.gateways["sandbox"].display_name != "sandbox"
