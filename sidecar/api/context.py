"""Per-request access to the services and to the caller's tenant."""

from __future__ import annotations

import orjson
from flask import current_app, g, request

from sidecar.api.errors import InvalidRequest, Unauthorized
from core.learner_store import LearnerStore
from core.params import ActiveParameters
from core.services import Services
from core.tokens import tenant_for


def services() -> Services:
    return current_app.extensions["skillgap"]


def authenticate() -> None:
    """before_request of every authenticated blueprint: resolve the bearer token to a tenant."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization: Bearer <token> header")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    svc = services()
    tenant = tenant_for(svc.redis, svc.keys, token.strip())
    if tenant is None:
        raise Unauthorized("unknown or revoked token")
    g.tenant = tenant


def tenant() -> str:
    return g.tenant


def parameters() -> ActiveParameters:
    return services().parameters()


def learner_store() -> LearnerStore:
    """The learner store reading with the active parameters (forgetting uses their half-lives)."""
    return services().learners


def json_batch(limit: int, one: str, many: str) -> list[tuple[str, object]]:
    """The request body as one object or an array of at most `limit`: (field prefix of each
    item for errors, the item): "" for a lone object, "[i]." in an array."""
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, list):
        return [("", body)]
    if not body:
        raise InvalidRequest(f"the array holds no {one}", field="body")
    if len(body) > limit:
        raise InvalidRequest(f"at most {limit} {many} per request", field="body")
    return [(f"[{index}].", item) for index, item in enumerate(body)]
