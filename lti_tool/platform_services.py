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
import requests

from lti_tool.redis_keys import LtiKeys
from lti_tool.registrations import Registration
from lti_tool.signing import SigningKeys

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 30  # renew a token this long before the platform says it expires
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


class ServiceError(Exception):
    """A platform service call that failed; `status` is the HTTP status, None when no answer came."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class PlatformServices:
    def __init__(self, client: redis.Redis, lti_keys: LtiKeys, signing: SigningKeys, http: requests.Session, timeout_s: float):
        self.client = client
        self.lti_keys = lti_keys
        self.signing = signing
        self.http = http
        self.timeout_s = timeout_s

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
        response = self._send("POST", registration.auth_token_url, data=body, headers={"Accept": "application/json"})
        try:
            answer = response.json()
            token = answer["access_token"]
            expires_in = int(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ServiceError(f"{registration.auth_token_url} answered without an access_token", response.status_code) from None
        if expires_in > TOKEN_MARGIN_S:
            self.client.set(key, token, ex=expires_in - TOKEN_MARGIN_S)
        return token

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            response = self.http.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise ServiceError(f"{method} {url}: {exc}") from None
        if not response.ok:
            raise ServiceError(f"{method} {url}: HTTP {response.status_code} {response.text[:300]}", response.status_code)
        return response

    def request(
        self, registration: Registration, scopes: list[str], method: str, url: str, *,
        accept: str = "application/json", json_body: object = None, content_type: str | None = None,
    ) -> requests.Response:  # fmt: skip
        """One service call; a 401 with a cached token renews the token once (it may have been revoked)."""
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self.access_token(registration, scopes, renew=renew)}", "Accept": accept}
            if content_type:
                headers["Content-Type"] = content_type
            try:
                return self._send(method, url, headers=headers, json=json_body)
            except ServiceError as exc:
                if exc.status != 401 or renew:
                    raise
        raise AssertionError("unreachable")

    def pages(self, registration: Registration, scopes: list[str], url: str, accept: str, max_pages: int = 1000) -> Iterator[dict]:
        """The JSON bodies of `url` and of the pages its Link headers name, in order."""
        next_url: str | None = url
        for _ in range(max_pages):
            if next_url is None:
                return
            response = self.request(registration, scopes, "GET", next_url, accept=accept)
            try:
                yield response.json()
            except ValueError:
                raise ServiceError(f"GET {next_url}: the answer is not JSON", response.status_code) from None
            match = NEXT_LINK.search(response.headers.get("Link", ""))
            next_url = match.group(1) if match else None
        log.warning("stopped following %s after %d pages", url, max_pages)
