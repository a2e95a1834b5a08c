"""The tool's signing keys: JWKS, rotation with a grace period, and a platform that keeps
verifying the tool across a rotation."""

from __future__ import annotations

import time

from edx_platform import Browser, first_form

from lms_helpers import cli_env
from lti_tool import create_app
from lti_tool.tool import build_tool
from skillgap.cli import main


def test_the_jwks_publishes_the_signing_key(tool_server):
    jwks = Browser().http.get(tool_server.url + "/.well-known/jwks.json").json()
    [key] = jwks["keys"]
    assert key["kid"] == tool_server.tool.signing.current().kid
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key and "p" not in key  # public parts only


def test_rotation_keeps_the_old_key_for_the_grace_period_then_drops_it(tool_server):
    signing = tool_server.tool.signing
    old = signing.current()
    now = time.time()
    new, deleted = signing.rotate(now)
    assert deleted == [] and signing.current().kid == new.kid != old.kid
    assert [k.kid for k in signing.published(now)] == [old.kid, new.kid]
    after_grace = now + signing.grace_s + 1
    assert [k.kid for k in signing.published(after_grace)] == [new.kid]
    newest, deleted = signing.rotate(after_grace)
    assert [k.kid for k in deleted] == [old.kid]
    assert {k.kid for k in signing.published(after_grace)} == {new.kid, newest.kid}


def test_the_platform_verifies_the_tool_across_a_rotation(tool_server, registered, capsys, monkeypatch):
    settings = tool_server.services.settings
    cli_env(monkeypatch, settings)
    old = tool_server.tool.signing.current().kid
    assert main(["keys", "rotate"]) == 0
    assert "new signing key" in capsys.readouterr().out
    assert tool_server.tool.signing.current().kid != old
    jwks = Browser().http.get(tool_server.url + "/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} == {old, tool_server.tool.signing.current().kid}

    # A deep-linking response and an AGS token request, both signed with the new key.
    browser = Browser()
    picker = browser.launch(registered.begin("teacher-k", "staff", message_type="LtiDeepLinkingRequest")).text
    action, _ = first_form(picker)
    return_url, fields = first_form(browser.http.post(tool_server.url + action, data=[("item", "widget")]).text)
    assert browser.http.post(return_url, data=fields).json() == {"saved": 1}
    Browser().launch(registered.begin("student-k"))
    assert tool_server.tool.scores.post_due() == (1, 0)


def test_processes_agree_on_one_key(tool_server, lti_services):
    other = build_tool(lti_services)
    assert other.signing.current().kid == tool_server.tool.signing.current().kid


def test_the_flask_secret_key_is_generated_once_and_shared(lti_services):
    first, second = create_app(services=lti_services), create_app(services=lti_services)
    assert first.secret_key == second.secret_key and len(first.secret_key) == 64
    assert lti_services.redis.hget(lti_services.keys.secrets, "flask").decode() == first.secret_key
