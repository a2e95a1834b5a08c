"""GET /v1/docs: the API's OpenAPI document in Swagger UI, served from the flask-swagger-ui
package's copy of its distribution (no CDN: the page works offline). Its Authorize button is
the token box: the token stays in the page, never in a URL."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, abort, send_from_directory

blueprint = Blueprint("docs", __name__)

ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "index.css", "favicon-32x32.png", "favicon-16x16.png")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SkillGap analyst API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/v1/docs/swagger-ui.css"><link rel="stylesheet" href="/v1/docs/index.css">
<link rel="icon" type="image/png" href="/v1/docs/favicon-32x32.png" sizes="32x32"></head>
<body><div id="swagger-ui"></div>
<script src="/v1/docs/swagger-ui-bundle.js"></script><script src="/v1/docs/init.js"></script>
</body></html>
"""

# A file, not an inline script, so that a Content-Security-Policy of script-src 'self' allows it.
INIT = """window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  persistAuthorization: false, tryItOutEnabled: false, validatorUrl: null
});
"""


@blueprint.get("/docs")
def docs_page():
    return Response(PAGE, mimetype="text/html")


@blueprint.get("/docs/init.js")
def docs_init():
    return Response(INIT, mimetype="text/javascript")


@blueprint.get("/docs/<name>")
def docs_asset(name: str):
    if name not in SERVED:
        abort(404)
    return send_from_directory(ASSETS, name, max_age=86_400)
