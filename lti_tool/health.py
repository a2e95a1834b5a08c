"""The tool's health page: what runs, and whether Redis answers."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template_string

from core.redis_server import redis_status

blueprint = Blueprint("health", __name__)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SkillGap LTI tool</title></head>
<body><main>
<h1>SkillGap LTI tool</h1>
<p>Status: <strong>{{ status }}</strong> (Redis: {{ redis }}).</p>
<p>Catalog {{ catalog.id }} {{ catalog.version }}: {{ catalog.knowledge_points|length }} knowledge points,
{{ catalog.roles|length }} roles, {{ catalog.modules|length }} modules.</p>
</main></body></html>"""


def _status() -> tuple[dict, int]:
    state = redis_status(current_app.extensions["skillgap"].redis)
    ok = state == "ok"
    return {"status": "ok" if ok else "degraded", "redis": state}, 200 if ok else 503


@blueprint.get("/health")
def health_json():
    return _status()


@blueprint.get("/")
def health_page():
    body, status = _status()
    catalog = current_app.extensions["skillgap"].catalog
    return render_template_string(PAGE, catalog=catalog, **body), status
