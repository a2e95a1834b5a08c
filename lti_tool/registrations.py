"""Platform registrations: which LMS (issuer, client id, deployments) may launch the tool, where
its endpoints are, and which tenant its learners belong to. Kept in Redis, many per tenant."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlsplit

import orjson
import redis

from core.errors import UserError
from core.events import TENANT_PATTERN
from core.keys import Keys
from lti_tool.outbound import Origin, origin_of
from lti_tool.redis_keys import LtiKeys


class InvalidRegistration(UserError, ValueError):
    """A registration that cannot be used; the message names the field."""


class RegistrationExists(UserError, ValueError):
    """A registration is never overwritten: another platform could take an issuer over."""


@dataclass(frozen=True)
class Registration:
    issuer: str
    client_id: str
    tenant: str
    auth_login_url: str  # the platform's OIDC authorization endpoint
    auth_token_url: str  # its OAuth 2 token endpoint (AGS, NRPS)
    jwks_url: str  # its key set
    deployments: tuple[str, ...] = ()
    auth_audience: str | None = None  # the token endpoint's audience when it is not its URL
    name: str = ""
    product: str = ""  # product_family_code: moodle, openedx, canvas...
    source: str = "manual"  # or "dynamic"
    created: float = field(default_factory=time.time)

    @property
    def origins(self) -> set[Origin]:
        """Where this platform's endpoints are: its services' URLs must be on one of these."""
        urls = (self.issuer, self.auth_login_url, self.auth_token_url, self.jwks_url)
        return {o for o in map(origin_of, urls) if o is not None}

    @property
    def endpoints(self) -> tuple:
        """What a platform is: another value under the same issuer and client id is another platform."""
        return (
            self.issuer,
            self.client_id,
            self.tenant,
            self.auth_login_url,
            self.auth_token_url,
            self.jwks_url,
            self.auth_audience,
        )

    @property
    def field_key(self) -> str:
        return f"{self.issuer}\x1f{self.client_id}"

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> Registration:
        data = orjson.loads(raw)
        data["deployments"] = tuple(data.get("deployments", ()))
        return cls(**data)

    def with_deployments(self, deployments: list[str]) -> Registration:
        return replace(self, deployments=tuple(dict.fromkeys((*self.deployments, *deployments))))


def tenant_for_issuer(issuer: str) -> str:
    """The default tenant of a platform: its host (and port), e.g. moodle.example.com."""
    netloc = urlsplit(issuer).netloc.lower() or issuer.lower()
    tenant = "".join(c if c.isalnum() or c in "._-" else "-" for c in netloc).strip("-._")[:64]
    return tenant or "lti"


def _url(name: str, value: object, required: bool = True) -> str | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise InvalidRegistration(f"{name} must be an http(s) URL, not {value!r}")
    return value


def validate_registration(
    *,
    issuer: object,
    client_id: object,
    auth_login_url: object,
    auth_token_url: object,
    jwks_url: object,
    deployments: list[str] | tuple[str, ...] = (),
    tenant: str | None = None,
    auth_audience: str | None = None,
    name: str = "",
    product: str = "",
    source: str = "manual",
) -> Registration:
    """Check every field (no side effects); raise InvalidRegistration naming the bad one."""
    _url("issuer", issuer)
    if not isinstance(client_id, str) or not client_id.strip():
        raise InvalidRegistration("client_id is required")
    tenant = tenant or tenant_for_issuer(str(issuer))
    if not TENANT_PATTERN.match(tenant):
        raise InvalidRegistration(f"tenant {tenant!r} must be lowercase letters, digits, '.', '_' or '-' (at most 64)")
    for deployment in deployments:
        if not isinstance(deployment, str) or not deployment.strip():
            raise InvalidRegistration(f"deployment ids must be non-empty strings, not {deployment!r}")
    return Registration(
        issuer=str(issuer),
        client_id=client_id.strip(),
        tenant=tenant,
        auth_login_url=_url("auth_login_url", auth_login_url),
        auth_token_url=_url("auth_token_url", auth_token_url),
        jwks_url=_url("jwks_url", jwks_url),
        deployments=tuple(dict.fromkeys(d.strip() for d in deployments)),
        auth_audience=auth_audience or None,
        name=name,
        product=product,
        source=source,
    )


class RegistrationStore:
    def __init__(self, client: redis.Redis, lti_keys: LtiKeys):
        self.client = client
        self.key = lti_keys.registrations

    def save(self, registration: Registration) -> None:
        """Store a new registration; raises RegistrationExists when its issuer and client id are taken."""
        if not self.client.hsetnx(self.key, registration.field_key, registration.to_json()):
            raise RegistrationExists(f"{registration.issuer} client {registration.client_id} is already registered")

    def add_deployments(self, registration: Registration, deployments: list[str]) -> Registration:
        """The same registration with more deployment ids (its endpoints and tenant unchanged)."""
        updated = registration.with_deployments(deployments)
        self.client.hset(self.key, registration.field_key, updated.to_json())
        return updated

    def get(self, issuer: str, client_id: str) -> Registration | None:
        raw = self.client.hget(self.key, f"{issuer}\x1f{client_id}")
        return Registration.from_json(raw) if raw else None

    def all(self) -> list[Registration]:
        regs = [Registration.from_json(raw) for raw in self.client.hvals(self.key)]
        return sorted(regs, key=lambda r: (r.tenant, r.issuer, r.client_id))

    def for_issuer(self, issuer: str) -> list[Registration]:
        return [r for r in self.all() if r.issuer == issuer]

    def tenant_of(self, issuer: str) -> str:
        """The tenant everything from a platform lands in (xAPI, web-service sync): its
        registration's, else the one a registration would get."""
        tenants = {r.tenant for r in self.all() if r.issuer.rstrip("/") == issuer.rstrip("/")}
        if len(tenants) > 1:
            raise UserError(f"{issuer} is registered for several tenants ({', '.join(sorted(tenants))}): give --tenant")
        return tenants.pop() if tenants else tenant_for_issuer(issuer)

    def remove(self, issuer: str, client_id: str) -> bool:
        return bool(self.client.hdel(self.key, f"{issuer}\x1f{client_id}"))


def platform_tenant(client: redis.Redis, keys: Keys, issuer: str) -> str:
    """The tenant of the platform at `issuer` (`RegistrationStore.tenant_of`), for the channels
    that are not launches: xAPI credentials, the Moodle sync and course import."""
    return RegistrationStore(client, LtiKeys(keys)).tenant_of(issuer)
