"""Signing in and out of the console: the cookie, CSRF, and what a forged or stale session
gets."""

from __future__ import annotations

from support.console import Person, text_of

from loket.web.session import COOKIE, SIGNIN_COOKIE


def test_sign_in_with_an_api_key_sets_an_httponly_samesite_cookie_and_lands_on_the_role_home(
        api, person):
    result = person.sign_in(api.keys["billing_manager"])
    assert result.status_code == 303
    assert result.headers["location"] == "/console/dashboard"
    cookie = result.cookies[COOKIE]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/console"
    assert api.keys["billing_manager"] not in cookie.value  # encrypted, not merely signed
    page = person.follow(result)
    assert page.status_code == 200 and "Collected today" in text_of(page.text)


def test_a_consumer_token_signs_in_to_the_consumers_screens(api, person):
    page = person.follow(person.sign_in(api.consumer_token))
    assert "My bills and services" in text_of(page.text)
    assert "WU-10001" in text_of(page.text)


def test_a_wrong_credential_is_refused_on_the_form(api, person):
    result = person.sign_in("lk_not_a_key")
    assert result.status_code == 401
    assert "That API key or token is not valid." in text_of(result.text)
    assert not person.signed_in


def test_sign_in_without_the_forms_csrf_token_is_refused(api, person):
    person.get("/console/sign-in")
    assert SIGNIN_COOKIE in person.cookies
    result = person.post("/console/sign-in", {"credential": api.keys["cso_admin"]}, csrf=False)
    assert result.status_code == 403 and not person.signed_in


def test_pages_send_a_signed_out_person_to_sign_in_and_back(api, person):
    result = person.get("/console/payments", query_string="q=John")
    assert result.status_code == 303
    assert result.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fpayments%3Fq%3DJohn"
    person.get("/console/sign-in", query_string="next=%2Fconsole%2Fpayments%3Fq%3DJohn")
    signed = person.post("/console/sign-in", {"credential": api.keys["cso_admin"],
                                              "next": "/console/payments?q=John"})
    assert signed.headers["location"] == "/console/payments?q=John"


def test_next_never_leads_off_the_console(api, person):
    person.get("/console/sign-in")
    signed = person.post("/console/sign-in", {"credential": api.keys["cso_admin"],
                                              "next": "//evil.example/console"})
    assert signed.headers["location"] == "/console/dashboard"


def test_a_forged_or_altered_cookie_is_no_session(api, person):
    person.follow(person.sign_in(api.keys["cso_admin"]))
    person.cookies[COOKIE] = person.cookies[COOKIE][:-4] + "AAAA"
    assert person.get("/console/payments").status_code == 303


def test_forms_without_the_sessions_csrf_token_change_nothing(api, person):
    person.follow(person.sign_in(api.keys["tenant_admin"]))
    result = person.post("/console/gateways/sandbox/active", {"active": "on"}, csrf=False)
    assert result.status_code == 403
    other = Person(client=api.client)
    other.follow(other.sign_in(api.keys["tenant_admin"]))
    person.page = other.page  # another session's token
    assert person.post("/console/gateways/sandbox/active", {"active": "on"}).status_code == 403
    gateways = api.get("/v1/gateways", role="tenant_admin").json["items"]
    assert not next(g for g in gateways if g["kind"] == "sandbox")["active"]


def test_sign_out_forgets_the_session(api, person):
    person.follow(person.sign_in(api.keys["cso_admin"]))
    result = person.post("/console/sign-out", {})
    assert result.status_code == 303 and result.headers["location"] == "/console/sign-in"
    assert not person.signed_in
    assert person.get("/console/payments").status_code == 303


def test_an_expired_consumer_token_ends_the_session(api, person, ctx):
    from loket.core.tenants import TokenSigner
    token = TokenSigner(ctx.config.secret_keys[0].encode()).consumer_token(
        api.tenant_id, "WU-10001", 60, now=int(ctx.now().timestamp()) - 120)
    person.get("/console/sign-in")
    assert person.post("/console/sign-in", {"credential": token}).status_code == 401
