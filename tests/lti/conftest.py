"""Fixtures for the LTI tool: the tool served over real HTTP on loopback, and Open edX's LTI
consumer as the platform (tests/lti/edx_platform.py), registered with the tool."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import redis
from edx_platform import Browser, EdxPlatform, LoopbackServer

from core.services import Services, build_services
from core.settings import Settings
from lti_tool import create_app
from lti_tool.registrations import validate_registration
from lti_tool.tool import Tool
from sidecar.worker import Worker


@pytest.fixture
def lti_settings(settings: Settings) -> Settings:
    # The background poster is off: tests post queued scores themselves, synchronously. The
    # platform is served on loopback over http, which the operator must allow.
    return settings.replace(
        ags_background=False, ags_retry_base_s=2.0, allow_private_network=True, outbound_http_hosts="127.0.0.1"
    )


@pytest.fixture
def lti_services(lti_settings: Settings, redis_client: redis.Redis) -> Services:
    return build_services(lti_settings, redis_client)


class ToolServer:
    def __init__(self, services: Services):
        self.app = create_app(services=services)
        self.server = LoopbackServer(self.app)
        self.url = self.server.url
        self.tool: Tool = self.app.extensions["lti"]
        self.services = services

    def drain(self) -> None:
        """Let the stream worker apply everything on the log (as the sidecar would)."""
        Worker(self.services).run(burst=True)


@pytest.fixture
def tool_server(lti_services: Services) -> Iterator[ToolServer]:
    server = ToolServer(lti_services)
    yield server
    server.server.close()


@pytest.fixture
def platform(tool_server: ToolServer) -> Iterator[EdxPlatform]:
    platform = EdxPlatform(tool_server.url)
    yield platform
    platform.close()


@pytest.fixture
def registered(tool_server: ToolServer, platform: EdxPlatform) -> EdxPlatform:
    tool_server.tool.registrations.save(validate_registration(**platform.registration(), tenant="acme"))
    return platform


class Forger:
    """A login that really happened (state, nonce, browser cookie), and the claims a real launch
    for it would carry, for tests that change one thing and sign again."""

    def __init__(self, tool_server: ToolServer, platform: EdxPlatform, browser: Browser | None = None, **begin):
        self.tool_server, self.platform = tool_server, platform
        self.browser = browser or Browser()
        login_url = platform.begin("7", begin.pop("role", "student"), **begin)
        params = {k: v[0] for k, v in parse_qs(urlsplit(login_url).query).items()}
        self.auth = self.browser.login(tool_server.url, platform, **params)
        self.state = self.auth["state"]
        self.id_token = platform.id_token_for(self.auth)
        self.claims = jwt.decode(self.id_token, options={"verify_signature": False})

    def post(self, id_token: str | None = None, state: str | None = None, browser: Browser | None = None):
        return (browser or self.browser).post_launch(
            self.tool_server.url, id_token or self.id_token, state or self.state
        )


@pytest.fixture
def forge(tool_server: ToolServer, registered: EdxPlatform):
    return lambda **kw: Forger(tool_server, registered, **kw)
