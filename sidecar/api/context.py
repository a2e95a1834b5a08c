"""Per-request access to the services and to the caller's tenant."""

from __future__ import annotations

import time

from flask import current_app, g, request

from sidecar.api.errors import Unauthorized
from skillgap.learner_store import LearnerStore
from skillgap.params import ActiveParameters, active_parameters
from skillgap.services import Services
from skillgap.tokens import tenant_for


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


PARAMETERS_TTL_S = 5.0


def parameters() -> ActiveParameters:
    """The active parameter version (re-read every few seconds, so an activation shows soon)."""
    cache = current_app.extensions.setdefault("skillgap.parameters", {})
    now = time.monotonic()
    if cache.get("until", 0.0) < now:
        svc = services()
        cache["value"] = active_parameters(svc.redis, svc.keys, svc.catalog)
        cache["until"] = now + PARAMETERS_TTL_S
    return cache["value"]


def learner_store() -> LearnerStore:
    """The learner store reading with the active parameters (forgetting uses their half-lives)."""
    svc = services()
    active = parameters()
    store = current_app.extensions.get("skillgap.store")
    if store is None or store.model is not active.model:
        store = LearnerStore(svc.redis, svc.keys, svc.settings.partitions, svc.catalog, active.model)
        current_app.extensions["skillgap.store"] = store
    return store
