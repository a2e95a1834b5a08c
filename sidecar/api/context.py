"""Per-request access to the services and to the caller's tenant."""

from __future__ import annotations

import time

import orjson
from flask import current_app, g, request

from core.events import COHORT_PATTERN
from core.http import MAX_JSON_DEPTH, too_deep
from core.learner_store import LearnerStore
from core.params import ActiveParameters
from core.ratelimit import FailureLimit, TooManyFailures
from core.services import Services
from core.tokens import LAST_USED_EVERY_S, note_use, tenant_for
from sidecar.api.errors import InvalidRequest, NotFound, TooManyRequests, Unauthorized

_last_noted: dict[str, float] = {}  # token -> when this process last recorded its use (monotonic)


def services() -> Services:
    return current_app.extensions["skillgap"]


def authenticate() -> None:
    """before_request of every authenticated blueprint: resolve the bearer token to a tenant.
    Wrong tokens count against the caller's address and the token; past the limit, a wrong one
    is a 429. A right token is accepted whatever its address's count."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise Unauthorized("missing Authorization: Bearer <token> header")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    svc = services()
    tenant = tenant_for(svc.redis, svc.keys, token)
    if tenant is None:
        try:
            FailureLimit.of(svc, "api").refuse(request.remote_addr, token)
        except TooManyFailures as exc:
            raise TooManyRequests(str(exc), retry_after_s=exc.retry_after_s) from None
        raise Unauthorized("unknown or revoked token")
    g.tenant = tenant
    now = time.monotonic()
    if _last_noted.get(token, -LAST_USED_EVERY_S) < now - LAST_USED_EVERY_S:
        if len(_last_noted) > 10_000:
            _last_noted.clear()
        _last_noted[token] = now
        note_use(svc.redis, svc.keys, token, time.time())


def tenant() -> str:
    return g.tenant


def parameters() -> ActiveParameters:
    return services().parameters()


def learner_store() -> LearnerStore:
    """The learner store reading with the active parameters (forgetting uses their half-lives)."""
    return services().learners


def query_choice(name: str, default: str, choices) -> str:
    """The query parameter `name`, one of `choices` (InvalidRequest naming it otherwise)."""
    value = request.args.get(name, default)
    if value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def known_cohort(cohort: str) -> str:
    """`cohort` if it is a valid id of a cohort of this tenant (InvalidRequest or NotFound)."""
    if not COHORT_PATTERN.match(cohort):
        raise InvalidRequest("not a valid cohort id", field="cohort")
    if cohort not in learner_store().cohorts(tenant()):
        raise NotFound(f"no cohort {cohort!r} in this tenant", field="cohort")
    return cohort


def json_batch(limit: int, one: str, many: str) -> list[tuple[str, object]]:
    """The request body as one object or an array of at most `limit`: (field prefix of each
    item for errors, the item): "" for a lone object, "[i]." in an array."""
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    if too_deep(body):
        raise InvalidRequest(f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels", field="body")
    if not isinstance(body, list):
        return [("", body)]
    if not body:
        raise InvalidRequest(f"the array holds no {one}", field="body")
    if len(body) > limit:
        raise InvalidRequest(f"at most {limit} {many} per request", field="body")
    return [(f"[{index}].", item) for index, item in enumerate(body)]
