"""Intake -> Redis stream -> worker (consumer group) -> engine -> stored mastery and
recommendations, on a real Redis."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pytest

from core.eventlog import append_events
from core.events import parse_event
from core.keys import CONSUMER_GROUP, partition_of
from core.wire import encode
from engine import MASTERY
from lms_helpers import first_quiz
from sidecar.worker import Worker

NOW = 1_790_000_000.0


def make_events(services, learner="u-1", n=3, kind="graded", score=0.9, start=NOW - 3600):
    quiz = first_quiz(services.catalog)
    return [
        parse_event(
            {
                "learner": learner,
                "module": quiz.id,
                "kind": kind,
                "score": score,
                "timestamp": start + 60 * i,
                "cohort": "course-1",
            },
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        for i in range(n)
    ]


def append(services, events):
    s = services.settings
    return append_events(services.redis, services.keys, s.partitions, events)


def test_events_flow_from_stream_to_recommendations(services):
    worker = Worker(services, clock=lambda: NOW)
    events = make_events(services)
    append(services, events)
    assert worker.run(burst=True)
    record = services.learners.get("acme", "u-1")
    assert record is not None and record.events == 3 and record.cohorts == ("course-1",)
    module = services.catalog.modules[services.catalog.module_index[events[0].module]]
    quiz_points = [services.catalog.point_index[p] for p in module.coverage]
    prior = services.model.prior[quiz_points]
    assert np.all(record.state[MASTERY, quiz_points] > prior)  # three good grades raise mastery
    assert record.recommendations and all(
        item["module"] in services.catalog.module_index for item in record.recommendations
    )
    assert record.recommended_at == events[-1].timestamp  # ranked as of the learner's latest event
    # everything read was acknowledged
    for p in range(services.settings.partitions):
        assert services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] == 0
    assert not worker.run(burst=True)


def test_a_reposted_event_is_applied_once(services):
    worker = Worker(services, clock=lambda: NOW)
    events = make_events(services)
    append(services, events)
    worker.run(burst=True)
    first = services.learners.get("acme", "u-1")
    append(services, events + events[:1])  # the same events again, one of them twice
    worker.run(burst=True)
    again = services.learners.get("acme", "u-1")
    assert again.events == first.events == 3
    assert np.array_equal(again.state, first.state)


def test_event_ids_are_per_tenant_within_one_batch_and_across_days(services):
    """Marks are grouped by tenant and day: the same id in two tenants is two events."""
    services = services.with_settings(partitions=1)
    worker = Worker(services, clock=lambda: NOW)
    days = [NOW - 3 * 86_400, NOW - 86_400, NOW - 3_600]
    events = [dataclasses.replace(event, id=f"e-{i}") for i, event in enumerate(make_events(services, n=3))]
    events = [dataclasses.replace(event, timestamp=day) for event, day in zip(events, days)]
    other = [dataclasses.replace(event, tenant="globex") for event in events]
    append(services, events + other + events[:2] + other[2:])  # one entry: two tenants, three days, repeats
    worker.run(burst=True)
    assert services.learners.get("acme", "u-1").events == 3
    assert services.learners.get("globex", "u-1").events == 3
    append(services, other)
    worker.run(burst=True)
    assert services.learners.get("globex", "u-1").events == 3


def test_bad_entries_and_unknown_ids_go_to_dead_letters(services):
    worker = Worker(services, clock=lambda: NOW)
    good = make_events(services, n=1)[0]
    partition = partition_of("acme", "u-1", services.settings.partitions)
    stream = services.keys.stream(partition)
    services.redis.xadd(stream, {"events": b"{not json"})
    services.redis.xadd(stream, {"something": b"else"})
    unknown_module = dict(encode(good), module="m-gone", id="e-2")
    services.redis.xadd(stream, {"events": orjson.dumps([unknown_module, encode(good)])})
    worker.run(burst=True)
    letters = services.redis.xrange(services.keys.dead_letters(partition))
    reasons = [fields[b"reason"].decode() for _, fields in letters]
    assert len(reasons) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("no 'events' field" in r for r in reasons)
    assert any("unknown module 'm-gone'" in r for r in reasons)
    # the good event of the mixed entry still counts, and nothing is left pending
    assert services.learners.get("acme", "u-1").events == 1
    assert services.redis.xpending(stream, CONSUMER_GROUP)["pending"] == 0


def test_an_id_with_a_line_break_is_a_dead_letter(services):
    """Marks are stored an id per line: such an id could mark another event as applied."""
    worker = Worker(services, clock=lambda: NOW)
    good = make_events(services, n=1)[0]
    partition = partition_of("acme", "u-1", services.settings.partitions)
    forged = dict(encode(good), id=f"{good.id}\nother")
    services.redis.xadd(services.keys.stream(partition), {"events": orjson.dumps([forged, encode(good)])})
    worker.run(burst=True)
    letters = services.redis.xrange(services.keys.dead_letters(partition))
    assert [fields[b"reason"].decode() for _, fields in letters] == ["id and tenant must not contain line breaks"]
    assert services.learners.get("acme", "u-1").events == 1


def test_entries_read_but_not_acknowledged_are_processed_after_a_restart(services):
    append(services, make_events(services))
    services = services.with_settings(claim_idle_ms=1)
    crashed = Worker(services, name="w-1", clock=lambda: NOW)
    # Read as the worker would, then die before the MULTI/EXEC: nothing written, nothing acked.
    streams = {services.keys.stream(p): ">" for p in crashed.partitions}
    assert services.redis.xreadgroup(CONSUMER_GROUP, "w-1", streams, count=10)
    assert services.learners.get("acme", "u-1") is None
    restarted = Worker(services, name="w-1", clock=lambda: NOW)
    assert restarted.run(burst=True)
    assert services.learners.get("acme", "u-1").events == 3


def test_learners_are_listed_per_tenant_in_pages(services):
    worker = Worker(services, clock=lambda: NOW)
    for learner in ("a-1", "b-2", "c-3", "d-4", "e-5"):
        append(services, make_events(services, learner=learner, n=1))
    other = make_events(services, learner="z-9", n=1)[0]
    append(
        services,
        [
            parse_event(
                {k: v for k, v in encode(other).items() if k not in ("v", "tenant", "id")},
                tenant="globex",
                catalog=services.catalog,
                now=NOW,
            )
        ],
    )
    worker.run(burst=True)
    page, cursor = services.learners.list("acme", None, 2)
    assert page == ["a-1", "b-2"] and cursor == "b-2"
    page, cursor = services.learners.list("acme", cursor, 2)
    assert page == ["c-3", "d-4"]
    page, cursor = services.learners.list("acme", cursor, 2)
    assert page == ["e-5"] and cursor is None
    assert services.learners.list("globex", None, 10) == (["z-9"], None)


def test_learner_pseudonyms_are_stable_and_hide_the_user_id(services):
    from core.identity import learner_pseudonym, pseudonym_secret

    secret = pseudonym_secret(services.redis, services.keys)
    assert pseudonym_secret(services.redis, services.keys) == secret
    moodle = learner_pseudonym(secret, "https://moodle.example.com", "3")
    assert moodle == learner_pseudonym(secret, "https://moodle.example.com", "3")
    assert moodle != learner_pseudonym(secret, "https://edx.example.com", "3")
    assert moodle.startswith("u-") and len(moodle) == 26
    assert (
        parse_event(
            {"learner": moodle, "module": services.catalog.modules[0].id, "kind": "viewed", "timestamp": NOW},
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        ).learner
        == moodle
    )


def test_enrolled_learners_join_their_cohort_and_get_recommendations(services):
    role = services.catalog.roles[3].id
    enrolment = parse_event(
        {"learner": "never-launched", "kind": "enrolled", "cohort": "course-1", "role": role, "timestamp": NOW},
        tenant="acme",
        catalog=services.catalog,
        now=NOW,
    )
    append(services, [enrolment, *make_events(services, learner="active")])
    Worker(services, clock=lambda: NOW).run(burst=True)
    record = services.learners.get("acme", "never-launched")
    assert record.role == role and record.events == 0 and record.recommendations
    assert np.array_equal(record.state[MASTERY], services.model.prior)
    assert services.learners.cohort_learners("acme", "course-1") == ["active", "never-launched"]
    assert services.learners.cohorts("acme") == ["course-1"]
    assert services.learners.cohorts("globex") == []


def test_gap_report_breaks_the_loss_down(services):
    from core.reports import gap_report

    append(services, make_events(services, learner="a", score=1.0) + make_events(services, learner="b", score=0.0))
    Worker(services, clock=lambda: NOW).run(burst=True)
    report = gap_report(services.learners, "acme", "course-1", NOW)
    assert report.learners == ["a", "b"]
    shortfall = np.maximum(report.targets - report.mastery, 0) ** 2
    assert np.isclose(report.loss.total, shortfall.sum())
    rows = report.by_point(list(services.catalog.point_index))
    assert np.isclose(sum(r["loss"] for r in rows), report.loss.total)
    learners = {r["learner"]: r["loss"] for r in report.by_learner()}
    assert learners["a"] < learners["b"]  # good grades shrink the gap
    assert sum(r["learners"] for r in report.by_role()) == 2
    assert gap_report(services.learners, "globex", "course-1", NOW).learners == []


def test_aliases_from_a_launch_resolve_to_the_learner(services):
    from core.identity import learner_for_alias, record_launch_identity

    claims = {"sub": "42", "https://purl.imsglobal.org/spec/lti/claim/lis": {"person_sourcedid": "emp-42"}}
    lms = "https://lms.example.com"
    record_launch_identity(services.redis, services.keys, services.pseudonym_secret, "acme", lms, claims, "u-abc")
    assert learner_for_alias(services.redis, services.keys, "acme", lms, "person_sourcedid", "emp-42") == "u-abc"
    assert learner_for_alias(services.redis, services.keys, "acme", lms + "/", "sub", "42") == "u-abc"
    assert learner_for_alias(services.redis, services.keys, "globex", lms, "sub", "42") is None
    # Alias hijack: another platform of the tenant naming the same ids reaches its own learners only.
    record_launch_identity(
        services.redis, services.keys, services.pseudonym_secret, "acme", "https://evil.example.com", claims, "u-evil"
    )
    assert learner_for_alias(services.redis, services.keys, "acme", lms, "sub", "42") == "u-abc"
    assert learner_for_alias(services.redis, services.keys, "acme", lms, "person_sourcedid", "emp-42") == "u-abc"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": 2}, "unsupported schema version 2"),
        ({"id": 7}, "must be strings"),
        ({"kind": "liked"}, "unknown kind 'liked'"),
        ({"timestamp": "yesterday"}, "timestamp: not a number"),
        ({"score": 1.5}, "score: must be a number in [0, 1]"),
        ({"score": "high"}, "score: must be a number in [0, 1]"),
        ({"role": "astronaut"}, "unknown role 'astronaut'"),
        ({"cohort": ["a"]}, "cohort: must be a string"),
        ({"tenant": None}, "must be strings"),
        ({"learner": "__drop__"}, "learner: missing"),
    ],
)
def test_each_malformed_event_is_a_dead_letter_with_its_reason(services, change, reason):
    good = encode(make_events(services, n=1)[0])
    bad = {k: v for k, v in {**good, **change, "id": change.get("id", "e-bad")}.items() if v != "__drop__"}
    partition = partition_of("acme", "u-1", services.settings.partitions)
    services.redis.xadd(services.keys.stream(partition), {"events": orjson.dumps([bad, good])})
    Worker(services, clock=lambda: NOW).run(burst=True)
    letters = services.redis.xrange(services.keys.dead_letters(partition))
    assert len(letters) == 1 and reason in letters[0][1][b"reason"].decode()
    assert services.learners.get("acme", "u-1").events == 1  # the good event beside it still counts


def test_a_learners_role_and_cohorts_follow_their_events(services):
    """The last role named wins, within a batch and across batches; cohorts add up. The
    worker keeps the learners between batches, so the second batch checks against memory."""
    first_role, second_role = (role.id for role in services.catalog.roles[:2])
    worker = Worker(services, name="w-1", clock=lambda: NOW)
    worker.leases.heartbeat()

    def event(learner, role, cohort, minute):
        return parse_event(
            {
                "learner": learner,
                "module": services.catalog.modules[0].id,
                "kind": "viewed",
                "timestamp": NOW - 3600 + 60 * minute,
                "role": role,
                "cohort": cohort,
            },
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )

    append(
        services,
        [
            event("u-1", first_role, "course-1", 0),
            event("u-1", second_role, "course-2", 1),
            event("u-2", second_role, "course-1", 2),
            event("u-2", None, None, 3),
        ],
    )
    worker.process(read_all(services, worker))
    u1, u2 = services.learners.get("acme", "u-1"), services.learners.get("acme", "u-2")
    assert (u1.role, u1.cohorts) == (second_role, ("course-1", "course-2"))
    assert (u2.role, u2.cohorts) == (second_role, ("course-1",))  # naming none keeps what was named
    append(services, [event("u-1", first_role, "course-2", 4), event("u-2", second_role, "course-3", 5)])
    worker.process(read_all(services, worker))
    u1, u2 = services.learners.get("acme", "u-1"), services.learners.get("acme", "u-2")
    assert (u1.role, u1.cohorts) == (first_role, ("course-1", "course-2"))
    assert (u2.role, u2.cohorts) == (second_role, ("course-1", "course-3"))
    assert services.learners.cohort_learners("acme", "course-1") == ["u-1", "u-2"]
    assert services.learners.cohort_learners("acme", "course-3") == ["u-2"]


def test_an_event_in_another_partitions_stream_is_a_dead_letter(services):
    """A producer configured with another number of partitions must not split a learner."""
    event = make_events(services, n=1)[0]
    home = partition_of("acme", "u-1", services.settings.partitions)
    wrong = (home + 1) % services.settings.partitions
    services.redis.xadd(services.keys.stream(wrong), {"events": orjson.dumps([encode(event)])})
    Worker(services, clock=lambda: NOW).run(burst=True)
    letters = services.redis.xrange(services.keys.dead_letters(wrong))
    assert len(letters) == 1 and f"belongs to partition {home}" in letters[0][1][b"reason"].decode()
    assert services.learners.get("acme", "u-1") is None


def read_all(services, worker):
    streams = {services.keys.stream(p): ">" for p in worker.partitions}
    return {
        int(key.decode().split("{p")[1].split("}")[0]): entries
        for key, entries in services.redis.xreadgroup(CONSUMER_GROUP, worker.name, streams) or []
    }


@pytest.mark.parametrize("marks_in_memory", [500_000, 1])
def test_events_repeated_across_one_workers_batches_apply_once(services, marks_in_memory):
    """Marks kept in memory between batches, or (too many to keep) asked of Redis each time."""
    worker = Worker(services.with_settings(worker_cache_marks=marks_in_memory), name="w-1", clock=lambda: NOW)
    worker.leases.heartbeat()
    events = make_events(services, n=3)
    append(services, events)
    worker.process(read_all(services, worker))
    append(services, events[1:] + make_events(services, n=1, start=NOW - 100))
    assert worker.process(read_all(services, worker)).duplicates == 2
    assert services.learners.get("acme", "u-1").events == 4


def test_marks_in_memory_are_claimed_once_and_drop_their_oldest_days_first():
    from sidecar.marks import KnownMarks

    known = KnownMarks()
    known.load(("acme", 20_000), {"a", "b"})
    known.load(("acme", 20_001), set())
    assert known.claim(("acme", 20_001), ["c", "d"]) is None  # all new
    assert known.claim(("acme", 20_001), ["c", "x", "x"]) == [False, True, False]  # marked, new, repeated
    assert known.claim(("acme", 20_000), ["c", "a"]) == [True, False]
    assert known.claim(("acme", 20_001), ["y", "z", "y"]) == [True, True, False]  # none marked, one repeated
    assert known.size == 8
    known.trim(capacity=6)
    assert sorted(known.groups) == [("acme", 20_001)] and known.size == 5
