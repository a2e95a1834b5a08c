"""/v1/docs: Swagger UI from the installed package's files, no token, nothing from elsewhere."""

from __future__ import annotations

import re


def test_the_docs_page_loads_swagger_ui_from_the_api_itself(client):
    page = client.get("/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert sources and all(s.startswith("/v1/docs/") for s in sources)  # offline: no CDN
    for source in sources:
        with client.get(source) as asset:
            assert asset.status_code == 200, source
            assert len(asset.data) > 0
    with client.get("/v1/docs/swagger-ui-bundle.js") as bundle:
        assert "SwaggerUIBundle" in bundle.get_data(as_text=True)
    init = client.get("/v1/docs/init.js").get_data(as_text=True)
    assert '"/v1/openapi.json"' in init


def test_the_docs_serve_only_their_own_files(client):
    for name in ("../../__init__.py", "LICENSE", "swagger-ui.js.map", "%2e%2e%2fsecret"):
        assert client.get(f"/v1/docs/{name}").status_code == 404


def test_the_document_offers_the_token_box(client):
    document = client.get("/v1/openapi.json").json
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
