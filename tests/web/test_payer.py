"""The payer's return page: HTML for a browser, JSON for an API client, the payer's
language, and the signed redirect to the tenant's own page, also through a rotation of
LOKET_SECRET_KEY."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import attrs
import falcon.testing
from support.console import Person, text_of

from loket.core.context import Loket
from loket.core.gateway_configs import configs
from loket.core.payments import returns
from loket.core.secrets import SecretBox
from loket.server.app import create_app


def paid_return_url(api) -> str:
    """A consumer pays the January bill on the sandbox; the URL the payer comes back on."""
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    assert started.status_code == 201, started.text
    back = api.payer_acts(started.json["redirect_url"])
    return back.split("testserver", 1)[1]


def test_a_browser_gets_the_result_page_and_an_api_client_json(connected_api):
    api = connected_api
    back = paid_return_url(api)
    page = api.client.simulate_get(back, headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.headers["content-type"].startswith("text/html")
    text = text_of(page.text)
    assert "Payment successful" in text and "$145.50" in text
    assert text.count("INV-2025-001234") == 1  # the bill paid, once (no void allocations)
    assert "Test Water t1" in text  # the tenant's name heads the page
    for accept in (None, "application/json", "*/*"):
        headers = {"Accept": accept} if accept else {}
        answer = api.client.simulate_get(back, headers=headers)
        assert answer.json["status"] == "succeeded"


def test_the_result_page_speaks_the_payers_language(connected_api):
    api = connected_api
    back = paid_return_url(api)
    page = api.client.simulate_get(back, headers={"Accept": "text/html",
                                                  "Accept-Language": "id-ID,id;q=0.9"})
    text = text_of(page.text)
    assert "Pembayaran berhasil" in text and "Terima kasih" in text
    assert "US$145,50" in text  # the amount written the Indonesian way


def test_a_cancelled_checkout_says_nothing_was_charged(connected_api):
    api = connected_api
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    back = api.payer_acts(started.json["redirect_url"], "cancel").split("testserver", 1)[1]
    text = text_of(api.client.simulate_get(back, headers={"Accept": "text/html"}).text)
    assert "Nothing was charged" in text


def test_a_forged_return_url_is_not_found_for_browsers_too(connected_api):
    back = paid_return_url(connected_api)
    forged = back.replace("sig=", "sig=x")
    page = connected_api.client.simulate_get(forged, headers={"Accept": "text/html"})
    assert page.status_code == 404


def test_with_a_return_url_the_browser_goes_to_the_tenants_page_with_a_signed_result(
        connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"return_url": "https://water.example/paid?from=loket"}
                   ).status_code == 200
    back = paid_return_url(api)
    answer = api.client.simulate_get(back, headers={"Accept": "text/html"})
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "water.example", "/paid")
    params = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert params["from"] == "loket" and params["status"] == "succeeded"
    assert params["result"] == "success" and params["payment"].startswith("PAY-")
    secret = returns.result_secret(api.ctx, api.tenant_id)
    admin = Person(client=api.client)  # the tenant admin finds the secret in the console
    admin.follow(admin.sign_in(api.keys["tenant_admin"]))
    assert secret in admin.get("/console/gateways").text
    now = int(api.ctx.now().timestamp())
    assert returns.verify_signed_result(secret, params, now)
    assert not returns.verify_signed_result(secret, {**params, "status": "completed"}, now)
    assert not returns.verify_signed_result(secret, params, now + 3600)  # stale
    assert not returns.verify_signed_result("another tenant", params, now)
    # API clients still get JSON
    assert api.client.simulate_get(back).json["status"] == "succeeded"


def test_return_url_must_be_http(api):
    refused = api.put("/v1/settings", {"return_url": "javascript:alert(1)"})
    assert refused.status_code == 422



def _under_keys(api, keys: tuple[str, ...]) -> Loket:
    """The same loket (database, plugins, clock) run with another LOKET_SECRET_KEY."""
    config = attrs.evolve(api.ctx.config, secret_keys=keys)
    return Loket.create(config, plugins=api.ctx.plugins, engine=api.ctx.engine,
                        clock=api.ctx.clock)


def _come_back(ctx: Loket, url: str, accept: str = "text/html") -> falcon.testing.Result:
    """A browser (or with ``accept``, an API client) following a return link into ``ctx``'s
    API."""
    path = url.split("testserver", 1)[-1]
    return falcon.testing.TestClient(create_app(ctx)).simulate_get(
        path, headers={"Accept": accept})


def _result(answer: falcon.testing.Result) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_a_key_rotation_keeps_return_links_and_the_tenants_secret_until_the_old_key_goes(
        connected_api):
    api = connected_api
    assert api.put("/v1/settings", {"return_url": "https://water.example/paid"}
                   ).status_code == 200
    copied = returns.result_secret(api.ctx, api.tenant_id)  # set up on the tenant's page
    back = paid_return_url(api)  # issued under the old key
    number = urlsplit(back).path.rsplit("/", 1)[1]
    old, new = api.ctx.config.secret_keys[0], SecretBox.generate_key()
    now = int(api.ctx.now().timestamp())

    rotated = _under_keys(api, (new, old))
    during = _come_back(rotated, back)
    assert during.status_code == 303, during.text
    assert returns.verify_signed_result(copied, _result(during), now)
    shown = returns.result_secret(rotated, api.tenant_id)  # the console's, once rotated
    assert shown != copied and returns.verify_signed_result(shown, _result(during), now)

    retired = _under_keys(api, (new,))
    refused = _come_back(retired, back)
    assert refused.status_code == 404  # as a forged link is
    assert "This link is not valid" in text_of(refused.text)
    refused = _come_back(retired, back, "application/json")
    assert refused.status_code == 404 and refused.json["detail"] == f"no payment {number!r}"
    fresh, _cancel = configs.return_urls(retired, api.tenant_id, number, api.ctx.now())
    after = _result(_come_back(retired, fresh))
    assert returns.verify_signed_result(shown, after, now)
    assert not returns.verify_signed_result(copied, after, now)


def _returned(api, outcome: str, language: str = "en") -> str:
    """A consumer starts a checkout of the January bill and the payer presses ``outcome``
    on the sandbox's page; the visible text of the page the browser comes back to."""
    started = api.post("/v1/me/checkout", {"gateway": "sandbox", "items": [
        {"kind": "bill", "reference": "INV-2025-001234"}]}, role="consumer")
    back = api.payer_acts(started.json["redirect_url"], outcome).split("testserver", 1)[1]
    return api.client.simulate_get(back, headers={"Accept": "text/html",
                                                  "Accept-Language": language}).text


def test_a_declined_card_is_a_failed_payment_with_its_reason_not_a_payer_who_left(
        connected_api):
    text = text_of(_returned(connected_api, "decline"))
    assert "Payment failed" in text and "You left the payment page" not in text
    assert "Your bank or card issuer declined the payment." in text
    assert "The gateway said: Your card has insufficient funds." in text
    assert "Nothing was charged" not in text and "No money was taken" in text


def test_a_declined_cards_reason_is_translated(connected_api):
    text = text_of(_returned(connected_api, "decline", "id"))
    assert "Pembayaran gagal" in text
    assert "Bank atau penerbit kartu Anda menolak pembayaran." in text


def test_a_payer_who_left_is_not_shown_a_failure(connected_api):
    page = _returned(connected_api, "cancel")
    text = text_of(page)
    assert "You left the payment page" in text and "Failed" not in text


def test_a_consumers_result_page_leads_to_the_payment_and_the_bills(connected_api):
    api = connected_api
    back = paid_return_url(api)
    page = api.client.simulate_get(back, headers={"Accept": "text/html"}).text
    number = urlsplit(back).path.rsplit("/", 1)[1]
    assert f'href="/console/my-payments/{number}"' in page
    assert 'href="/console/bills"' in page
    consumer = Person(client=api.client)  # the link opens the payment once signed in
    consumer.follow(consumer.sign_in(api.consumer_token))
    shown = consumer.get(f"/console/my-payments/{number}")
    assert shown.status_code == 200 and number in text_of(shown.text)


def test_a_browser_on_a_forged_or_expired_return_link_gets_a_page(connected_api):
    api = connected_api
    forged = paid_return_url(api).replace("sig=", "sig=x")
    page = api.client.simulate_get(forged, headers={
        "Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "id"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    text = text_of(page.text)
    assert "Tautan ini tidak berlaku" in text and "Test Water t1" in text
    assert api.client.simulate_get(forged).json["status"] == 404  # API clients: a problem
