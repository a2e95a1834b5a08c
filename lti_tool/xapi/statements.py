"""xAPI 1.0.3 statement validation: the rules the intake depends on, each named in the 400
it causes, plus the known deviations of real LMS output that are accepted and counted.

Section numbers refer to the xAPI 1.0.3 specification, part 2 (Data).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

VERSION = "1.0.3"
VERSION_PATTERN = re.compile(r"^1\.0(\.\d+)?$")
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
IRI_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
SHA1_PATTERN = re.compile(r"^[0-9a-fA-F]{40}$")
# Accepted, counted deviations (see `Statement.deviations`).
GROUP_ACTIVITY = "object_type_group_activity"  # Open edX event-routing-backends
ZERO_SCORE_RANGE = "score_min_max_zero"  # Open edX problems worth 0 points
ACTOR_TYPE_LIST = "actor_object_type_list"  # logstore_xapi with "send mbox": objectType ["Agent"]
NO_TIME_ZONE = "timestamp_without_time_zone"
FUTURE_TIMESTAMP = "timestamp_in_future"
MAX_CLOCK_SKEW_S = 300.0

STATEMENT_PROPERTIES = frozenset(
    "id actor verb object result context timestamp stored authority version attachments".split()
)
# Left out of the content compared for a repeated id: the LRS may set them (4.1.12, 2.2.8).
NOT_CONTENT = ("id", "stored", "authority", "version")
INVERSE_FUNCTIONAL = ("mbox", "mbox_sha1sum", "openid", "account")
OBJECT_TYPES = ("Activity", "Agent", "Group", "SubStatement", "StatementRef")
CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")
ID_NAMESPACE = uuid.UUID("6f1f3d2a-6c1e-4f8e-9a57-2b8f0c9d4e11")


class StatementError(ValueError):
    """A statement breaks an xAPI rule; `rule` names it, `field` says where."""

    def __init__(self, rule: str, field: str, message: str):
        self.rule = rule
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message} (rule {rule})")


@dataclass(frozen=True, slots=True)
class Statement:
    id: str  # lowercase UUID: the statement's own, or derived from its content
    digest: str  # content hash: the same id with another digest is a conflict
    actor: dict
    verb: str
    activity: str | None  # the object's id when the object is an activity
    activity_name: str | None
    score: float | None  # in [0, 1], from result.score
    success: bool | None
    completion: bool | None
    timestamp: float
    course: str | None  # the course activity id from the context, if any
    deviations: tuple[str, ...]


def _fail(rule: str, field: str, message: str):
    raise StatementError(rule, field, message)


def _is_iri(value: object) -> bool:
    return isinstance(value, str) and IRI_PATTERN.match(value) is not None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _language_map(value: object, field: str) -> str | None:
    """A language map (5.2.1 of part 2): tags to strings. Returns its first string."""
    first = None
    if isinstance(value, dict):
        for text in value.values():
            if not isinstance(text, str):
                break
            first = first or text
        else:
            return first
    _fail("language_map", field, "must be an object of language tag to string")


def _no_nulls(value: dict, field: str) -> None:
    """2.2: no property may be null, except inside extensions."""
    if None not in value.values():
        return
    for key, item in value.items():
        if item is None:
            _fail(
                "null_value",
                f"{field}.{key}" if field else key,
                "must not be null (leave the property out instead)",
            )


def _uuid(value: object, field: str) -> str:
    if not isinstance(value, str) or not UUID_PATTERN.match(value):
        _fail("uuid", field, "must be a UUID such as 'e1b5b3f0-7c2d-4f55-9a3e-5b1f4f6f1a2b'")
    return value.lower()


def check_agent(
    agent: object, field: str, deviations: list[str], group_allowed: bool = True
) -> str:
    """An Agent or Group (2.4.2); returns its objectType."""
    if not isinstance(agent, dict):
        _fail("agent", field, "must be an object with an objectType and one identifier")
    _no_nulls(agent, field)
    object_type = agent.get("objectType", "Agent")
    if isinstance(object_type, list) and object_type in (["Agent"], ["Group"]):
        deviations.append(ACTOR_TYPE_LIST)
        object_type = object_type[0]
    if object_type not in ("Agent", "Group") or (object_type == "Group" and not group_allowed):
        _fail(
            "agent_object_type",
            f"{field}.objectType",
            f"must be 'Agent' or 'Group', not {object_type!r}",
        )
    identifiers = [key for key in INVERSE_FUNCTIONAL if key in agent]
    if object_type == "Agent" and len(identifiers) != 1:
        _fail(
            "agent_identifier", field,
            f"an Agent needs exactly one of {', '.join(INVERSE_FUNCTIONAL)} (found {len(identifiers)})",
        )  # fmt: skip
    if object_type == "Group":
        if len(identifiers) > 1:
            _fail("agent_identifier", field, "a Group has at most one identifier")
        members = agent.get("member", [])
        if not isinstance(members, list) or (not identifiers and not members):
            _fail(
                "group_member",
                f"{field}.member",
                "an anonymous Group needs a list of member Agents",
            )
        for index, member in enumerate(members):
            check_agent(member, f"{field}.member[{index}]", deviations, group_allowed=False)
    for key in identifiers:
        value = agent[key]
        where = f"{field}.{key}"
        if key == "mbox" and not (
            isinstance(value, str) and value.startswith("mailto:") and "@" in value
        ):
            _fail("mbox", where, "must be a 'mailto:' IRI")
        elif key == "mbox_sha1sum" and not (isinstance(value, str) and SHA1_PATTERN.match(value)):
            _fail("mbox_sha1sum", where, "must be the 40 hex digits of a SHA-1")
        elif key == "openid" and not _is_iri(value):
            _fail("openid", where, "must be a URI")
        elif key == "account":
            if not isinstance(value, dict):
                _fail("account", where, "must be an object with homePage and name")
            if not _is_iri(value.get("homePage")):
                _fail(
                    "account",
                    f"{where}.homePage",
                    "must be the IRL of the system the account is on",
                )
            if not isinstance(value.get("name"), str) or not value["name"]:
                _fail("account", f"{where}.name", "must be the account's non-empty name")
    return object_type


def _check_activity(activity: object, field: str, deviations: list[str]) -> tuple[str, str | None]:
    """An Activity (2.4.4.1): an id IRI and an optional definition. Returns (id, name)."""
    if not isinstance(activity, dict):
        _fail("activity", field, "must be an object with an id")
    object_type = activity.get("objectType", "Activity")
    if object_type == "GroupActivity":
        deviations.append(GROUP_ACTIVITY)
    elif object_type != "Activity":
        _fail(
            "activity_object_type",
            f"{field}.objectType",
            f"must be 'Activity', not {object_type!r}",
        )
    activity_id = activity.get("id")
    if not _is_iri(activity_id):
        _fail("activity_id", f"{field}.id", "is required: an absolute IRI")
    name = None
    definition = activity.get("definition")
    if definition is not None:
        if not isinstance(definition, dict):
            _fail("activity_definition", f"{field}.definition", "must be an object")
        if "name" in definition:
            name = _language_map(definition["name"], f"{field}.definition.name")
        if "type" in definition and not _is_iri(definition["type"]):
            _fail("activity_type", f"{field}.definition.type", "must be an absolute IRI")
    return activity_id, name


def _check_object(
    target: object, deviations: list[str], nested: bool
) -> tuple[str | None, str | None]:
    if not isinstance(target, dict):
        _fail(
            "object",
            "object",
            "is required: an Activity, Agent, Group, SubStatement or StatementRef",
        )
    _no_nulls(target, "object")
    object_type = target.get("objectType", "Activity")
    if object_type in ("Activity", "GroupActivity"):
        return _check_activity(target, "object", deviations)
    if object_type in ("Agent", "Group"):
        check_agent(target, "object", deviations)
    elif object_type == "StatementRef":
        _uuid(target.get("id"), "object.id")
    elif object_type == "SubStatement":
        if nested:
            _fail(
                "substatement",
                "object.object",
                "a SubStatement cannot contain another SubStatement",
            )
        for key in ("id", "stored", "version", "authority"):
            if key in target:
                _fail(
                    "substatement",
                    f"object.{key}",
                    "a SubStatement has no id, stored, version or authority",
                )
        check_agent(target.get("actor"), "object.actor", deviations)
        _check_verb(target.get("verb"), "object.verb")
        _check_object(target.get("object"), deviations, nested=True)
    else:
        _fail(
            "object_type",
            "object.objectType",
            f"must be one of {', '.join(OBJECT_TYPES)}, not {object_type!r}",
        )
    return None, None


def _check_verb(verb: object, field: str = "verb") -> str:
    if not isinstance(verb, dict):
        _fail("verb", field, "is required: an object with an id IRI")
    _no_nulls(verb, field)
    verb_id = verb.get("id")
    if not _is_iri(verb_id):
        _fail("verb_id", f"{field}.id", "is required: an absolute IRI")
    if "display" in verb:
        _language_map(verb["display"], f"{field}.display")
    return verb_id


def _check_result(
    result: object, deviations: list[str]
) -> tuple[float | None, bool | None, bool | None]:
    """2.4.5: returns (score in [0, 1] or None, success, completion)."""
    if not isinstance(result, dict):
        _fail("result", "result", "must be an object")
    _no_nulls(result, "result")
    success = result.get("success")
    completion = result.get("completion")
    for key, value in (("success", success), ("completion", completion)):
        if value is not None and not isinstance(value, bool):
            _fail(f"result_{key}", f"result.{key}", "must be true or false")
    score = result.get("score")
    if score is None:
        return None, success, completion
    if not isinstance(score, dict):
        _fail("score", "result.score", "must be an object")
    _no_nulls(score, "result.score")
    for key in ("scaled", "raw", "min", "max"):
        if key in score and not _is_number(score[key]):
            _fail(f"score_{key}", f"result.score.{key}", "must be a number")
    scaled, raw, low, high = (score.get(k) for k in ("scaled", "raw", "min", "max"))
    if scaled is not None and not -1.0 <= scaled <= 1.0:
        _fail("score_scaled", "result.score.scaled", f"{scaled} is outside [-1, 1]")
    if low is not None and high is not None and low == high == 0:
        deviations.append(ZERO_SCORE_RANGE)
        return None, success, completion  # a problem worth nothing says nothing about mastery
    if low is not None and high is not None and not low < high:
        _fail("score_range", "result.score.min", f"min ({low}) must be less than max ({high})")
    if raw is not None:
        if low is not None and raw < low:
            _fail("score_raw", "result.score.raw", f"{raw} is below min ({low})")
        if high is not None and raw > high:
            _fail("score_raw", "result.score.raw", f"{raw} is above max ({high})")
    if scaled is not None:
        return max(0.0, float(scaled)), success, completion
    if raw is not None and low is not None and high is not None:
        return (raw - low) / (high - low), success, completion
    return None, success, completion


def _timestamp(value: object, deviations: list[str], now: float) -> float:
    """4.5: ISO 8601; an offset of -00:00 is refused; no time zone is taken as UTC."""
    if not isinstance(value, str) or "T" not in value:
        _fail(
            "timestamp", "timestamp", "must be an ISO 8601 date-time such as '2026-11-28T10:00:00Z'"
        )
    if value.endswith(("-00:00", "-0000", "-00")):
        _fail("timestamp_offset", "timestamp", "must not use the offset -00:00 (write Z or +00:00)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail("timestamp", "timestamp", f"{value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        deviations.append(NO_TIME_ZONE)
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    if seconds <= 0:
        _fail("timestamp", "timestamp", "must be after 1970-01-01")
    if seconds > now + MAX_CLOCK_SKEW_S:
        deviations.append(
            FUTURE_TIMESTAMP
        )  # an LMS clock running ahead; the statement happened now
        seconds = now
    return seconds


def _course(context: object, deviations: list[str]) -> str | None:
    """2.4.6: validate the context parts used; return the first course-like context activity."""
    if not isinstance(context, dict):
        _fail("context", "context", "must be an object")
    _no_nulls(context, "context")
    if "registration" in context:
        _uuid(context["registration"], "context.registration")
    activities = context.get("contextActivities")
    if activities is None:
        return None
    if not isinstance(activities, dict):
        _fail("context_activities", "context.contextActivities", "must be an object")
    course = None
    for kind, value in activities.items():
        if kind not in CONTEXT_ACTIVITY_KINDS:
            _fail("context_activities", f"context.contextActivities.{kind}",
                  f"must be one of {', '.join(CONTEXT_ACTIVITY_KINDS)}")  # fmt: skip
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            activity_id, _ = _check_activity(
                item, f"context.contextActivities.{kind}[{index}]", deviations
            )
            if course is None and kind in ("parent", "grouping") and "/course" in activity_id:
                course = activity_id
    return course


def content_digest(data: dict) -> str:
    content = {k: v for k, v in data.items() if k not in NOT_CONTENT}
    return hashlib.sha1(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_statement(data: object, tenant: str, now: float | None = None) -> Statement:
    """Validate one statement; raise StatementError naming the broken rule."""
    if not isinstance(data, dict):
        _fail("statement", "", "a statement must be a JSON object")
    unknown = data.keys() - STATEMENT_PROPERTIES
    if unknown:
        _fail("statement_property", min(unknown), "is not a statement property of xAPI 1.0.3")
    _no_nulls(data, "")
    if "attachments" in data:
        _fail("attachments", "attachments", "this endpoint does not take attachments")
    if "version" in data and not (
        isinstance(data["version"], str) and VERSION_PATTERN.match(data["version"])
    ):
        _fail("version", "version", f"must be 1.0.x, not {data['version']!r}")
    deviations: list[str] = []
    now = time.time() if now is None else now
    actor = data.get("actor")
    if actor is None:
        _fail("actor", "actor", "is required")
    check_agent(actor, "actor", deviations)
    verb = _check_verb(data.get("verb"))
    activity, name = _check_object(data.get("object"), deviations, nested=False)
    score = success = completion = None
    if "result" in data:
        score, success, completion = _check_result(data["result"], deviations)
    timestamp = _timestamp(data["timestamp"], deviations, now) if "timestamp" in data else now
    course = _course(data["context"], deviations) if "context" in data else None
    digest = content_digest(data)
    if "id" in data:
        statement_id = _uuid(data["id"], "id")
    else:  # the LRS assigns it (2.4.1); from the content, so a re-sent statement keeps its id
        statement_id = str(uuid.uuid5(ID_NAMESPACE, f"{tenant}\x1f{digest}"))
    return Statement(
        statement_id, digest, actor, verb, activity, name, score, success, completion, timestamp, course,
        tuple(dict.fromkeys(deviations)),
    )  # fmt: skip
