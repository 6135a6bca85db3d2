"""A person at the console through the WSGI app: keeps the cookies a browser would keep,
reads the CSRF token from the page it is on, and submits its forms."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import attrs
import falcon.testing

from loket.web.session import COOKIE

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


@attrs.define
class Person:
    """One browser: its cookie jar and the last page it saw."""

    client: falcon.testing.TestClient
    cookies: dict = attrs.field(factory=dict)
    page: str = ""
    accept_language: str = "en"

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Accept": "text/html", "Accept-Language": self.accept_language}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {**headers, **(extra or {})}

    def _keep(self, result: falcon.testing.Result) -> falcon.testing.Result:
        for name, cookie in result.cookies.items():
            if cookie.value and (cookie.max_age is None or cookie.max_age > 0):
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        if result.headers.get("content-type", "").startswith("text/html"):
            self.page = result.text
        return result

    def get(self, path: str, **kwargs) -> falcon.testing.Result:
        """GET like a browser (HTML preferred, cookies sent)."""
        return self._keep(self.client.simulate_get(path, headers=self._headers(), **kwargs))

    def post(self, path: str, fields: list[tuple[str, str]] | dict,
             csrf: bool = True) -> falcon.testing.Result:
        """Submit a form; the page's CSRF token (and form key) are added like the browser's
        hidden fields would be."""
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if csrf and (m := CSRF.search(self.page)):
            pairs.append(("csrf", unescape(m.group(1))))
        if (m := FORM_KEY.search(self.page)) and not any(k == "form_key" for k, _ in pairs):
            pairs.append(("form_key", unescape(m.group(1))))
        return self._keep(self.client.simulate_post(
            path, body=urlencode(pairs), headers=self._headers(
                {"Content-Type": "application/x-www-form-urlencoded"})))

    def sign_in(self, credential: str) -> falcon.testing.Result:
        """Open the sign-in page and sign in with ``credential``."""
        self.get("/console/sign-in")
        return self.post("/console/sign-in", {"credential": credential})

    def follow(self, result: falcon.testing.Result) -> falcon.testing.Result:
        """Follow a 303 like a browser."""
        assert result.status_code in (302, 303), (result.status_code, result.text[:500])
        location = result.headers["location"].partition("#")[0]
        return self.get(location.partition("?")[0], query_string=location.partition("?")[2])

    @property
    def signed_in(self) -> bool:
        """Whether the session cookie is held."""
        return COOKIE in self.cookies


def text_of(html: str) -> str:
    """The page's visible text, whitespace collapsed (to assert what a person reads)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def signed_in(api, role: str) -> Person:
    """A person signed in to the console with the test API's key of ``role``."""
    person = Person(client=api.client)
    person.follow(person.sign_in(api.keys[role]))
    return person


def counter_payment(api) -> str:
    """A cash payment of WU-10001's bill INV-2025-001234 (145.50); its number."""
    made = api.post("/v1/payments/counter", {
        "account_number": "WU-10001", "payment_type": "bill", "method": "cash",
        "amount_received": "145.50", "references": ["INV-2025-001234"],
        "paid_on": "2025-01-15"})
    assert made.status_code == 201, made.text
    return made.json["information"]["number"]
