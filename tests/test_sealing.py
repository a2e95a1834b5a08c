"""Encryption at rest of the LTI private keys and the stored secrets, with a key from the
environment or a file; off by default; a sealed secret never opens without its key."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet

from core.identity import pseudonym_secret
from core.sealing import Sealer, SealingError
from core.tokens import create_token
from lti_tool import create_app
from sidecar.api import create_app as create_api


def stored(services) -> bytes:
    client, prefix = services.redis, services.keys.prefix
    return b" ".join(
        v for key in client.scan_iter(f"{prefix}:*") if client.type(key) == b"hash" for v in client.hvals(key)
    )


def test_with_a_key_file_private_keys_and_secrets_are_sealed(services, tmp_path):
    key_file = tmp_path / "secrets.key"
    key_file.write_bytes(Fernet.generate_key())
    sealed = services.with_settings(secrets_key_file=key_file)
    app = create_app(services=sealed)
    jwks = app.test_client().get("/.well-known/jwks.json").json
    assert jwks["keys"] and "d" not in jwks["keys"][0]  # the tool signs and publishes as before
    secret = sealed.pseudonym_secret
    everything = stored(sealed)
    assert b"PRIVATE KEY" not in everything and secret.hex().encode() not in everything
    assert b"sealed:" in everything
    with pytest.raises(SealingError, match="SKILLGAP_SECRETS_KEY"):
        pseudonym_secret(services.redis, services.keys)  # without the key: refused, not misread
    with pytest.raises(SealingError, match="does not open"):
        pseudonym_secret(services.redis, services.keys, Sealer(Fernet.generate_key()))
    again = services.with_settings(secrets_key=key_file.read_text())  # the same key from the environment
    assert again.pseudonym_secret == secret


def test_off_by_default_and_values_from_before_a_key_still_read(services):
    secret = services.pseudonym_secret
    assert secret.hex().encode() in stored(services)
    assert services.with_settings(secrets_key=Fernet.generate_key().decode()).pseudonym_secret == secret


def test_an_unusable_key_is_a_clear_error(services, tmp_path):
    with pytest.raises(SealingError, match="Fernet key"):
        services.with_settings(secrets_key="not-a-key")
    with pytest.raises(SealingError, match="cannot read"):
        services.with_settings(secrets_key_file=tmp_path / "missing")


def _signed_in(api, token: str):
    client = api.test_client()
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/sign-in", data={"token": token, "csrf": csrf}).status_code == 303
    return client


def test_with_a_key_the_dashboard_session_secret_is_sealed(services):
    sealed = services.with_settings(secrets_key=Fernet.generate_key().decode())
    api = create_api(services=sealed)
    raw = services.redis.hget(services.keys.secrets, "api-session")
    assert raw.startswith(b"sealed:") and api.secret_key.encode() not in raw
    assert _signed_in(api, create_token(services.redis, services.keys, "acme")).get("/gaps").status_code == 200
    assert create_api(services=sealed).secret_key == api.secret_key  # every process opens the same
    with pytest.raises(SealingError, match="SKILLGAP_SECRETS_KEY"):
        create_api(services=services)  # without the key: refused, not misread


def test_a_dashboard_session_secret_from_before_the_key_still_signs_in(services):
    before = create_api(services=services)
    assert services.redis.hget(services.keys.secrets, "api-session") == before.secret_key.encode()
    client = _signed_in(before, create_token(services.redis, services.keys, "acme"))
    after = create_api(services=services.with_settings(secrets_key=Fernet.generate_key().decode()))
    assert after.secret_key == before.secret_key
    same_browser = after.test_client()
    # The session cookie signed before the key was set still opens the dashboard.
    same_browser.set_cookie("skillgap_dashboard", client.get_cookie("skillgap_dashboard").value)
    assert same_browser.get("/gaps").status_code == 200
    assert after.test_client().get("/gaps").status_code == 302  # (without it: the sign-in page)
