"""Every forged or malformed launch is refused with its own 4xx, a page that says what was wrong,
and a machine-readable reason in the log. Each test starts from a real login and a real Open edX
launch, changes one thing, and signs again."""

from __future__ import annotations

import logging
import time

import pytest
from edx_platform import Browser, rsa_pem
from jwt.algorithms import RSAAlgorithm

from lti_tool import claims as c
from lti_tool import create_app


def refused(response, status: int, reason: str, caplog) -> None:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert f"reason: <code>{reason}</code>" in response.text
    assert "SkillGap could not open this page" in response.text
    assert any(f"lti_refused reason={reason} status={status}" in r.getMessage() for r in caplog.records)


def login(tool_server, platform, **params):
    """A login initiation as the platform would send it, with `params` changed."""
    query = {
        "iss": platform.issuer,
        "client_id": platform.client_id,
        "login_hint": "7",
        "target_link_uri": tool_server.url + "/lti/launch",
        **params,
    }
    return Browser().http.get(tool_server.url + "/lti/login", params=query, allow_redirects=False)


@pytest.fixture(autouse=True)
def _log(caplog):
    caplog.set_level(logging.WARNING, logger="lti_tool")


def test_the_untouched_launch_is_accepted(forge):
    forger = forge()
    assert forger.post().status_code == 200


def test_bad_signature(forge, caplog):
    forger = forge()
    refused(forger.post(forger.platform.sign(forger.claims, key_pem=rsa_pem())), 401, "bad_signature", caplog)


def test_unknown_kid_after_one_jwks_refetch(forge, caplog):
    forger = forge()
    assert forge().post().status_code == 200  # the tool has the platform's key set cached now
    fetched = forger.platform.jwks_requests
    token = forger.platform.sign(forger.claims, key_pem=rsa_pem(), kid="not-published")
    refused(forger.post(token), 401, "unknown_kid", caplog)
    assert forger.platform.jwks_requests == fetched + 1
    # Within the re-fetch interval, another unknown kid does not make the tool fetch again.
    again = forge()
    refused(again.post(again.platform.sign(again.claims, key_pem=rsa_pem(), kid="other")), 401, "unknown_kid", caplog)
    assert forger.platform.jwks_requests == fetched + 1


def test_a_platform_key_rotation_is_followed_by_one_refetch(forge):
    first = forge()
    assert first.post().status_code == 200
    platform = first.platform
    new_pem = rsa_pem()
    jwk = RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(new_pem).public_key(), as_dict=True)
    platform.extra_jwks.append({**jwk, "kid": "rotated", "alg": "RS256", "use": "sig"})
    second = forge()
    assert second.post(platform.sign(second.claims, key_pem=new_pem, kid="rotated")).status_code == 200


def test_alg_none(forge, caplog):
    forger = forge()
    refused(forger.post(forger.platform.sign_none(forger.claims)), 401, "alg_not_allowed", caplog)


def test_hs256_signed_with_the_public_key(forge, caplog):
    forger = forge()
    refused(forger.post(forger.platform.sign_hs256_with_public_key(forger.claims)), 401, "alg_not_allowed", caplog)


def test_expired(forge, caplog):
    forger = forge()
    claims = {**forger.claims, "iat": int(time.time()) - 600, "exp": int(time.time()) - 60}
    refused(forger.post(forger.platform.sign(claims)), 401, "expired", caplog)


def test_expired_within_the_leeway_is_accepted(forge):
    forger = forge()
    claims = {**forger.claims, "exp": int(time.time()) - 3}
    assert forger.post(forger.platform.sign(claims)).status_code == 200


def test_iat_in_the_future(forge, caplog):
    forger = forge()
    claims = {**forger.claims, "iat": int(time.time()) + 300, "exp": int(time.time()) + 900}
    refused(forger.post(forger.platform.sign(claims)), 401, "iat_in_future", caplog)


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        pytest.param({"aud": "another-tool", "azp": "another-tool"}, 401, "wrong_aud", id="wrong_aud"),
        pytest.param({"azp": "another-tool"}, 401, "wrong_azp", id="wrong_azp"),
        pytest.param({"iss": "https://evil.example.com"}, 401, "wrong_iss", id="wrong_iss"),
        pytest.param({c.DEPLOYMENT_ID: "999"}, 403, "unknown_deployment", id="unknown_deployment"),
        pytest.param(
            {c.MESSAGE_TYPE: "LtiSubmissionReviewRequest"},
            400,
            "unsupported_message_type",
            id="unsupported_message_type",
        ),
    ],
)
def test_a_changed_claim(forge, caplog, changes, status, reason):
    """One case per forged claim value, each refused with its own status and reason."""
    forger = forge()
    claims = {**forger.claims, **changes}
    refused(forger.post(forger.platform.sign(claims)), status, reason, caplog)


def test_several_audiences_without_azp(forge, caplog):
    forger = forge()
    claims = {**forger.claims, "aud": [forger.platform.client_id, "another-tool"]}
    del claims["azp"]
    refused(forger.post(forger.platform.sign(claims)), 401, "wrong_azp", caplog)


def test_unknown_deployment_at_login(tool_server, registered, caplog):
    refused(login(tool_server, registered, lti_deployment_id="999"), 403, "unknown_deployment", caplog)


def test_unknown_client_id(tool_server, registered, caplog):
    refused(login(tool_server, registered, client_id="nobody"), 403, "unknown_client_id", caplog)


def test_unknown_platform(tool_server, registered, caplog):
    refused(
        login(tool_server, registered, iss="https://lms.nowhere.example", client_id=""), 403, "unknown_platform", caplog
    )


def test_target_link_uri_elsewhere(tool_server, registered, caplog):
    refused(
        login(tool_server, registered, target_link_uri="https://evil.example.com/x"), 400, "bad_target_link_uri", caplog
    )


def test_replayed_id_token(forge, caplog):
    forger = forge()
    assert forger.post().status_code == 200
    refused(forger.post(), 401, "replayed_id_token", caplog)


def test_id_token_of_another_login(forge, caplog):
    first, second = forge(), forge()
    refused(second.post(state=second.state, id_token=first.id_token), 401, "nonce_mismatch", caplog)


def test_state_mismatch_another_browser(forge, caplog):
    victim = forge()
    attacker = forge()  # a browser with its own cookie from its own login
    refused(victim.post(browser=attacker.browser), 403, "state_mismatch", caplog)


def test_cookies_refused_offers_a_new_window(forge, caplog):
    forger = forge()
    forger.browser.http.cookies.clear()
    response = forger.post()
    refused(response, 401, "cookies_refused", caplog)
    assert 'target="_blank"' in response.text and "Open SkillGap in a new window" in response.text
    assert "/lti/login?iss=" in response.text


def test_unknown_state(forge, caplog):
    forger = forge()
    refused(forger.post(state="made-up"), 400, "state_unknown", caplog)


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        (c.MESSAGE_TYPE, "missing_claim"),
        (c.VERSION, "missing_claim"),
        (c.ROLES, "missing_claim"),
        ("sub", "missing_claim"),
    ],
    ids=["message_type", "version", "roles", "sub"],
)
def test_missing_claim(forge, caplog, claim, reason):
    forger = forge()
    claims = dict(forger.claims)
    del claims[claim]
    response = forger.post(forger.platform.sign(claims))
    refused(response, 400, reason, caplog)
    assert claim.rsplit("/", 1)[-1] in response.text


def test_not_a_jwt(forge, caplog):
    forger = forge()
    refused(forger.post("not.a-jwt"), 401, "malformed_id_token", caplog)


def test_get_on_the_launch_url_is_a_clear_405(tool_server, caplog):
    response = Browser().http.get(tool_server.url + "/lti/launch")
    assert response.status_code == 405 and "SkillGap could not open this page" in response.text


def test_cookies_behind_a_proxy_are_samesite_none_secure_partitioned(lti_services, registered):
    behind_proxy = lti_services.with_settings(tool_proxies=1)
    app = create_app(services=behind_proxy)
    response = app.test_client().get(
        "/lti/login",
        query_string={
            "iss": registered.issuer,
            "client_id": registered.client_id,
            "login_hint": "7",
            "target_link_uri": "https://tool.example.com/lti/launch",
        },
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tool.example.com", "X-Forwarded-For": "10.0.0.1"},
    )
    assert response.status_code == 302, response.text
    cookie = response.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attribute in cookie
    assert "redirect_uri=https%3A%2F%2Ftool.example.com%2Flti%2Flaunch" in response.headers["Location"]


def test_plain_http_development_cookies_are_lax(tool_server, registered):
    response = login(tool_server, registered)
    assert "SameSite=Lax" in response.headers["Set-Cookie"] and "Secure" not in response.headers["Set-Cookie"]


def test_forged_signatures_from_one_address_are_limited(forge, caplog):
    forger = forge()
    settings = forger.tool_server.services.settings
    forged = forger.platform.sign(forger.claims, key_pem=rsa_pem())
    for _ in range(settings.auth_failures_allowed):
        assert forger.post(forged).status_code == 401
    response = forger.post(forged)
    refused(response, 429, "too_many_attempts", caplog)
    assert 0 < int(response.headers["Retry-After"]) <= settings.auth_failure_window_s
    # The forgeries hold back only failed launches: the genuine one from the same address opens.
    assert forger.post().status_code == 200


# Refusals anyone can cause without the platform's key: the token is not looked at (state,
# cookie), or is a real one sent again (nonce, replay), or names a kid nobody published.
NO_SECRET_NEEDED = {
    "state_unknown": lambda victim, other: victim.post(state="made-up"),
    "state_mismatch": lambda victim, other: victim.post(browser=other.browser),
    "cookies_refused": lambda victim, other: victim.post(browser=Browser()),
    "nonce_mismatch": lambda victim, other: victim.post(id_token=other.id_token),
    "replayed_id_token": lambda victim, other: other.post(),
    "unknown_kid": lambda victim, other: victim.post(
        victim.platform.sign(victim.claims, key_pem=rsa_pem(), kid="not-published")
    ),
}


@pytest.mark.parametrize("reason", list(NO_SECRET_NEEDED))
def test_refusals_needing_no_secret_never_lock_out_an_address(forge, caplog, reason):
    victim, other = forge(), forge()
    if reason == "replayed_id_token":
        assert other.post().status_code == 200
    for _ in range(victim.tool_server.services.settings.auth_failures_allowed + 1):
        response = NO_SECRET_NEEDED[reason](victim, other)
        assert response.status_code != 429 and f"reason: <code>{reason}</code>" in response.text
    assert victim.post().status_code == 200  # a valid launch from the same address
