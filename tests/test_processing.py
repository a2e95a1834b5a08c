"""The worker's batch columns against event-by-event reference loops: marks grouped by tenant
and day, and the roles and cohorts a batch's events give their learners (the worker only looks
at events that name another role or cohort than the one it holds)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.catalog.arrays import SECONDS_PER_DAY
from sidecar.learner_table import NO_ROLE, LearnerTable
from sidecar.marks import KnownMarks
from sidecar.processing import Batch, apply_to_table, fresh_events

START = 1_780_000_000.0


def random_events(rng: random.Random, n: int, learners: list[tuple[str, str]], roles: int, days: int) -> list:
    cohorts = [None, "c-1", "c-2", "c-3"]
    return [
        (
            rng.randrange(len(learners)),
            f"id-{rng.random()}",
            1,
            0,
            0.5,
            START + rng.randrange(days) * SECONDS_PER_DAY + rng.random(),
            rng.choice(cohorts),
            rng.choice([NO_ROLE, *range(roles)]),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_marks_are_grouped_by_tenant_and_event_day_in_stream_order(seed):
    rng = random.Random(seed)
    learners = [(rng.choice(["acme", "globex", "initech"]), f"u-{i}") for i in range(rng.randint(1, 12))]
    events = random_events(rng, rng.randint(1, 200), learners, roles=1, days=rng.choice([1, 3, 40]))
    expected: dict[tuple[str, int], tuple[list[int], list[str]]] = {}
    for position, (code, event_id, *_, timestamp, _, _) in enumerate(events):
        positions, ids = expected.setdefault((learners[code][0], int(timestamp // SECONDS_PER_DAY)), ([], []))
        positions.append(position)
        ids.append(event_id)
    got = Batch(events, learners).marks_by_group
    assert {group: (positions.tolist(), list(ids)) for group, (positions, ids) in got.items()} == expected


@pytest.mark.parametrize("seed", range(10))
def test_fresh_events_match_an_event_by_event_loop(seed):
    """New: not marked by an earlier batch, not repeated earlier in this one (per tenant and day)."""
    rng = random.Random(seed)
    learners = [("acme", "u-1"), ("globex", "u-1")]
    known, marked = KnownMarks(), set()
    for _ in range(4):
        events = [
            (
                rng.randrange(2),
                f"id-{rng.randrange(40)}",
                1,
                0,
                0.5,
                START + rng.randrange(3) * SECONDS_PER_DAY,
                None,
                NO_ROLE,
            )
            for _ in range(rng.choice([1, 30]))
        ]
        batch = Batch(events, learners)
        for group in batch.marks_by_group:
            if group not in known.groups:
                known.load(group, set())
        expected = []
        for code, event_id, *_, timestamp, _, _ in events:
            mark = (learners[code][0], int(timestamp // SECONDS_PER_DAY), event_id)
            expected.append(mark not in marked)
            marked.add(mark)
        assert fresh_events(known, batch).tolist() == expected
        assert known.size == len(marked)


def test_roles_and_cohorts_match_an_event_by_event_loop(services):
    rng = random.Random(7)
    roles = [role.id for role in services.catalog.roles]
    learners = [("acme", f"u-{i}") for i in range(30)]
    table = LearnerTable(services.store_for(services.model), 0)
    table.add(learners, [None] * len(learners))
    role_of: dict[int, str] = {}
    cohorts_of: dict[int, set[str]] = {}
    for piece in range(6):  # one table across pieces, as a worker keeps it between batches
        events = random_events(rng, 150, learners, roles=len(roles), days=2)
        joined_now: dict[tuple[str, str], set[str]] = {}
        for code, *_, cohort, role in events:
            if role != NO_ROLE:
                role_of[code] = roles[role]
            if cohort is not None and cohort not in cohorts_of.setdefault(code, set()):
                cohorts_of[code].add(cohort)
                joined_now.setdefault(("acme", cohort), set()).add(learners[code][1])
        applied = apply_to_table(table, Batch(events, learners), services.model, np.ones(len(events), bool))
        assert applied.joined == joined_now, piece
        for code, learner in enumerate(learners):
            row = table.row_of[learner]
            assert table.role_name(row) == role_of.get(code)
            assert set(table.cohorts[row]) == cohorts_of.get(code, set())
