"""Helpers shared by the LMS channel tests (xAPI intake, Moodle sync)."""

from __future__ import annotations

from skillgap.eventlog import decode_entry


def events_on_stream(services) -> list[dict]:
    """Every event on the partition streams, as the wire dicts the workers read."""
    found = []
    for p in range(services.settings.partitions):
        for _, fields in services.redis.xrange(services.keys.stream(p)):
            found.extend(decode_entry(fields))
    return found


def cli_env(monkeypatch, settings, **more: str) -> None:
    """Point `skillgap` commands run in-process at the test's Redis and key prefix."""
    values = {
        "SKILLGAP_REDIS_URL": settings.redis_url,
        "SKILLGAP_KEY_PREFIX": settings.key_prefix,
        **more,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
