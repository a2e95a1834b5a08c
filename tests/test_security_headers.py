"""Every response of the tool and of the API carries the security headers (errors included), the
tool may be framed by its registered platforms only, and no CSV export holds a formula."""

from __future__ import annotations

import csv
import io

import pytest

from core.csv_export import csv_text, safe_cell
from core.tokens import create_token
from lms_helpers import bearer, graded_event
from lti_tool import create_app as create_tool
from lti_tool.registrations import validate_registration
from sidecar.api import create_app as create_api
from sidecar.worker import Worker


def _routes(app) -> list[tuple[str, str]]:
    """Every rule of the app with a method it serves (path parameters filled in)."""
    found = []
    for rule in app.url_map.iter_rules():
        path = str(rule.rule)
        for name in rule.arguments:
            path = path.replace(f"<{name}>", "x").replace(f"<path:{name}>", "x")
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"OPTIONS", "HEAD"})[0]
        found.append((method, path.replace("<", "").replace(">", "")))
    return found + [("GET", "/no-such-page"), ("DELETE", "/lti/launch")]


def assert_headers(response, frame_ancestors: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert f"frame-ancestors {frame_ancestors}" in csp, (response.request.path, csp)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_every_tool_page_has_the_headers_and_only_registered_platforms_may_frame_it(services):
    app = create_tool(services=services)
    app.extensions["lti"].registrations.save(
        validate_registration(
            issuer="https://moodle.example.com",
            client_id="c1",
            auth_login_url="https://moodle.example.com/auth",
            auth_token_url="https://moodle.example.com/token",
            jwks_url="https://keys.example.com:8443/jwks",
            tenant="acme",
        )
    )
    client = app.test_client()
    for method, path in _routes(app):
        response = client.open(path, method=method)
        assert response.status_code < 500, (method, path, response.status_code)
        assert_headers(response, "'self' https://keys.example.com:8443 https://moodle.example.com")
        assert "Strict-Transport-Security" not in response.headers  # plain-http development
    page = client.get("/lti/setup")
    nonce = page.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in page.text  # the page's own script runs, no other inline one


def test_hsts_when_the_tool_is_served_over_https(services):
    client = create_tool(services=services.with_settings(tool_base_url="https://skillgap.example.com")).test_client()
    assert client.get("/health").headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_api_response_has_the_headers(services):
    app = create_api(services=services)
    client = app.test_client()
    token = create_token(services.redis, services.keys, "acme")
    for method, path in _routes(app):
        for headers in ({}, bearer(token)):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code < 500, (method, path, response.status_code)
            assert_headers(response, "'none'")
    assert "Strict-Transport-Security" in client.get("/v1/health", base_url="https://api.example.com").headers


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("https://evil.example.com","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_formulas_are_neutralised(cell):
    assert safe_cell(cell) == "'" + cell
    header, row = list(csv.reader(io.StringIO(csv_text(["cohort"], [[cell]]), newline="")))
    assert row == ["'" + cell]


def test_plain_cells_and_numbers_are_kept():
    assert [safe_cell(v) for v in ("course-1", "a=b", 0.5, -0.25)] == ["course-1", "a=b", 0.5, -0.25]


def test_the_api_gap_csv_holds_no_formula(services, client, headers):
    cohort = '=HYPERLINK("https://evil.example.com","open")'
    event = graded_event(services, score=0.5, cohort=cohort)
    assert client.post("/v1/events", json=event, headers=headers).status_code == 202
    Worker(services).run(burst=True)
    text = client.get("/v1/gaps?format=csv&by=cohort", headers=headers).data.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["cohort"] for r in rows] == ["'" + cohort]
