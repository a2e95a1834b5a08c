"""Helpers shared by the tests: the LMS channel tests (xAPI intake, Moodle sync, LTI), the
commands run in-process, and key cleanup (a server's free port: skillgap.processes.free_port)."""

from __future__ import annotations

import base64
import time

import redis

from core.wire import decode_entry


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete every key under one key prefix (a test's own), in chunks."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])


def events_on_stream(services) -> list[dict]:
    """Every event on the partition streams, as the wire dicts the workers read."""
    found = []
    for p in range(services.settings.partitions):
        for _, fields in services.redis.xrange(services.keys.stream(p)):
            found.extend(decode_entry(fields))
    return found


def xapi_headers(services, platform: str, home: str, version: str = "1.0.3") -> dict:
    """Basic-auth headers of a new "acme" xAPI credential for the LMS at `home`."""
    from lti_tool.xapi.credentials import create_credentials

    credential, secret = create_credentials(services.redis, services.keys, "acme", platform, home)
    return basic_headers(credential, secret, version)


def register_moodle(services, site: str, tenant: str, client_id: str = "c1") -> None:
    """Save the LTI registration of the Moodle at `site` (its usual endpoints), in `tenant`."""
    from lti_tool.redis_keys import LtiKeys
    from lti_tool.registrations import RegistrationStore, validate_registration

    RegistrationStore(services.redis, LtiKeys(services.keys)).save(
        validate_registration(
            issuer=site,
            client_id=client_id,
            auth_login_url=f"{site}/mod/lti/auth.php",
            auth_token_url=f"{site}/mod/lti/token.php",
            jwks_url=f"{site}/mod/lti/certs.php",
            deployments=["1"],
            tenant=tenant,
        )
    )


def basic_headers(credential, secret: str, version: str = "1.0.3") -> dict:
    """The xAPI headers of a request with this credential's key and `secret` (the right one or not)."""
    token = base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Experience-API-Version": version}


def bearer(token: str) -> dict:
    """The analyst API's Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def first_quiz(catalog):
    """The catalog's first module whose method is a quiz."""
    return next(m for m in catalog.modules if m.method == "quiz")


def graded_event(services, **changes: object) -> dict:
    """An event as POST /v1/events takes it: learner u-1's score on the catalog's first quiz, a
    minute ago, in cohort course-1; `changes` set or add fields."""
    return {
        "learner": "u-1",
        "module": first_quiz(services.catalog).id,
        "kind": "graded",
        "score": 0.8,
        "timestamp": time.time() - 60,
        "cohort": "course-1",
    } | changes


def settings_env(settings) -> dict[str, str]:
    """The environment that points a `skillgap` process at the test's Redis, key prefix and
    partitions."""
    return {
        "SKILLGAP_REDIS_URL": settings.redis_url,
        "SKILLGAP_KEY_PREFIX": settings.key_prefix,
        "SKILLGAP_PARTITIONS": str(settings.partitions),
    }


def cli_env(monkeypatch, settings, **more: str) -> None:
    """Point `skillgap` commands run in-process at the test's Redis, key prefix and partitions."""
    for name, value in (settings_env(settings) | more).items():
        monkeypatch.setenv(name, value)
