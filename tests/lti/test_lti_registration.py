"""Installing the tool: Dynamic Registration against a platform, `skillgap platform add` by hand,
and the setup page; then a launch from the platform so registered works."""

from __future__ import annotations

from urllib.parse import urlencode

from edx_platform import Browser

from lms_helpers import cli_env
from lti_tool import create_app
from skillgap.cli import main


def register_url(tool_server, platform, invite_tenant: str = "globex", **extra) -> str:
    """What the LMS opens: the operator's invite URL with the platform's two parameters added."""
    params = {
        "invite": tool_server.tool.invites.create(invite_tenant, 3600),
        "openid_configuration": platform.url + "/.well-known/openid-configuration",
        "registration_token": platform.registration_token,
        **extra,
    }
    return tool_server.url + "/lti/register?" + urlencode(params)


def test_dynamic_registration_then_a_launch(tool_server, platform):
    # The tenant is the invite's: a tenant named in the query changes nothing.
    page = Browser().http.get(register_url(tool_server, platform, invite_tenant="globex", tenant="acme"))
    assert page.status_code == 200, page.text
    assert "SkillGap is registered" in page.text
    assert 'postMessage({ subject: "org.imsglobal.lti.close" }' in page.text
    posted = platform.tool_registration
    assert posted["initiate_login_uri"] == tool_server.url + "/lti/login"
    assert posted["jwks_uri"] == tool_server.url + "/.well-known/jwks.json"
    assert tool_server.url + "/lti/launch" in posted["redirect_uris"]
    assert set(posted["scope"].split()) >= {
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    }
    [registration] = tool_server.tool.registrations.all()
    assert (registration.tenant, registration.client_id, registration.deployments) == (
        "globex",
        platform.client_id,
        ("1",),
    )
    assert registration.source == "dynamic"

    assert Browser().launch(platform.begin("dyn-student")).status_code == 200


def test_moodle_registration_says_the_tool_is_pending(tool_server, platform):
    platform.product = "moodle"
    page = Browser().http.get(register_url(tool_server, platform, invite_tenant="initech")).text
    assert "Pending" in page and "Activate" in page
    [registration] = tool_server.tool.registrations.all()
    assert registration.tenant == "initech"


def test_a_wrong_registration_token_is_a_clear_error_that_quotes_nothing_remote(tool_server, platform):
    response = Browser().http.get(register_url(tool_server, platform, registration_token="stale"))
    assert response.status_code == 502 and "registration_failed" in response.text and "HTTP 401" in response.text
    assert "invalid registration token" not in response.text  # the platform's body
    assert tool_server.tool.registrations.all() == []


def test_registration_without_openid_configuration(tool_server):
    response = Browser().http.get(
        tool_server.url + "/lti/register?invite=" + tool_server.tool.invites.create("globex", 60)
    )
    assert response.status_code == 400 and "openid_configuration" in response.text


def test_registration_from_a_host_not_allowed(lti_services, platform):
    services = lti_services.with_settings(lti_registration_hosts="lms.example.com")
    app = create_app(services=services)
    invite = app.extensions["lti"].invites.create("globex", 60)
    response = app.test_client().get(
        "/lti/register",
        query_string={"invite": invite, "openid_configuration": platform.url + "/.well-known/openid-configuration"},
    )
    assert response.status_code == 403 and b"registration_refused" in response.data


def test_platform_add_by_hand_then_a_launch(tool_server, platform, capsys, monkeypatch):
    settings = tool_server.services.settings
    cli_env(monkeypatch, settings)
    reg = platform.registration()
    status = main(
        [
            "platform",
            "add",
            "--issuer",
            reg["issuer"],
            "--client-id",
            reg["client_id"],
            "--auth-url",
            reg["auth_login_url"],
            "--token-url",
            reg["auth_token_url"],
            "--jwks-url",
            reg["jwks_url"],
            "--deployment",
            "1",
            "--tenant",
            "initech",
        ]
    )
    assert status == 0 and "for tenant initech" in capsys.readouterr().out
    assert Browser().launch(platform.begin("manual-student")).status_code == 200
    assert main(["platform", "list"]) == 0 and "initech" in capsys.readouterr().out


def test_platform_add_rejects_a_bad_url(tool_server, capsys, monkeypatch):
    settings = tool_server.services.settings
    cli_env(monkeypatch, settings)
    status = main(
        [
            "platform",
            "add",
            "--issuer",
            "moodle.example.com",
            "--client-id",
            "x",
            "--auth-url",
            "https://a",
            "--token-url",
            "https://b",
            "--jwks-url",
            "https://c",
        ]
    )
    assert status == 2 and "issuer must be an http(s) URL" in capsys.readouterr().err


def test_setup_page_lists_every_url_and_the_keys(tool_server):
    page = Browser().http.get(tool_server.url + "/lti/setup").text
    for path in ("/lti/login", "/lti/launch", "/.well-known/jwks.json", "/lti/register"):
        assert tool_server.url + path in page
    assert tool_server.tool.signing.current().kid in page
