"""``/docs``: the OpenAPI document in Swagger UI, every asset served by loket itself."""

from __future__ import annotations

import re


def test_docs_page_loads_swagger_ui_from_loket_only(api):
    page = api.client.simulate_get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources)  # no CDN
    for source in sources:
        asset = api.client.simulate_get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 0
    script = api.client.simulate_get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text
    assert "/openapi.json" in api.client.simulate_get("/static/docs.js").text
    assert api.client.simulate_get("/openapi.json").json["openapi"].startswith("3.1")


def test_only_known_assets_are_served(api):
    assert api.client.simulate_get("/docs/assets/index.html").status_code == 404
    assert api.client.simulate_get("/static/..%2Fsession.py").status_code == 404
    assert api.client.simulate_get("/static/nothing.css").status_code == 404


def test_every_operation_says_which_roles_may_call_it(api):
    from loket.server import roles
    served = api.client.simulate_get("/openapi.json").json
    counter = served["paths"]["/v1/payments/counter"]["post"]
    assert counter["x-roles"] == list(roles.allowed("POST", "/v1/payments/counter"))
    assert "consumer" not in counter["x-roles"] and "cso_executive" in counter["x-roles"]
    assert served["paths"]["/health"]["get"]["x-roles"] == ["public"]
    assert counter["tags"] == ["payments"]
    for path, item in served["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                assert op["x-roles"], (method, path)
