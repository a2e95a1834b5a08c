"""The stored learner value: what is written reads back the same, under this catalog or an older
one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.learner_store import LearnerRecord, LearnerStore
from engine import LAST_SEEN, MASTERY

NOW = 1_790_000_000.0


def ranked(store: LearnerStore, *modules: str) -> dict[str, list]:
    n = len(modules)
    return {
        "module": list(modules),
        "action": ["learn", "assess", "review"][:n],
        "gain": [0.3, 0.2, 0.1][:n],
        "per_minute": [0.01, 0.02, 0.003][:n],
        "information": [0.0, 0.04, 0.0][:n],
    }


def a_learner(store: LearnerStore, ranking: dict[str, list]) -> LearnerRecord:
    record = store.new("acme", "u-1")
    record.state[MASTERY] = np.linspace(0.1, 0.9, store.model.n_points)
    record.state[LAST_SEEN] = NOW - 3600
    record.role = store.catalog.roles[2].id
    record.cohorts = ("course-2", "course-1")
    record.events, record.updated, record.recommended_at = 7, NOW, NOW - 60
    record.ranking = ranking
    return record


def test_a_stored_learner_reads_back_the_same(services):
    store = services.learners
    modules = [m.id for m in services.catalog.modules]
    written = a_learner(store, ranked(store, modules[4], modules[0], modules[9]))
    read = store.decode("acme", "u-1", store.encode(written), explain=False)
    assert np.array_equal(read.state, written.state)
    assert (read.role, read.cohorts, read.events) == (written.role, ("course-1", "course-2"), 7)
    assert (read.updated, read.recommended_at) == (NOW, NOW - 60)
    assert read.ranking == written.ranking
    unranked = store.decode("acme", "u-1", store.encode(a_learner(store, {})), explain=False)
    assert unranked.ranking == ranked(store) and unranked.events == 7


def test_a_value_stored_under_an_older_catalog_names_the_modules_it_named_then(services):
    """The catalog's modules moved and one was removed since the value was written."""
    catalog = services.catalog
    older = dataclasses.replace(catalog, modules=catalog.modules[::-1])
    old_store = LearnerStore(services.redis, services.keys, 4, older, services.model)
    old_store.register_layout()
    first, second, third = catalog.modules[3].id, catalog.modules[0].id, catalog.modules[7].id
    value = old_store.encode(a_learner(old_store, ranked(old_store, first, second, third)))
    current = dataclasses.replace(catalog, modules=catalog.modules[1:])
    now_store = LearnerStore(services.redis, services.keys, 4, current, services.model)
    read = now_store.decode("acme", "u-1", value, explain=False)
    assert read.ranking["module"] == [first, third]  # the removed module is no longer recommended
    assert read.ranking["gain"] == [0.3, 0.1]
    assert read.events == 7


def test_a_value_under_a_layout_nobody_registered_is_a_clear_error(services):
    catalog = services.catalog
    stranger = LearnerStore(
        services.redis, services.keys, 4, dataclasses.replace(catalog, modules=catalog.modules[:5]), services.model
    )
    value = stranger.encode(a_learner(stranger, {}))
    with pytest.raises(LookupError, match="unknown catalog layout"):
        services.learners.decode("acme", "u-1", value)
