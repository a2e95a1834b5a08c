"""The event envelope: what every source (API, LTI, xAPI, AGS, Moodle, CSV) puts on the log.

An event is validated once, at intake, by ``parse_event``, the one statement of the
envelope's rules; on the stream it travels in the wire format of ``core/wire.py``, several
events per stream entry. An intake whose own validation already proves those rules may
build its events with ``trusted_event`` instead (see there).
"""

from __future__ import annotations

import hashlib
import math
import re
import time as clock
from dataclasses import dataclass
from datetime import datetime

from core.catalog import Catalog
from engine import Kind
from engine.model import KINDS_WITH_SCORE

SCHEMA_VERSION = 1
# Activity kinds move mastery through the engine; an enrolment only records role and cohort
# (a roster sync, so that learners who never launched count in their cohort's gap report).
ACTIVITY_KINDS: dict[str, Kind] = {kind.name.lower(): kind for kind in Kind}
ENROLLED = "enrolled"
KIND_NAMES = (*ACTIVITY_KINDS, ENROLLED)
FIELDS = ("v", "id", "tenant", "learner", "cohort", "module", "kind", "score", "timestamp", "source", "role")
MAX_CLOCK_SKEW_S = 300.0

# \Z, not $: "$" also matches before a trailing newline.
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
# Pseudonymous ids only: no '@' or spaces, so an email or a full name cannot pass.
LEARNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
MAX_COHORT_CHARS = 128
COHORT_PATTERN = re.compile(rf"^[^\x00-\x1f]{{1,{MAX_COHORT_CHARS}}}\Z")
SOURCE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")


class EventError(ValueError):
    """An event that breaks the envelope; ``field`` names the offending field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class TenantMismatch(EventError):
    """The event names a tenant other than the caller's."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    tenant: str
    learner: str
    cohort: str | None
    module: str | None  # None only for an enrolment
    kind: str
    score: float | None
    timestamp: float  # seconds since the epoch
    source: str
    role: str | None = None


def parse_timestamp(value: object) -> float:
    """ISO 8601 with a time zone, or seconds since the epoch."""
    if isinstance(value, bool):
        raise EventError("timestamp", "must be an ISO 8601 date-time or seconds since the epoch")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise EventError("timestamp", f"{value!r} is not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            raise EventError("timestamp", f"{value!r} has no time zone (add Z or +hh:mm)")
        seconds = parsed.timestamp()
    else:
        raise EventError("timestamp", "must be an ISO 8601 date-time or seconds since the epoch")
    if not math.isfinite(seconds) or seconds <= 0:
        raise EventError("timestamp", "must be after 1970-01-01")
    return seconds


def event_id(
    tenant: str,
    learner: str,
    cohort: str | None,
    module: str | None,
    kind: str,
    score: float | None,
    timestamp: float,
    source: str,
) -> str:
    """Deterministic id: the same event posted twice gets the same id, and is applied once."""
    canonical = "\x1f".join((tenant, learner, cohort or "", module or "", kind, repr(score), repr(timestamp), source))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def trusted_event(
    id: str,
    tenant: str,
    learner: str,
    cohort: str | None,
    module: str,
    kind: str,
    score: float | None,
    timestamp: float,
    source: str,
) -> Event:
    """An activity event built without ``parse_event``'s checks, for an intake whose own
    validation has already proved each of them: the id and learner match their patterns,
    the cohort is 1 to 128 characters none of them a control character, the module is the
    catalog's, the kind is an activity kind carrying a float score in [0, 1] exactly when it
    needs one, the timestamp is after 1970 and at most MAX_CLOCK_SKEW_S ahead, the source is
    a short lowercase name. Only the xAPI intake uses it (``lti_tool/xapi/intake.py``, where
    every statement has passed the xAPI validator and the catalog mapping, on the hot path of
    batches); its tests check that each event it builds passes ``parse_event`` unchanged."""
    return Event(id, tenant, learner, cohort, module, kind, score, timestamp, source)


def parse_event(
    data: object, *, tenant: str, catalog: Catalog, default_source: str = "api", now: float | None = None
) -> Event:
    """Validate one incoming event for `tenant` (the caller's); raise EventError naming the field."""
    if not isinstance(data, dict):
        raise EventError("event", "must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise EventError(unknown[0], f"unknown field (expected: {', '.join(FIELDS)})")
    if data.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise EventError("v", f"unsupported schema version {data['v']!r} (this server speaks {SCHEMA_VERSION})")
    if "tenant" in data and data["tenant"] != tenant:
        raise TenantMismatch("tenant", f"this token may only send events for tenant {tenant!r}")

    learner = data.get("learner")
    if not isinstance(learner, str) or not LEARNER_PATTERN.match(learner):
        raise EventError(
            "learner",
            "required: a pseudonymous id of letters, digits, '.', '_', ':' or '-' "
            "(at most 128; never a name or an email)",
        )
    cohort = data.get("cohort")
    if cohort is not None and (not isinstance(cohort, str) or not COHORT_PATTERN.match(cohort)):
        raise EventError("cohort", "must be a string of 1 to 128 printable characters")
    kind = data.get("kind")
    if kind not in KIND_NAMES:
        raise EventError("kind", f"required: one of {', '.join(KIND_NAMES)}")
    module = data.get("module")
    if kind == ENROLLED:
        if module is not None:
            raise EventError("module", "an enrolment names no module")
    elif not isinstance(module, str):
        raise EventError("module", "required: a module id from the catalog")
    elif module not in catalog.module_index:
        raise EventError("module", f"unknown module {module!r}")
    score = data.get("score")
    if kind in ACTIVITY_KINDS and ACTIVITY_KINDS[kind] in KINDS_WITH_SCORE:
        if score is None:
            raise EventError("score", f"required for kind {kind!r}: a number in [0, 1]")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise EventError("score", f"must be a number in [0, 1], not {score!r}")
        score = float(score)
    elif score is not None:
        with_score = ", ".join(k for k, v in ACTIVITY_KINDS.items() if v in KINDS_WITH_SCORE)
        raise EventError("score", f"kind {kind!r} carries no score (only {with_score} do)")
    if "timestamp" not in data:
        raise EventError("timestamp", "required: an ISO 8601 date-time with a time zone")
    timestamp = parse_timestamp(data["timestamp"])
    now = clock.time() if now is None else now
    if timestamp > now + MAX_CLOCK_SKEW_S:
        raise EventError("timestamp", "is in the future")
    source = data.get("source", default_source)
    if not isinstance(source, str) or not SOURCE_PATTERN.match(source):
        raise EventError("source", "must be a short lowercase name such as 'hr' or 'lti'")
    role = data.get("role")
    if role is not None and (not isinstance(role, str) or role not in catalog.role_index):
        raise EventError("role", f"must be a role id of the catalog, not {role!r}")
    given_id = data.get("id")
    if given_id is not None and (not isinstance(given_id, str) or not EVENT_ID_PATTERN.match(given_id)):
        raise EventError("id", "must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
    return Event(
        id=given_id or event_id(tenant, learner, cohort, module, kind, score, timestamp, source),
        tenant=tenant,
        learner=learner,
        cohort=cohort,
        module=module,
        kind=kind,
        score=score,
        timestamp=timestamp,
        source=source,
        role=role,
    )
