"""The event envelope: every bad field is refused with its name; ids are deterministic."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import wire
from core.catalog import load_catalog
from core.events import ACTIVITY_KINDS, COHORT_PATTERN, LEARNER_PATTERN, EventError, TenantMismatch, parse_event
from core.settings import ROOT
from engine.model import KINDS_WITH_SCORE

CATALOG = load_catalog(ROOT / "config" / "catalog")
NOW = 1_790_000_000.0
GOOD = {
    "learner": "u-8f3a",
    "cohort": "course-101",
    "module": CATALOG.modules[0].id,
    "kind": "graded",
    "score": 0.75,
    "timestamp": "2026-09-21T10:00:00Z",
    "source": "hr",
}


def parse(**changes):
    data = {**GOOD, **changes}
    data = {k: v for k, v in data.items() if v is not ...}
    return parse_event(data, tenant="acme", catalog=CATALOG, now=NOW)


def test_a_good_event_round_trips_through_the_wire_format():
    event = parse(role=CATALOG.roles[1].id)
    assert event.tenant == "acme" and event.score == 0.75 and event.timestamp == 1_789_984_800.0
    assert wire.decode(wire.encode(event), CATALOG) == event


def test_ids_are_deterministic_and_content_bound():
    assert parse().id == parse().id
    assert parse().id != parse(score=0.5).id
    assert parse().id != parse_event(GOOD, tenant="other", catalog=CATALOG, now=NOW).id
    assert parse(id="stmt-42").id == "stmt-42"


def test_epoch_seconds_and_offsets_are_accepted():
    assert parse(timestamp=1_700_000_000).timestamp == 1_700_000_000.0
    assert parse(timestamp="2026-09-21T12:00:00+02:00").timestamp == 1_789_984_800.0


def test_kinds_without_score_need_none():
    assert parse(kind="completed", score=...).score is None


BAD = [
    ("learner", {"learner": ...}),
    ("learner", {"learner": "jane.doe@example.com"}),
    ("learner", {"learner": "Jane Doe"}),
    ("learner", {"learner": 42}),
    ("learner", {"learner": "u-8f3a\n"}),
    ("cohort", {"cohort": "course-101\n"}),
    ("cohort", {"cohort": ""}),
    ("cohort", {"cohort": 7}),
    ("module", {"module": ...}),
    ("module", {"module": "m-does-not-exist"}),
    ("kind", {"kind": "watched"}),
    ("kind", {"kind": ...}),
    ("score", {"score": ...}),
    ("score", {"score": 1.5}),
    ("score", {"score": -0.1}),
    ("score", {"score": True}),
    ("score", {"score": "0.5"}),
    ("score", {"kind": "viewed", "score": 0.5}),
    ("timestamp", {"timestamp": ...}),
    ("timestamp", {"timestamp": "yesterday"}),
    ("timestamp", {"timestamp": "2026-09-21T10:00:00"}),
    ("timestamp", {"timestamp": "2031-01-01T00:00:00Z"}),
    ("timestamp", {"timestamp": -5}),
    ("timestamp", {"timestamp": None}),
    ("source", {"source": "HR System"}),
    ("role", {"role": "astronaut"}),
    ("id", {"id": "has space"}),
    ("id", {"id": "stmt-42\n"}),
    ("source", {"source": "hr\n"}),
    ("v", {"v": 2}),
    ("colour", {"colour": "red"}),
]


@pytest.mark.parametrize(("field", "changes"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_each_bad_field_is_named(field, changes):
    with pytest.raises(EventError) as caught:
        parse(**changes)
    assert caught.value.field == field
    assert caught.value.message


def test_an_event_for_another_tenant_is_refused():
    with pytest.raises(TenantMismatch) as caught:
        parse(tenant="globex")
    assert caught.value.field == "tenant"


def test_not_an_object():
    with pytest.raises(EventError) as caught:
        parse_event(["learner"], tenant="acme", catalog=CATALOG, now=NOW)
    assert caught.value.field == "event"


@pytest.mark.parametrize(
    "raw",
    [
        "not an object",
        {"v": 99},
        {"v": 1, "id": "x", "tenant": "t", "learner": "l", "module": "m", "kind": "graded", "source": "s"},
        {
            "v": 1,
            "id": "x",
            "tenant": "t",
            "learner": "l",
            "module": "m",
            "kind": "nope",
            "timestamp": 1,
            "source": "s",
        },
        {
            "v": 1,
            "id": 5,
            "tenant": "t",
            "learner": "l",
            "module": "m",
            "kind": "viewed",
            "timestamp": 1,
            "source": "s",
        },
    ],
)
def test_malformed_wire_events_raise_wire_error(raw):
    with pytest.raises(wire.WireError):
        wire.decode(raw, CATALOG)


def test_an_enrolment_records_role_and_cohort_without_a_module():
    event = parse(kind="enrolled", module=..., score=..., role=CATALOG.roles[2].id)
    assert event.module is None and event.role == CATALOG.roles[2].id
    assert wire.decode(wire.encode(event), CATALOG) == event


@pytest.mark.parametrize(("field", "changes"), [("module", {"score": ...}), ("score", {"module": ...})])
def test_an_enrolment_carries_neither_module_nor_score(field, changes):
    with pytest.raises(EventError) as caught:
        parse(kind="enrolled", **changes)
    assert caught.value.field == field


def test_a_wire_event_breaking_a_rule_names_it():
    event = parse()
    with pytest.raises(wire.WireError, match="score"):
        wire.decode(dict(wire.encode(event), score=1.5), CATALOG)
    with pytest.raises(wire.WireError, match="line breaks"):
        wire.decode(dict(wire.encode(event), id="a\nb"), CATALOG)


@settings(max_examples=200, deadline=None)
@given(
    learner=st.from_regex(LEARNER_PATTERN, fullmatch=True),
    cohort=st.none() | st.from_regex(COHORT_PATTERN, fullmatch=True),
    module=st.sampled_from([module.id for module in CATALOG.modules]),
    kind=st.sampled_from(list(ACTIVITY_KINDS)),
    score=st.floats(0.0, 1.0),
    timestamp=st.floats(1.0, NOW),
    role=st.none() | st.sampled_from([role.id for role in CATALOG.roles]),
)
def test_decode_inverts_encode(learner, cohort, module, kind, score, timestamp, role):
    data = {"learner": learner, "module": module, "kind": kind, "timestamp": timestamp, "role": role}
    if cohort is not None:
        data["cohort"] = cohort
    if ACTIVITY_KINDS[kind] in KINDS_WITH_SCORE:
        data["score"] = score
    event = parse_event(data, tenant="acme", catalog=CATALOG, now=NOW)
    assert wire.decode(wire.encode(event), CATALOG) == event
    assert wire.decode(orjson.loads(wire.encode_entry([wire.encode(event)]))[0], CATALOG) == event
