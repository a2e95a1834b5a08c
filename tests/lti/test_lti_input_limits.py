"""Bounded, typed launch input: oversized login parameters and id_tokens, an exp far ahead, claims
of the wrong JSON type, course and link ids with control characters and deep-link return URLs
off the platform are each a 4xx, and nothing (no event, no alias) is written for them."""

from __future__ import annotations

import logging
import os
import time

import pytest
from edx_platform import Browser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lti_security import login, refused

from conftest import Forger
from lti_tool import claims as c


@pytest.fixture(autouse=True)
def _log(caplog):
    caplog.set_level(logging.WARNING, logger="lti_tool")


def events_written(tool_server) -> int:
    services = tool_server.services
    return sum(services.redis.xlen(services.keys.stream(p)) for p in range(services.settings.partitions))


def aliases_written(tool_server) -> int:
    return len(list(tool_server.services.redis.scan_iter(f"{tool_server.services.keys.prefix}:aliases:*")))


@pytest.mark.parametrize("param", ["login_hint", "lti_message_hint", "target_link_uri", "iss"])
def test_an_oversized_login_parameter(tool_server, registered, caplog, param):
    value = ("https://x.example.com/" if param in ("iss", "target_link_uri") else "") + "a" * 5000
    refused(login(tool_server, registered, **{param: value}), 400, "parameter_too_long", caplog)
    assert not list(tool_server.services.redis.scan_iter(f"{tool_server.services.keys.prefix}:lti:state:*"))


def test_an_oversized_id_token(forge, caplog):
    forger = forge()
    claims = {**forger.claims, "padding": "p" * 70_000}
    refused(forger.post(forger.platform.sign(claims)), 401, "malformed_id_token", caplog)
    assert events_written(forger.tool_server) == 0


def test_a_body_over_the_tool_limit_is_413(tool_server):
    response = Browser().http.post(tool_server.url + "/lti/launch", data={"id_token": "x" * 400_000, "state": "s"})
    assert response.status_code == 413


def test_a_chunked_body_over_the_tool_limit_is_cut_there(tool_server):
    """Werkzeug stops reading a chunked body at the limit: the form holds a cut id_token."""
    chunks = (b"state=s&id_token=" + b"x" * 65_536 for _ in range(8))
    response = Browser().http.post(
        tool_server.url + "/lti/launch", data=chunks, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code in (400, 401)


@pytest.mark.parametrize("exp", [1e20, time.time() + 10 * 86_400, 2**63])
def test_an_exp_far_ahead(forge, caplog, exp):
    forger = forge()
    refused(forger.post(forger.platform.sign({**forger.claims, "exp": exp})), 400, "invalid_claim", caplog)
    assert events_written(forger.tool_server) == 0


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        (c.LIS, "a string"),
        (c.LIS, {"person_sourcedid": 7}),
        (c.CONTEXT, ["course"]),
        (c.CONTEXT, {"id": {"nested": 1}}),
        (c.CONTEXT, {"id": "c" * 300}),
        (c.CUSTOM, "skillgap_module=x"),
        (c.RESOURCE_LINK, {"id": 12}),
        (c.LAUNCH_PRESENTATION, {"locale": 5}),
        (c.AGS_ENDPOINT, {"lineitem": ["x"], "scope": []}),
        (c.AGS_ENDPOINT, {"scope": "score"}),
        (c.NRPS, {"context_memberships_url": 1}),
        ("email", ["a@b.c"]),
        ("sub", "s" * 300),
    ],
    ids=lambda v: str(v)[-20:],
)
def test_a_claim_of_the_wrong_type(forge, caplog, claim, value):
    forger = forge()
    refused(forger.post(forger.platform.sign({**forger.claims, claim: value})), 400, "invalid_claim", caplog)
    assert events_written(forger.tool_server) == 0 and aliases_written(forger.tool_server) == 0


@pytest.mark.parametrize("character", ["\n", "\x00", "\x7f", "\x85"], ids=["newline", "nul", "del", "c1"])
@pytest.mark.parametrize("claim", [c.CONTEXT, c.RESOURCE_LINK], ids=["context", "resource_link"])
@pytest.mark.parametrize("role", ["student", "instructor"])
def test_a_course_or_link_id_with_a_control_character(forge, caplog, claim, character, role):
    """Such an id would name a cohort or course item no event may hold: a 400, never a 500."""
    forger = forge(role=role)
    section = {**forger.claims[claim], "id": f"id{character}1"}
    response = forger.post(forger.platform.sign({**forger.claims, claim: section}))
    refused(response, 400, "invalid_claim", caplog)
    assert "control character" in response.text
    assert events_written(forger.tool_server) == 0 and aliases_written(forger.tool_server) == 0


@pytest.mark.parametrize(
    "return_url",
    [
        "javascript:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example.com/return",
        "{platform}:1/return",
        7,
    ],
)
def test_a_deep_link_return_url_off_the_platform(forge, caplog, return_url):
    forger = forge(role="instructor", message_type=c.DEEP_LINKING_REQUEST)
    settings = {**forger.claims[c.DEEP_LINKING_SETTINGS]}
    settings["deep_link_return_url"] = (
        return_url.format(platform=forger.platform.url) if isinstance(return_url, str) else return_url
    )
    response = forger.post(forger.platform.sign({**forger.claims, c.DEEP_LINKING_SETTINGS: settings}))
    refused(response, 400, "invalid_claim", caplog)
    assert "javascript:" not in response.text


CLAIMS = (
    c.CONTEXT,
    c.RESOURCE_LINK,
    c.CUSTOM,
    c.LIS,
    c.LAUNCH_PRESENTATION,
    c.AGS_ENDPOINT,
    c.NRPS,
    c.ROLES,
    c.DEEP_LINKING_SETTINGS,
    c.MESSAGE_TYPE,
    c.VERSION,
    c.DEPLOYMENT_ID,
    "sub",
    "email",
    "exp",
    "iat",
    "aud",
    "azp",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=int(os.environ.get("SKILLGAP_FUZZ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(changes=st.dictionaries(st.sampled_from(CLAIMS), json_values, min_size=1, max_size=3))
def test_launches_with_mutated_claims_are_never_5xx(tool_server, registered, changes):
    services = tool_server.services
    for key in services.redis.scan_iter(f"{services.keys.prefix}:auth-failures:*"):  # the fuzzer is no attacker
        services.redis.delete(key)
    forger = Forger(tool_server, registered)
    response = forger.post(forger.platform.sign({**forger.claims, **changes}))
    assert response.status_code < 500, (changes, response.status_code, response.text[:300])
