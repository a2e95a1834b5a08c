"""Calling a platform's LTI Advantage services (AGS, NRPS) as the tool: an OAuth 2 access token
from the client-credentials grant with a signed JWT (1EdTech Security Framework §4.1), cached in
Redis until its `expires_in`, then JSON requests that follow `Link: rel="next"` pages.

pylti1p3's ServiceConnector caches tokens only inside one connector object, and lower-cases the
next-page URL it reads from the Link header; this client does neither."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterator

import redis

from lti_tool.outbound import Outbound, OutboundError, Reply
from lti_tool.redis_keys import LtiKeys
from lti_tool.registrations import Registration
from lti_tool.signing import SigningKeys

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 30  # renew a token this long before the platform says it expires
MAX_TOKEN_CACHE_S = 86_400  # whatever expires_in the platform names
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


class ServiceError(Exception):
    """A platform service call that failed; `status` is the HTTP status, None when no answer came."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class PlatformServices:
    def __init__(self, client: redis.Redis, lti_keys: LtiKeys, signing: SigningKeys, outbound: Outbound):
        self.client = client
        self.lti_keys = lti_keys
        self.signing = signing
        self.outbound = outbound

    def access_token(self, registration: Registration, scopes: list[str], *, renew: bool = False) -> str:
        scope = " ".join(sorted(set(scopes)))
        key = self.lti_keys.access_token(registration.issuer, registration.client_id, scope)
        if not renew:
            cached = self.client.get(key)
            if cached:
                return cached.decode()
        now = int(time.time())
        assertion = self.signing.sign(
            {
                "iss": registration.client_id,
                "sub": registration.client_id,
                "aud": registration.auth_audience or registration.auth_token_url,
                "iat": now,
                "exp": now + 300,
                "jti": secrets.token_urlsafe(16),
            }
        )
        body = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": scope,
        }
        response = self._send(
            registration, "POST", registration.auth_token_url, form=body, headers={"Accept": "application/json"}
        )
        try:
            answer = response.json()
            token = answer["access_token"]
            expires_in = min(int(answer.get("expires_in", 3600)), MAX_TOKEN_CACHE_S)
            if not isinstance(token, str) or not 0 < len(token) <= 4096:
                raise TypeError
        except (ValueError, KeyError, TypeError, OverflowError):
            raise ServiceError(
                f"{registration.auth_token_url} answered without an access_token", response.status
            ) from None
        if expires_in > TOKEN_MARGIN_S:
            self.client.set(key, token, ex=expires_in - TOKEN_MARGIN_S)
        return token

    def _send(self, registration: Registration, method: str, url: str, **kwargs) -> Reply:
        """Every call stays on the platform's registered origins, whatever URL a launch or page named."""
        try:
            return self.outbound.request(method, url, origins=registration.origins, **kwargs)
        except OutboundError as exc:
            raise ServiceError(str(exc), exc.status) from None

    def request(
        self,
        registration: Registration,
        scopes: list[str],
        method: str,
        url: str,
        *,
        accept: str = "application/json",
        json_body: object = None,
        content_type: str | None = None,
    ) -> Reply:
        """One service call; a 401 with a cached token renews the token once (it may have been revoked)."""
        try:
            self.outbound.check(url, registration.origins)  # before a token is asked for
        except OutboundError as exc:
            raise ServiceError(str(exc)) from None
        for renew in (False, True):
            headers = {
                "Authorization": f"Bearer {self.access_token(registration, scopes, renew=renew)}",
                "Accept": accept,
            }
            if content_type:
                headers["Content-Type"] = content_type
            try:
                return self._send(registration, method, url, headers=headers, json=json_body)
            except ServiceError as exc:
                if exc.status != 401 or renew:
                    raise
        raise AssertionError("unreachable")

    def pages(
        self, registration: Registration, scopes: list[str], url: str, accept: str, max_pages: int = 1000
    ) -> Iterator[dict]:
        """The JSON bodies of `url` and of the pages its Link headers name, in order."""
        next_url: str | None = url
        for _ in range(max_pages):
            if next_url is None:
                return
            response = self.request(registration, scopes, "GET", next_url, accept=accept)
            try:
                yield response.json()
            except ValueError:
                raise ServiceError(f"GET {next_url}: the answer is not JSON", response.status) from None
            match = NEXT_LINK.search(response.headers.get("Link", ""))
            next_url = match.group(1) if match else None
        log.warning("stopped following %s after %d pages", url, max_pages)
