"""What every process builds once at start: settings, Redis client, catalog, model, stores."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from engine import Model
from skillgap.catalog import Catalog, engine_model, load_catalog
from skillgap.keys import Keys
from skillgap.learner_store import LearnerStore
from skillgap.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    keys: Keys
    catalog: Catalog
    model: Model
    learners: LearnerStore


def build_services(settings: Settings, client: redis.Redis) -> Services:
    catalog = load_catalog(settings.catalog_path)
    model = engine_model(catalog)
    keys = Keys(settings.key_prefix)
    learners = LearnerStore(client, keys, settings.partitions, catalog, model)
    return Services(settings, client, keys, catalog, model, learners)
