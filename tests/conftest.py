"""Shared fixtures. Tests talk to a real Redis: the one at REDIS_URL, else 127.0.0.1:6379
when it answers, else an embedded server started for the session.

Each test gets its own key prefix and deletes only its own keys, so tests never touch
other data on the server and several test runs can share one Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.redis_server import EmbeddedRedis
from core.services import Services, build_services
from core.settings import ROOT, Settings
from lms_helpers import bearer, delete_prefix

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        if not _answers(url):
            pytest.fail(f"REDIS_URL={url} does not answer")
        yield url
    elif _answers(LOCAL_REDIS):
        yield LOCAL_REDIS
    else:
        with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
            yield server.url


@pytest.fixture
def key_prefix() -> str:
    return f"sgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    delete_prefix(client, key_prefix)
    client.close()


@pytest.fixture
def settings(redis_url: str, key_prefix: str, tmp_path: Path) -> Settings:
    return Settings.load(
        {
            "redis_url": redis_url,
            "key_prefix": key_prefix,
            "data_dir": tmp_path / "data",
            "catalog_path": ROOT / "config" / "catalog",
            "partitions": 4,
            "block_ms": 10,
        },
        environ={},
    )


@pytest.fixture
def services(settings: Settings, redis_client: redis.Redis) -> Services:
    return build_services(settings, redis_client)


# The analyst API's app and an "acme" bearer token. Imported inside: engine-only runs skip the web app.
@pytest.fixture
def app(services: Services):
    from sidecar.api import create_app

    return create_app(services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(services: Services) -> str:
    from core.tokens import create_token

    return create_token(services.redis, services.keys, "acme")


@pytest.fixture
def headers(token: str) -> dict:
    return bearer(token)
