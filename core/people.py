"""People from HR: each person's catalog role, department, manager and start date, per tenant.

A person's id is their learner id (the id the tenant's events use), so what HR says follows
them into every course: the role reaches the workers as an `enrolled` event (source `hr`, as
any other source's role would), and the department is kept here for the reports' breakdown.
`parse_person` checks without side effects; `save_people` writes a checked batch at once."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime

import orjson
import redis

from core.catalog import Catalog
from core.errors import FieldError
from core.eventlog import events_pipeline
from core.events import ENROLLED, LEARNER_PATTERN, Event, parse_event
from core.keys import Keys

PERSON_FIELDS = ("person", "role", "department", "manager", "start_date")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_TEXT = 128
NO_DEPARTMENT = ""


class PersonError(FieldError):
    """A person record that cannot be used; `field` names the offending field."""


@dataclass(frozen=True)
class Person:
    person: str
    role: str
    department: str = NO_DEPARTMENT
    manager: str | None = None
    start_date: str | None = None  # ISO date


def _text(data: dict, name: str, required: bool) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PersonError(name, "is required")
        return None
    if not isinstance(value, str):
        raise PersonError(name, "must be a string")
    value = value.strip()
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise PersonError(name, f"must be at most {MAX_TEXT} printable characters")
    return value


def parse_person(data: object, catalog: Catalog) -> Person:
    if not isinstance(data, dict):
        raise PersonError("person", "each person must be an object")
    unknown = [name for name in data if name not in PERSON_FIELDS]
    if unknown:
        raise PersonError(unknown[0], f"unknown field (expected: {', '.join(PERSON_FIELDS)})")
    person = _text(data, "person", required=True)
    if not LEARNER_PATTERN.match(person):
        raise PersonError(
            "person", "must be a pseudonymous learner id (letters, digits, '.', '_', ':' or '-'; no names or emails)"
        )
    role = _text(data, "role", required=True)
    if role not in catalog.role_index:
        raise PersonError("role", f"unknown role {role!r} (the catalog's: {', '.join(catalog.role_index)})")
    manager = _text(data, "manager", required=False)
    if manager is not None and not LEARNER_PATTERN.match(manager):
        raise PersonError("manager", "must be the manager's person id")
    start = _text(data, "start_date", required=False)
    if start is not None:
        start = _start_date(start)
    return Person(person, role, _text(data, "department", required=False) or NO_DEPARTMENT, manager, start)


# Start dates a company's HR can mean: due dates (start + days) must stay representable.
EARLIEST_START, LATEST_START = date(1970, 1, 1), date(2199, 12, 31)


def _start_date(text: str) -> str:
    try:
        day = date.fromisoformat(text) if DATE_PATTERN.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise PersonError("start_date", "must be a date as YYYY-MM-DD")
    if not EARLIEST_START <= day <= LATEST_START:
        raise PersonError("start_date", f"must be between {EARLIEST_START} and {LATEST_START}")
    return day.isoformat()


def save_people(
    client: redis.Redis,
    keys: Keys,
    partitions: int,
    tenant: str,
    people: list[Person],
    catalog: Catalog,
    now: float | None = None,
) -> None:
    """Store the people and put their roles on the log (one round trip, all or nothing)."""
    now = time.time() if now is None else now
    events: list[Event] = [
        parse_event(
            {"learner": p.person, "kind": ENROLLED, "role": p.role, "timestamp": now, "source": "hr"},
            tenant=tenant,
            catalog=catalog,
            now=now,
        )
        for p in people
    ]
    pipe = events_pipeline(client, keys, partitions, events)
    for start in range(0, len(people), 1000):
        chunk = people[start : start + 1000]
        pipe.hset(keys.people(tenant), mapping={p.person: orjson.dumps(asdict(p)) for p in chunk})
    pipe.execute()


def departments(client: redis.Redis, keys: Keys, tenant: str, learners: list[str]) -> list[str]:
    """Each learner's department ("" when HR has not said)."""
    if not learners:
        return []
    found = client.hmget(keys.people(tenant), learners)
    return [orjson.loads(raw)["department"] if raw else NO_DEPARTMENT for raw in found]


def start_times(client: redis.Redis, keys: Keys, learners: list[tuple[str, str]]) -> list[float | None]:
    """Each (tenant, learner)'s start date from HR as a Unix time (midnight UTC), None when HR
    has not given one (one round trip)."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, learner in learners:
        by_tenant.setdefault(tenant, []).append(learner)
    pipe = client.pipeline(transaction=False)
    for tenant, names in by_tenant.items():
        pipe.hmget(keys.people(tenant), names)
    found = {}
    for (tenant, names), values in zip(by_tenant.items(), pipe.execute()):
        for learner, raw in zip(names, values):
            start = orjson.loads(raw).get("start_date") if raw else None
            found[tenant, learner] = (
                datetime.combine(date.fromisoformat(start), datetime.min.time(), UTC).timestamp() if start else None
            )
    return [found[key] for key in learners]
