"""Dynamic Registration refused: without a valid unused invite (nothing fetched), takeover of an
issuer, an issuer on another scheme or port than its configuration, and fetches that the
outbound policy forbids (loopback services such as Redis when private networks are not allowed)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from edx_platform import Browser
from raw_server import RawServer

from lti_tool import create_app
from lti_tool.registrations import validate_registration


def _url(tool_server, platform, invite: str | None, **extra) -> str:
    params = {
        "openid_configuration": platform.url + "/.well-known/openid-configuration",
        "registration_token": platform.registration_token,
        **extra,
    }
    if invite is not None:
        params["invite"] = invite
    return tool_server.url + "/lti/register?" + urlencode(params)


@pytest.fixture
def counting():
    """A server counting connections: a registration refused early must reach nothing."""
    server = RawServer(lambda conn: conn.sendall(b"HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n"))
    yield server
    server.close()


@pytest.mark.parametrize("invite", [None, "", "not-an-invite", "x" * 5000])
def test_no_valid_invite_is_refused_and_fetches_nothing(tool_server, counting, invite):
    params = {"openid_configuration": counting.url + "/.well-known/openid-configuration", "tenant": "demo"}
    if invite is not None:
        params["invite"] = invite
    response = Browser().http.get(tool_server.url + "/lti/register?" + urlencode(params))
    assert response.status_code == 403 and "registration_refused" in response.text
    assert counting.connections == 0
    assert tool_server.tool.registrations.all() == []


@pytest.mark.parametrize(
    "config_url",
    ["https://a..b.example.com/x", "https://" + "a" * 70 + ".example.com/x", "https://exa\u00admple.com/x"],
    ids=["empty_label", "label_of_70", "soft_hyphen"],
)
def test_a_malformed_configuration_host_is_refused_not_a_500(tool_server, config_url):
    invite = tool_server.tool.invites.create("globex", 3600)
    query = urlencode({"invite": invite, "openid_configuration": config_url})
    response = Browser().http.get(tool_server.url + "/lti/register?" + query)
    assert response.status_code == 403 and "registration_refused" in response.text
    assert "not a valid host name" in response.text
    assert tool_server.tool.invites.peek(invite) is not None  # a failed attempt leaves it usable


def test_an_invite_registers_once(tool_server, platform):
    invite = tool_server.tool.invites.create("globex", 3600)
    assert Browser().http.get(_url(tool_server, platform, invite)).status_code == 200
    platform.client_id += "-again"  # even a second, different registration from the same LMS
    again = Browser().http.get(_url(tool_server, platform, invite))
    assert again.status_code == 403 and "registration_refused" in again.text
    assert len(tool_server.tool.registrations.all()) == 1


def test_an_expired_invite_is_refused(tool_server, platform):
    invite = tool_server.tool.invites.create("globex", 1)
    time.sleep(1.2)
    assert Browser().http.get(_url(tool_server, platform, invite)).status_code == 403
    assert platform.tool_registration is None


def test_a_failed_registration_leaves_the_invite_usable(tool_server, platform):
    invite = tool_server.tool.invites.create("globex", 3600)
    assert Browser().http.get(_url(tool_server, platform, invite, registration_token="stale")).status_code == 502
    assert Browser().http.get(_url(tool_server, platform, invite)).status_code == 200


def test_a_registration_never_replaces_another(tool_server, platform):
    """Takeover: the same issuer and client id registered again with the attacker's key set."""
    first = validate_registration(**{**platform.registration(), "jwks_url": platform.url + "/jwks"}, tenant="acme")
    tool_server.tool.registrations.save(first)
    response = Browser().http.get(_url(tool_server, platform, tool_server.tool.invites.create("evil", 3600)))
    assert response.status_code == 403 and "already registered" in response.text
    assert tool_server.tool.registrations.all() == [first]


@pytest.mark.parametrize(
    "issuer", ["https://{host}", "http://{host}:1", "http://evil.example.com:{port}", "http://{host}/../x:{port}"]
)
def test_an_issuer_off_the_configuration_origin_is_refused(tool_server, platform, monkeypatch, issuer):
    host, port = platform.url.removeprefix("http://").split(":")
    original = platform.openid_configuration
    monkeypatch.setattr(
        platform, "openid_configuration", lambda: {**original(), "issuer": issuer.format(host=host, port=port)}
    )
    response = Browser().http.get(_url(tool_server, platform, tool_server.tool.invites.create("globex", 3600)))
    assert response.status_code in (403, 502) and tool_server.tool.registrations.all() == []
    assert "evil.example.com" not in response.text and "/../x" not in response.text  # nothing the platform sent


def test_a_registration_endpoint_off_the_platform_origin_is_not_posted_to(tool_server, platform, counting, monkeypatch):
    original = platform.openid_configuration
    monkeypatch.setattr(
        platform, "openid_configuration", lambda: {**original(), "registration_endpoint": counting.url + "/register"}
    )
    response = Browser().http.get(_url(tool_server, platform, tool_server.tool.invites.create("globex", 3600)))
    assert response.status_code == 403 and counting.connections == 0


def test_loopback_services_are_out_of_reach_by_default(lti_services, redis_url):
    """SSRF: the configuration URL pointing at Redis (or any loopback port) fetches nothing."""
    services = lti_services.with_settings(allow_private_network=False, outbound_http_hosts="*")
    app = create_app(services=services)
    counting = RawServer(lambda conn: None)
    try:
        for target in (
            counting.url + "/.well-known/openid-configuration",
            "http://localhost:6379/",
            "http://[::1]:6379/",
        ):
            invite = app.extensions["lti"].invites.create("globex", 60)
            response = app.test_client().get(
                "/lti/register", query_string={"invite": invite, "openid_configuration": target}
            )
            assert response.status_code == 403, target
            assert b"ALLOW_PRIVATE_NETWORK" in response.data
        assert counting.connections == 0
    finally:
        counting.close()
