"""What every process builds once at start: settings, Redis client, catalog, and the learner
store reading with the active parameter version."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property

import redis

from core.catalog import Catalog, load_catalog
from core.identity import pseudonym_secret
from core.keys import Keys
from core.learner_store import LearnerStore
from core.params import ActiveParameters, active_parameters
from core.redis_server import connect, open_redis
from core.sealing import Sealer
from core.settings import Settings
from engine import Model

# Readers re-read which parameter version is active at most this often, so an activation
# (`skillgap params activate`) shows within seconds without a restart.
PARAMETERS_TTL_S = 5.0


class Services:
    def __init__(self, settings: Settings, client: redis.Redis, catalog: Catalog):
        self.settings = settings
        self.redis = client
        self.catalog = catalog
        self.keys = Keys(settings.key_prefix)
        self.sealer = Sealer.from_settings(settings)
        self._lock = threading.Lock()
        self._active: ActiveParameters | None = None
        self._store: LearnerStore | None = None
        self._checked = 0.0

    @cached_property
    def pseudonym_secret(self) -> bytes:
        """Read once per process: the secret never changes once created."""
        return pseudonym_secret(self.redis, self.keys, self.sealer)

    def with_settings(self, **changes: object) -> Services:
        """The same Redis and catalog under changed settings."""
        return Services(self.settings.replace(**changes), self.redis, self.catalog)

    def parameters(self) -> ActiveParameters:
        """The active parameter version (the catalog's values when none is active)."""
        with self._lock:
            now = time.monotonic()
            if self._active is None or now - self._checked > PARAMETERS_TTL_S:
                active = active_parameters(self.redis, self.keys, self.catalog)
                if self._active is None or active.version != self._active.version:
                    self._active, self._store = active, None
                self._checked = now
            return self._active

    def recheck_parameters(self) -> None:
        """Read which version is active on the next use, not after the usual few seconds."""
        with self._lock:
            self._checked = -PARAMETERS_TTL_S

    @property
    def model(self) -> Model:
        return self.parameters().model

    @property
    def learners(self) -> LearnerStore:
        """The learner store, reading with the active parameters."""
        model = self.model
        with self._lock:
            if self._store is None or self._store.model is not model:
                self._store = self.store_for(model)
            return self._store

    def store_for(self, model: Model) -> LearnerStore:
        s = self.settings
        return LearnerStore(
            self.redis, self.keys, s.partitions, self.catalog, model, s.assessment_uncertainty, s.prerequisite_threshold
        )


def build_services(settings: Settings, client: redis.Redis) -> Services:
    return Services(settings, client, load_catalog(settings.catalog_path))


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """A command's services, on the Redis `open_redis` opens (the embedded one when REDIS_URL is
    not set), closed when the block ends."""
    with open_redis(settings) as client:
        yield build_services(settings, client)


def services_from_environment(test_config: Mapping[str, object] | None, app: str) -> Services:
    """A web app's services when it is given none: settings from the environment, then
    `test_config`; `app` names the app in the error when REDIS_URL is not set."""
    settings = Settings.load(test_config)
    if not settings.redis_url:
        raise RuntimeError(f"{app} needs REDIS_URL (`skillgap run` sets it for the processes it starts)")
    return build_services(settings, connect(settings.redis_url))
