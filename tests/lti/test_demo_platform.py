"""The demo platform (/demo): real LTI 1.3 launches into the tool, through its login and launch
validation, as a demo learner or the demo teacher, in English or Chinese; off unless enabled."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from edx_platform import Browser, first_form

from conftest import ToolServer
from core.eventlog import append_events
from core.events import parse_event
from core.services import Services, build_services
from lti_tool import demo_platform as demo
from skillgap.demo import demo_events

LEARNERS = 6


@pytest.fixture
def demo_server(lti_settings, redis_client) -> Iterator[ToolServer]:
    services: Services = build_services(lti_settings.replace(demo_platform=True, demo_learners=LEARNERS), redis_client)
    server = ToolServer(services)
    learners = demo.demo_learner_ids(services.pseudonym_secret, LEARNERS)
    tenant = services.settings.default_tenant
    events = [
        parse_event(e, tenant=tenant, catalog=services.catalog)
        for e in demo_events(services.catalog, learners, demo.demo_cohort(), 7, time.time())
    ]
    append_events(services.redis, services.keys, services.settings.partitions, events)
    server.drain()
    yield server
    server.server.close()


def _links(page: str, css_class: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(rf'class="[^"]*{css_class}[^"]*" href="([^"]+)"', page)]


def test_a_demo_learner_launch_shows_their_page_through_the_real_login(demo_server: ToolServer):
    browser = Browser()
    page = browser.http.get(demo_server.url + "/demo", timeout=10)
    assert page.status_code == 200
    learner_links = _links(page.text, "demo-learner")
    assert len(learner_links) == LEARNERS
    # The link is the ordinary OIDC login initiation of the registered demo platform.
    assert urlsplit(learner_links[0]).path == "/lti/login"
    registration = demo_server.tool.registrations.get(demo.ISSUER, demo.CLIENT_ID)
    assert registration is not None and registration.tenant == demo_server.services.settings.default_tenant

    learner_page = browser.launch(learner_links[0])
    assert learner_page.status_code == 200, learner_page.text
    assert "Your next modules" in learner_page.text
    assert learner_page.text.count('class="card recommendation"') >= 1
    # The launch went on the log as the demo learner whose history the cohort holds.
    first = demo.demo_learner_ids(demo_server.services.pseudonym_secret, 1)[0]
    record = demo_server.services.learners.get(demo_server.services.settings.default_tenant, first)
    assert record is not None and record.recommendations


def test_the_demo_teacher_sees_the_course_heatmap_in_chinese(demo_server: ToolServer):
    browser = Browser()
    page = browser.http.get(demo_server.url + "/demo?lang=zh", timeout=10)
    assert "以课程教师身份打开" in page.text
    [teacher_link] = _links(page.text, "demo-teacher")
    response = browser.launch(teacher_link)
    assert response.status_code == 200, response.text
    assert "技能差距" in response.text
    assert f"{LEARNERS} 名学员" in response.text


def test_the_demo_platform_signs_with_its_own_published_key(demo_server: ToolServer):
    browser = Browser()
    page = browser.http.get(demo_server.url + "/demo", timeout=10)
    login = browser.http.get(_links(page.text, "demo-learner")[0], allow_redirects=False, timeout=10)
    assert login.status_code == 302 and urlsplit(login.headers["Location"]).path == demo.AUTH_PATH
    form = browser.http.get(login.headers["Location"], timeout=10)
    _, fields = first_form(form.text)
    keys = browser.http.get(demo_server.url + demo.JWKS_PATH, timeout=10).json()["keys"]
    kid = jwt.get_unverified_header(fields["id_token"])["kid"]
    [jwk] = [k for k in keys if k["kid"] == kid]
    assert "d" not in jwk  # public only
    claims = jwt.decode(fields["id_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=demo.CLIENT_ID)
    assert claims["iss"] == demo.ISSUER and claims["sub"] == demo.demo_user(1)
    # The tool's own signing key is another key.
    assert kid not in {k["kid"] for k in demo_server.tool.signing.jwks()["keys"]}
    # Posting the same id_token again is a replay.
    assert browser.http.post(demo_server.url + "/lti/launch", data=fields, timeout=10).status_code == 200
    replay = browser.http.post(demo_server.url + "/lti/launch", data=fields, timeout=10)
    assert replay.status_code == 401 and "replayed_id_token" in replay.text


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"redirect_uri": "https://evil.example/launch"}, "redirect_uri"),
        ({"login_hint": "someone-else"}, "no user"),
        ({"login_hint": "demo-9999"}, "no user"),
        ({"client_id": "other"}, "client_id"),
        ({"response_type": "code"}, "response_type"),
    ],
)
def test_the_demo_platform_refuses_what_a_login_would_not_send(demo_server: ToolServer, change, reason):
    browser = Browser()
    page = browser.http.get(demo_server.url + "/demo", timeout=10)
    login = browser.http.get(_links(page.text, "demo-learner")[0], allow_redirects=False, timeout=10)
    params = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["Location"]).query).items()}
    refused = browser.http.get(demo_server.url + demo.AUTH_PATH, params={**params, **change}, timeout=10)
    assert refused.status_code == 400
    assert reason in refused.text
    assert 'name="id_token"' not in refused.text


def test_the_demo_platform_is_off_unless_enabled(tool_server: ToolServer):
    for path in ("/demo", demo.JWKS_PATH, demo.AUTH_PATH):
        assert Browser().http.get(tool_server.url + path, timeout=10).status_code == 404
    assert tool_server.tool.registrations.get(demo.ISSUER, demo.CLIENT_ID) is None
