"""Who may use the API: named tokens that can be listed and revoked, `skillgap run` keeping its
token between runs, and failed authentications limited per address and key (429 Retry-After)
on the API, the xAPI endpoint and LTI launches."""

from __future__ import annotations

import base64

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
    good = create_token(limited.redis, limited.keys, "acme")
    client = create_app(services=limited).test_client()
    for attempt in range(3):
        assert (
            client.get("/v1/learners", headers={"Authorization": f"Bearer sgk_wrong-{attempt:020d}"}).status_code == 401
        )
    refused = client.get("/v1/learners", headers=bearer(good))
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Another address is not held back by this one's failures.
    elsewhere = client.get("/v1/learners", headers=bearer(good), environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 200


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
    refused = post(secret)
    assert (
        refused.status_code == 429
        and refused.json["error"]["code"] == "too_many_requests"
        and "Retry-After" in refused.headers
    )
