"""Who may use the API: named tokens that can be listed and revoked, `skillgap run` keeping its
token between runs, and failed authentications limited per address and key (429 Retry-After)
on the API, the xAPI endpoint and LTI launches."""

from __future__ import annotations

import base64
import re

import pytest

from core.tokens import create_token, list_tokens, tenant_for
from lms_helpers import bearer, cli_env
from lti_tool import create_app as create_tool
from lti_tool.xapi.credentials import create_credentials
from sidecar.api import create_app
from skillgap.cli import main
from skillgap.run import TOKEN_FILE, _analyst_token


@pytest.fixture
def limited(services):
    return services.with_settings(auth_failures_allowed=3, auth_failure_window_s=60)


def test_token_create_list_revoke(settings, services, capsys, monkeypatch):
    cli_env(monkeypatch, settings)
    assert main(["token", "create", "--tenant", "acme", "--name", "dashboards"]) == 0
    token = capsys.readouterr().out.strip()
    client = create_app(services=services).test_client()
    assert client.get("/v1/learners", headers=bearer(token)).status_code == 200

    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    [info] = list_tokens(services.redis, services.keys)
    assert info.name == "dashboards" and info.last_used is not None
    assert f"{info.id}\tacme\tdashboards\t" in listing and token not in listing

    assert main(["token", "revoke", info.id]) == 0
    assert "revoked token" in capsys.readouterr().out
    response = client.get("/v1/learners", headers=bearer(token))
    assert response.status_code == 401
    assert list_tokens(services.redis, services.keys) == []
    assert main(["token", "revoke", info.id]) == 2  # already gone: a clear error


def test_run_keeps_and_reuses_its_token(settings, services, tmp_path):
    settings = settings.replace(data_dir=tmp_path)
    first = _analyst_token(services.redis, services.keys, settings)
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o077 == 0  # readable by its owner only
    assert _analyst_token(services.redis, services.keys, settings) == first
    assert len(list_tokens(services.redis, services.keys)) == 1
    services.redis.delete(services.keys.tokens)  # revoked: the next run makes a new one
    second = _analyst_token(services.redis, services.keys, settings)
    assert second != first and tenant_for(services.redis, services.keys, second) == settings.default_tenant


def test_wrong_api_tokens_are_limited_per_address(limited):
    client = create_app(services=limited).test_client()
    for attempt in range(3):
        assert (
            client.get("/v1/learners", headers={"Authorization": f"Bearer sgk_wrong-{attempt:020d}"}).status_code == 401
        )
    refused = client.get("/v1/learners", headers={"Authorization": "Bearer sgk_wrong-once-more-000000"})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_a_right_token_is_accepted_from_a_locked_address(limited):
    """Anyone behind the same address (a NAT) can send wrong tokens: they must not lock out the
    analysts there, whose right token is checked before the address's count."""
    good = create_token(limited.redis, limited.keys, "acme")
    client = create_app(services=limited).test_client()
    for attempt in range(4):
        client.get("/v1/learners", headers={"Authorization": f"Bearer sgk_wrong-{attempt:020d}"})
    assert client.get("/v1/learners", headers={"Authorization": "Bearer sgk_wrong-x"}).status_code == 429
    assert client.get("/v1/learners", headers=bearer(good)).status_code == 200


def test_a_right_token_signs_in_to_the_dashboard_from_a_locked_address(limited):
    good = create_token(limited.redis, limited.keys, "acme")
    client = create_app(services=limited).test_client()

    def sign_in(token: str):
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
        return client.post("/sign-in", data={"token": token, "csrf": csrf})

    assert [sign_in(f"sgk_wrong-{n:020d}").status_code for n in range(3)] == [401, 401, 401]
    locked = sign_in("sgk_wrong-once-more-000000")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 60
    assert sign_in(good).status_code == 303


def test_the_api_behind_a_proxy_limits_the_client_not_the_proxy(limited):
    """With SKILLGAP_API_PROXIES=1 the address counted is the one the proxy forwards: one
    client's wrong tokens do not hold back another client behind the same proxy."""
    client = create_app(services=limited.with_settings(api_proxies=1)).test_client()

    def wrong_from(address: str):
        return client.get(
            "/v1/learners", headers={"Authorization": "Bearer sgk_wrong-" + address, "X-Forwarded-For": address}
        )

    assert [wrong_from("198.51.100.1").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert wrong_from("198.51.100.2").status_code == 401
    # Without the setting the proxy's own address is the one counted: every client shares it.
    direct = create_app(services=limited).test_client()
    for n in range(3):
        direct.get("/v1/learners", headers={"Authorization": f"Bearer sgk_w{n}", "X-Forwarded-For": "198.51.100.3"})
    shared = direct.get("/v1/learners", headers={"Authorization": "Bearer sgk_w9", "X-Forwarded-For": "198.51.100.4"})
    assert shared.status_code == 429


def test_one_token_guessed_from_many_addresses_is_limited_per_key(limited):
    client = create_app(services=limited).test_client()
    for n in range(3):
        client.get(
            "/v1/learners",
            headers={"Authorization": "Bearer sgk_guessed-token-000000"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        )
    again = client.get(
        "/v1/learners",
        headers={"Authorization": "Bearer sgk_guessed-token-000000"},
        environ_base={"REMOTE_ADDR": "10.0.0.99"},
    )
    assert again.status_code == 429


def test_wrong_xapi_secrets_are_limited(limited):
    credential, secret = create_credentials(limited.redis, limited.keys, "acme", "moodle", "https://moodle.example.com")
    client = create_tool(services=limited).test_client()

    def post(password: str):
        auth = base64.b64encode(f"{credential.key}:{password}".encode()).decode()
        return client.get("/xapi/status", headers={"Authorization": f"Basic {auth}"})

    assert [post("wrong").status_code for _ in range(3)] == [401, 401, 401]
    refused = post("wrong again")
    assert (
        refused.status_code == 429
        and refused.json["error"]["code"] == "too_many_requests"
        and "Retry-After" in refused.headers
    )
    # The LMS's right secret is taken from the same address all the same: wrong ones sent by
    # others behind it (a NAT, a proxy) cannot lock it out.
    assert post(secret).status_code == 200
