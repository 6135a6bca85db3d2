"""My auto-pay names the gateways a payment method can be saved at by their names, not the
kinds loket stores; its most per charge is read and shown as the console writes amounts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from support.console import Person, text_of
from support.forms import banner


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


def test_the_most_per_charge_is_read_and_shown_as_the_console_writes_it(live):
    api, _base = live  # over real HTTP: the sandbox's mandate page calls loket back
    api.connect_sandbox()
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    consumer = Person(client=api.client)
    consumer.follow(consumer.sign_in(api.consumer_token))
    consumer.get("/console/my-autopay")
    setup = consumer.post("/console/my-autopay", {"action": "setup", "gateway": "sandbox"})
    back = api.client.simulate_post(urlsplit(setup.headers["location"]).path, body="card=ok",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    returned = urlsplit(back.headers["location"])
    api.client.simulate_get(returned.path, query_string=returned.query)
    (mandate,) = api.get("/v1/me/mandates", role="consumer").json["items"]
    page = consumer.get("/console/my-autopay")
    assert 'placeholder="mis. 1.500,00"' in page.text
    elect = [("action", "elect"), ("mandate", mandate["id"]), ("item_kinds", "bill"),
             ("active", "1")]
    refused = consumer.post("/console/my-autopay", [*elect, ("max_amount", "1,500.00")])
    assert refused.status_code == 422
    assert banner(refused.text) == ("Paling banyak per penagihan: ini bukan jumlah uang. "
                                    "Tulis seperti 1.500,00 atau 1500.")
    consumer.follow(consumer.post("/console/my-autopay", [*elect, ("max_amount", "1.500,00")]))
    election = api.get("/v1/me/autopay", role="consumer").json
    assert election["max_amount"]["amount"] == 150000
    assert 'id="max_amount"' in consumer.page and 'value="1.500,00"' in consumer.page


def test_an_altered_action_is_the_consoles_page_with_a_way_back_not_json(api):
    assert api.put("/v1/settings", {"locale": "id_ID"}).status_code == 200
    consumer = Person(client=api.client)
    consumer.follow(consumer.sign_in(api.consumer_token))
    consumer.get("/console/my-autopay")
    refused = consumer.post("/console/my-autopay", {"action": "charge-everyone"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert "Formulir tidak dipahami" in text_of(refused.text)
    assert re.search(r'<a class="button" href="/console/my-autopay">Kembali ke '
                     r'formulir</a>', refused.text)
    assert 'href="/console/bills"' in refused.text  # the payer's navigation
    assert api.get("/v1/me/mandates", role="consumer").json["items"] == []
