"""Encryption at rest of the LTI private keys and the stored secrets, with a key from the
environment or a file; off by default; a sealed secret never opens without its key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.identity import pseudonym_secret
from core.sealing import Sealer, SealingError
from lti_tool import create_app


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
