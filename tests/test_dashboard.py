"""The analysts' dashboard: token sign-in into a CSRF-protected session (the token never in a
URL), the overview, the heatmap's drill-down to a learner, module effectiveness; a tenant sees
only its own learners; English and Chinese."""

from __future__ import annotations

import re
import time

import pytest

from core.eventlog import append_events
from core.events import parse_event
from core.services import build_services
from core.settings import Settings, SettingsError
from core.tokens import create_token
from lms_helpers import bearer, first_quiz
from sidecar.api import create_app
from sidecar.eventstats import events_per_day
from sidecar.worker import Worker

NOW = 1_790_000_000.0


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client, token: str):
    page = client.get("/").get_data(as_text=True)
    return client.post("/sign-in", data={"token": token, "csrf": csrf_of(page)})


@pytest.fixture
def loaded(app, services, token):
    """Three learners of two roles in one cohort, with graded and completed events, applied."""
    quiz = first_quiz(services.catalog)
    roles = [r.id for r in services.catalog.roles][:2]
    events = []
    for i in range(3):
        events.append(
            {
                "learner": f"u-{i}",
                "module": quiz.id,
                "kind": "graded",
                "score": 0.3 * i,
                "timestamp": time.time() - 3600 * i,
                "cohort": "course-1",
                "role": roles[i % 2],
            }
        )
    events.append({"learner": "u-0", "module": quiz.id, "kind": "viewed", "timestamp": time.time() - 60})
    client = app.test_client()
    response = client.post("/v1/events", json=events, headers=bearer(token))
    assert response.status_code == 202
    Worker(services).run(burst=True)
    return roles


def test_signing_in_needs_the_form_token_and_the_csrf_field(app, token):
    client = app.test_client()
    assert "sign-in" in client.get("/").get_data(as_text=True)
    assert client.get("/gaps").status_code == 302  # not signed in: back to the sign-in page
    assert client.post("/sign-in", data={"token": token}).status_code == 400  # no CSRF field
    page = client.get("/").get_data(as_text=True)
    assert client.post("/sign-in", data={"token": token, "csrf": "forged"}).status_code == 400
    assert (
        client.post("/sign-in", data={"token": "sgk_wrong-token-of-nobody", "csrf": csrf_of(page)}).status_code == 401
    )
    assert (
        client.get(f"/?token={token}").get_data(as_text=True).count('id="token"') == 1
    )  # a token in a URL does nothing
    response = client.post("/sign-in", data={"token": token, "csrf": csrf_of(page)})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
    assert client.get("/gaps").status_code == 200


def session_cookie(services, overrides: dict, base_url: str) -> str:
    app = create_app(services=build_services(services.settings.replace(**overrides), services.redis))
    client = app.test_client()
    page = client.get("/", base_url=base_url)
    assert page.status_code == 200
    return page.headers["Set-Cookie"]  # the form token's session


@pytest.mark.parametrize(
    ("overrides", "base_url", "secure"),
    [
        ({}, "http://localhost", False),  # plain-http development: a Secure cookie would not come back
        ({}, "https://localhost", True),
        ({"api_base_url": "https://skills.example.com"}, "http://localhost", True),  # TLS ends at a proxy
        ({"api_base_url": "http://skills.example.com"}, "http://localhost", False),
        ({"api_base_url": "https://skills.example.com", "dashboard_secure_cookie": False}, "http://localhost", False),
        ({"dashboard_secure_cookie": True}, "http://localhost", True),
        ({"dashboard_secure_cookie": False}, "https://localhost", False),
    ],
)
def test_the_session_cookie_is_secure_as_the_settings_and_the_public_url_say(services, overrides, base_url, secure):
    cookie = session_cookie(services, overrides, base_url)
    assert cookie.startswith("skillgap_dashboard=") and "HttpOnly" in cookie
    assert ("; Secure" in cookie) == secure


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SKILLGAP_API_BASE_URL": "skills.example.com"}, "SKILLGAP_API_BASE_URL must start with http"),
        ({"SKILLGAP_DASHBOARD_SECURE_COOKIE": "maybe"}, "SKILLGAP_DASHBOARD_SECURE_COOKIE='maybe' is not a valid bool"),
    ],
)
def test_bad_cookie_settings_are_refused_by_name(environ, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.load(environ=environ)


def test_another_site_cannot_sign_a_browser_out_or_in(app, token):
    client = app.test_client()
    sign_in(client, token)
    assert client.post("/sign-out", data={}).status_code == 400
    assert client.get("/gaps").status_code == 200
    other = app.test_client()  # another browser's form token is not this one's
    other_csrf = csrf_of(other.get("/").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf": other_csrf}).status_code == 400
    page = client.get("/").get_data(as_text=True)
    assert client.post("/sign-out", data={"csrf": csrf_of(page)}).status_code == 303
    assert client.get("/gaps").status_code == 302


def test_a_revoked_token_ends_the_session(app, services, token):
    client = app.test_client()
    sign_in(client, token)
    assert client.get("/modules").status_code == 200
    services.redis.delete(services.keys.tokens)
    assert client.get("/modules").status_code == 302


def test_overview_heatmap_drill_down_and_learner_page(app, services, token, loaded):
    client = app.test_client()
    sign_in(client, token)
    overview = client.get("/").get_data(as_text=True)
    assert re.search(r"Learners</span><b>3<", overview)
    assert "course-1" in overview and "<svg" in overview  # events per day drawn
    assert "Workers running" in overview
    gaps = client.get("/gaps").get_data(as_text=True)
    cells = re.findall(r'<a href="(/gaps/cell\?[^"]+)"', gaps)
    assert cells, gaps[:2000]
    cell = client.get(cells[0].replace("&amp;", "&"))
    assert cell.status_code == 200
    learners = re.findall(r'href="/learners/([^"]+)"', cell.get_data(as_text=True))
    assert learners and set(learners) <= {"u-0", "u-1", "u-2"}
    learner = client.get(f"/learners/{learners[0]}").get_data(as_text=True)
    assert "Mastery against target" in learner and "<svg" in learner
    assert 'class="recommendation"' in learner
    assert "graded" in learner  # the recent events, read back from the log
    assert "viewed" in client.get("/learners/u-0").get_data(as_text=True)  # an event without a score too
    assert "Expected gap closed" in learner and "expected_gain" in learner  # plain words, exact name in the tooltip
    mandatory = re.findall(
        r'<tr class="mandatory-module due"><td>([^<]+)</td><td>([0-9-]+)</td><td>([^<]+)</td>', learner
    )
    assert [(title, status) for title, _, status in mandatory] == [
        (services.catalog.modules[services.catalog.module_index[m]].title.get("en"), "due in 30 day(s)")
        for m in ("m-privacy", "m-responsible-ai")
    ]  # the default catalog's: every role, within 30 days of the first event (just now)
    modules = client.get("/modules").get_data(as_text=True)
    assert "No fitted parameter version yet" in modules and "<circle" not in modules
    cohort = client.get("/gaps?cohort=course-1")
    assert cohort.status_code == 200
    assert client.get("/gaps?cohort=nobodys-cohort").status_code == 404


def test_the_dashboard_speaks_chinese(app, token, loaded):
    client = app.test_client()
    sign_in(client, token)
    page = client.get("/?lang=zh").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "学员" in page and "处理管道状态" in page
    assert "差距热力图" in client.get("/gaps").get_data(as_text=True)  # the choice stays for the session


def test_a_tenant_never_sees_another_tenants_learners(app, services, token, loaded):
    other = create_token(services.redis, services.keys, "globex")
    client = app.test_client()
    sign_in(client, other)
    assert client.get("/learners/u-1").status_code == 404
    assert "u-1" not in client.get("/gaps").get_data(as_text=True)
    assert client.get("/gaps?cohort=course-1").status_code == 404
    assert re.search(r"Learners</span><b>0<", client.get("/").get_data(as_text=True))


def test_events_per_day_count_each_event_once(services):
    events = [
        parse_event(
            {
                "learner": f"u-{i}",
                "module": services.catalog.modules[0].id,
                "kind": "viewed",
                "timestamp": NOW,
                "id": f"e-{i}",
            },
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        for i in range(5)
    ]
    partitions = services.settings.partitions
    append_events(services.redis, services.keys, partitions, events)
    append_events(services.redis, services.keys, partitions, events[:2])  # posted again: applied once
    Worker(services, clock=lambda: NOW).run(burst=True)
    days, counts = events_per_day(services.redis, services.keys, partitions, "acme", NOW, 3)
    assert counts == [0, 0, 5]
    assert events_per_day(services.redis, services.keys, partitions, "other", NOW, 3)[1] == [0, 0, 0]
