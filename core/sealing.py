"""Secrets at rest. With a key (`SKILLGAP_SECRETS_KEY`, or the file `SKILLGAP_SECRETS_KEY_FILE`
names: a Fernet key, `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)
the LTI private keys and the stored secrets (pseudonym key, the tool's Flask key, the dashboard's
session key) are kept in Redis encrypted (Fernet: AES-128-CBC with HMAC-SHA256); without one,
the embedded demo's default, as they are. A sealed value starts with "sealed:": values stored
before a key was set are still read, and a sealed value without the right key fails loudly
instead of being misread."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from core.errors import UserError
from core.settings import Settings

SEALED = "sealed:"


class SealingError(UserError, ValueError):
    """A sealed secret that cannot be opened (no key, or another key), or an unusable key."""


class Sealer:
    def __init__(self, key: bytes | None = None):
        try:
            self.fernet = Fernet(key) if key else None
        except ValueError:
            raise SealingError("the secrets key must be a Fernet key (32 url-safe base64-encoded bytes)") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        if settings.secrets_key:
            return cls(settings.secrets_key.encode())
        if settings.secrets_key_file is not None:
            try:
                return cls(settings.secrets_key_file.read_bytes().strip())
            except OSError as exc:
                raise SealingError(f"cannot read SKILLGAP_SECRETS_KEY_FILE: {exc.strerror}") from None
        return cls()

    def seal(self, text: str) -> str:
        return text if self.fernet is None else SEALED + self.fernet.encrypt(text.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        if self.fernet is None:
            raise SealingError("a stored secret is encrypted: set SKILLGAP_SECRETS_KEY or SKILLGAP_SECRETS_KEY_FILE")
        try:
            return self.fernet.decrypt(stored[len(SEALED) :].encode()).decode()
        except InvalidToken:
            raise SealingError("a stored secret does not open with this secrets key") from None
