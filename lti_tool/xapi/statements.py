"""xAPI 1.0.3 statement validation: the rules the intake depends on, each named in the 400
it causes, plus the known deviations of real LMS output that are accepted and counted.

Section numbers refer to the xAPI 1.0.3 specification, part 2 (Data).

This runs for every statement of every batch, so it is written for the common shapes: each
check of a part names fields relative to that part and the caller prefixes them only when
one fails (`StatementError.within`), and IRIs already seen valid are remembered.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

VERSION = "1.0.3"
# Matched whole (fullmatch): a trailing newline is no part of a valid value.
VERSION_PATTERN = re.compile(r"1\.0(\.\d+)?")
UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
# A scheme, then no white space or control characters (RFC 3987 allows neither).
IRI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+")
SHA1_PATTERN = re.compile(r"[0-9a-fA-F]{40}")
MAX_REMEMBERED_IRIS = 20_000
# Accepted, counted deviations (see `Statement.deviations`).
GROUP_ACTIVITY = "object_type_group_activity"  # Open edX event-routing-backends
ZERO_SCORE_RANGE = "score_min_max_zero"  # Open edX problems worth 0 points
ACTOR_TYPE_LIST = "actor_object_type_list"  # logstore_xapi with "send mbox": objectType ["Agent"]
NO_TIME_ZONE = "timestamp_without_time_zone"
FUTURE_TIMESTAMP = "timestamp_in_future"
MAX_CLOCK_SKEW_S = 300.0

STATEMENT_PROPERTIES = frozenset(
    ("id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority")
    + ("version", "attachments")
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

    def within(self, prefix: str) -> StatementError:
        """The same error with its field named from the part `prefix` down."""
        return StatementError(
            self.rule, f"{prefix}.{self.field}" if self.field else prefix, self.message
        )


class Statement(NamedTuple):
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


_valid_iris: set[str] = set()


def _is_iri(value: object) -> bool:
    """An LMS sends the same verbs, activity types and courses over and over: remember the
    IRIs seen valid (at most MAX_REMEMBERED_IRIS, per process)."""
    if not isinstance(value, str):
        return False
    if value in _valid_iris:
        return True
    if IRI_PATTERN.fullmatch(value) is None:
        return False
    if len(_valid_iris) >= MAX_REMEMBERED_IRIS:
        _valid_iris.clear()
    _valid_iris.add(value)
    return True


def _is_number(value: object) -> bool:
    kind = value.__class__
    return kind is int or (kind is float and math.isfinite(value))


def _language_map(value: object) -> str | None:
    """A language map (5.2.1 of part 2): tags to strings. Returns its first string."""
    first = None
    if isinstance(value, dict):
        for text in value.values():
            if not isinstance(text, str):
                break
            first = first or text
        else:
            return first
    _fail("language_map", "", "must be an object of language tag to string")


def _no_nulls(value: dict, prefix: str = "") -> None:
    """2.2: no property may be null, except inside extensions."""
    if None not in value.values():
        return
    for key, item in value.items():
        if item is None:
            _fail("null_value", prefix + key, "must not be null (leave the property out instead)")


def _uuid(value: object, field: str) -> str:
    if not isinstance(value, str) or UUID_PATTERN.fullmatch(value) is None:
        _fail("uuid", field, "must be a UUID such as 'e1b5b3f0-7c2d-4f55-9a3e-5b1f4f6f1a2b'")
    return value.lower()


def check_agent(agent: object, deviations: list[str], group_allowed: bool = True) -> str:
    """An Agent or Group (2.4.2); returns its objectType. Fields are named from the agent."""
    if not isinstance(agent, dict):
        _fail("agent", "", "must be an object with an objectType and one identifier")
    _no_nulls(agent)
    object_type = agent.get("objectType", "Agent")
    if isinstance(object_type, list) and object_type in (["Agent"], ["Group"]):
        deviations.append(ACTOR_TYPE_LIST)
        object_type = object_type[0]
    if object_type != "Agent" and (object_type != "Group" or not group_allowed):
        _fail("agent_object_type", "objectType", f"must be 'Agent' or 'Group', not {object_type!r}")
    identifiers = (
        ("mbox" in agent) + ("mbox_sha1sum" in agent) + ("openid" in agent) + ("account" in agent)
    )
    if object_type == "Agent":
        if identifiers != 1:
            _fail(
                "agent_identifier", "",
                f"an Agent needs exactly one of {', '.join(INVERSE_FUNCTIONAL)} (found {identifiers})",
            )  # fmt: skip
    else:
        if identifiers > 1:
            _fail("agent_identifier", "", "a Group has at most one identifier")
        members = agent.get("member", [])
        if not isinstance(members, list) or (not identifiers and not members):
            _fail("group_member", "member", "an anonymous Group needs a list of member Agents")
        for index, member in enumerate(members):
            try:
                check_agent(member, deviations, group_allowed=False)
            except StatementError as exc:
                raise exc.within(f"member[{index}]") from None
    if not identifiers:
        return object_type
    if "account" in agent:
        account = agent["account"]
        if not isinstance(account, dict):
            _fail("account", "account", "must be an object with homePage and name")
        if not _is_iri(account.get("homePage")):
            _fail("account", "account.homePage", "must be the IRL of the system the account is on")
        name = account.get("name")
        if not isinstance(name, str) or not name:
            _fail("account", "account.name", "must be the account's non-empty name")
    elif "mbox" in agent:
        mbox = agent["mbox"]
        if not (isinstance(mbox, str) and mbox.startswith("mailto:") and "@" in mbox):
            _fail("mbox", "mbox", "must be a 'mailto:' IRI")
    elif "mbox_sha1sum" in agent:
        sha1sum = agent["mbox_sha1sum"]
        if not (isinstance(sha1sum, str) and SHA1_PATTERN.fullmatch(sha1sum)):
            _fail("mbox_sha1sum", "mbox_sha1sum", "must be the 40 hex digits of a SHA-1")
    elif not _is_iri(agent["openid"]):
        _fail("openid", "openid", "must be a URI")
    return object_type


def _check_activity(activity: object, deviations: list[str]) -> tuple[str, str | None]:
    """An Activity (2.4.4.1): an id IRI and an optional definition. Returns (id, name)."""
    if not isinstance(activity, dict):
        _fail("activity", "", "must be an object with an id")
    object_type = activity.get("objectType", "Activity")
    if object_type != "Activity":
        if object_type != "GroupActivity":
            _fail("activity_object_type", "objectType", f"must be 'Activity', not {object_type!r}")
        deviations.append(GROUP_ACTIVITY)
    activity_id = activity.get("id")
    if not _is_iri(activity_id):
        _fail("activity_id", "id", "is required: an absolute IRI")
    name = None
    definition = activity.get("definition")
    if definition is not None:
        if not isinstance(definition, dict):
            _fail("activity_definition", "definition", "must be an object")
        if "name" in definition:
            try:
                name = _language_map(definition["name"])
            except StatementError as exc:
                raise exc.within("definition.name") from None
        if "type" in definition and not _is_iri(definition["type"]):
            _fail("activity_type", "definition.type", "must be an absolute IRI")
    return activity_id, name


def _check_object(
    target: object, deviations: list[str], nested: bool
) -> tuple[str | None, str | None]:
    """The object (2.4.4); fields are named from it. Returns (activity id, name) for an
    Activity, else (None, None)."""
    if not isinstance(target, dict):
        _fail("object", "", "is required: an Activity, Agent, Group, SubStatement or StatementRef")
    _no_nulls(target)
    object_type = target.get("objectType", "Activity")
    if object_type == "Activity" or object_type == "GroupActivity":
        return _check_activity(target, deviations)
    if object_type == "Agent" or object_type == "Group":
        check_agent(target, deviations)
    elif object_type == "StatementRef":
        _uuid(target.get("id"), "id")
    elif object_type == "SubStatement":
        if nested:
            _fail("substatement", "", "a SubStatement cannot contain another SubStatement")
        for key in ("id", "stored", "version", "authority"):
            if key in target:
                _fail("substatement", key, "a SubStatement has no id, stored, version or authority")
        part = "actor"
        try:
            check_agent(target.get("actor"), deviations)
            part = "verb"
            _check_verb(target.get("verb"))
            part = "object"
            _check_object(target.get("object"), deviations, nested=True)
        except StatementError as exc:
            raise exc.within(part) from None
    else:
        _fail(
            "object_type", "objectType",
            f"must be one of {', '.join(OBJECT_TYPES)}, not {object_type!r}",
        )  # fmt: skip
    return None, None


def _check_verb(verb: object) -> str:
    if not isinstance(verb, dict):
        _fail("verb", "", "is required: an object with an id IRI")
    _no_nulls(verb)
    verb_id = verb.get("id")
    if not _is_iri(verb_id):
        _fail("verb_id", "id", "is required: an absolute IRI")
    if "display" in verb:
        try:
            _language_map(verb["display"])
        except StatementError as exc:
            raise exc.within("display") from None
    return verb_id


def _check_result(
    result: object, deviations: list[str]
) -> tuple[float | None, bool | None, bool | None]:
    """2.4.5: returns (score in [0, 1] or None, success, completion)."""
    if not isinstance(result, dict):
        _fail("result", "", "must be an object")
    _no_nulls(result)
    success = result.get("success")
    if success is not None and success.__class__ is not bool:
        _fail("result_success", "success", "must be true or false")
    completion = result.get("completion")
    if completion is not None and completion.__class__ is not bool:
        _fail("result_completion", "completion", "must be true or false")
    score = result.get("score")
    if score is None:
        return None, success, completion
    if not isinstance(score, dict):
        _fail("score", "score", "must be an object")
    _no_nulls(score, "score.")
    scaled, raw = score.get("scaled"), score.get("raw")
    low, high = score.get("min"), score.get("max")
    if scaled is not None and not _is_number(scaled):
        _fail("score_scaled", "score.scaled", "must be a number")
    if raw is not None and not _is_number(raw):
        _fail("score_raw", "score.raw", "must be a number")
    if low is not None and not _is_number(low):
        _fail("score_min", "score.min", "must be a number")
    if high is not None and not _is_number(high):
        _fail("score_max", "score.max", "must be a number")
    if scaled is not None and not -1.0 <= scaled <= 1.0:
        _fail("score_scaled", "score.scaled", f"{scaled} is outside [-1, 1]")
    if low is not None and high is not None:
        if low == high == 0:
            deviations.append(ZERO_SCORE_RANGE)
            return None, success, completion  # a problem worth nothing says nothing about mastery
        if not low < high:
            _fail("score_range", "score.min", f"min ({low}) must be less than max ({high})")
    if raw is not None:
        if low is not None and raw < low:
            _fail("score_raw", "score.raw", f"{raw} is below min ({low})")
        if high is not None and raw > high:
            _fail("score_raw", "score.raw", f"{raw} is above max ({high})")
    if scaled is not None:
        return max(0.0, float(scaled)), success, completion
    if raw is not None and low is not None and high is not None:
        return (raw - low) / (high - low), success, completion
    return None, success, completion


def _timestamp(value: object, deviations: list[str], now: float) -> float:
    """4.5: ISO 8601; an offset of -00:00 is refused; no time zone is taken as UTC."""
    if not isinstance(value, str) or "T" not in value:
        _fail("timestamp", "", "must be an ISO 8601 date-time such as '2026-11-28T10:00:00Z'")
    if value.endswith(("-00:00", "-0000", "-00")):
        _fail("timestamp_offset", "", "must not use the offset -00:00 (write Z or +00:00)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail("timestamp", "", f"{value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        deviations.append(NO_TIME_ZONE)
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    if seconds <= 0:
        _fail("timestamp", "", "must be after 1970-01-01")
    if seconds > now + MAX_CLOCK_SKEW_S:
        deviations.append(FUTURE_TIMESTAMP)  # an LMS clock running ahead; it happened now
        seconds = now
    return seconds


def _course(context: object, deviations: list[str]) -> str | None:
    """2.4.6: validate the context parts used; return the first course-like context activity."""
    if not isinstance(context, dict):
        _fail("context", "", "must be an object")
    _no_nulls(context)
    if "registration" in context:
        _uuid(context["registration"], "registration")
    activities = context.get("contextActivities")
    if activities is None:
        return None
    if not isinstance(activities, dict):
        _fail("context_activities", "contextActivities", "must be an object")
    course = None
    for kind, value in activities.items():
        if kind not in CONTEXT_ACTIVITY_KINDS:
            _fail("context_activities", f"contextActivities.{kind}",
                  f"must be one of {', '.join(CONTEXT_ACTIVITY_KINDS)}")  # fmt: skip
        for index, item in enumerate(value if isinstance(value, list) else (value,)):
            try:
                activity_id, _ = _check_activity(item, deviations)
            except StatementError as exc:
                raise exc.within(f"contextActivities.{kind}[{index}]") from None
            if course is None and kind in ("parent", "grouping") and "/course" in activity_id:
                course = activity_id
    return course


def content_digest(data: dict) -> str:
    content = data.copy()
    for key in NOT_CONTENT:
        content.pop(key, None)
    return hashlib.sha1(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_statement(data: object, tenant: str, now: float | None = None) -> Statement:
    """Validate one statement; raise StatementError naming the broken rule."""
    if not isinstance(data, dict):
        _fail("statement", "", "a statement must be a JSON object")
    if not STATEMENT_PROPERTIES.issuperset(data):
        unknown = min(data.keys() - STATEMENT_PROPERTIES)
        _fail("statement_property", unknown, "is not a statement property of xAPI 1.0.3")
    _no_nulls(data)
    if "attachments" in data:
        _fail("attachments", "attachments", "this endpoint does not take attachments")
    version = data.get("version")
    if version is not None and not (
        isinstance(version, str) and VERSION_PATTERN.fullmatch(version)
    ):
        _fail("version", "version", f"must be 1.0.x, not {version!r}")
    deviations: list[str] = []
    now = time.time() if now is None else now
    actor = data.get("actor")
    if actor is None:
        _fail("actor", "actor", "is required")
    part = "actor"
    try:
        check_agent(actor, deviations)
        part = "verb"
        verb = _check_verb(data.get("verb"))
        part = "object"
        activity, name = _check_object(data.get("object"), deviations, nested=False)
        score = success = completion = None
        if "result" in data:
            part = "result"
            score, success, completion = _check_result(data["result"], deviations)
        timestamp = now
        if "timestamp" in data:
            part = "timestamp"
            timestamp = _timestamp(data["timestamp"], deviations, now)
        course = None
        if "context" in data:
            part = "context"
            course = _course(data["context"], deviations)
    except StatementError as exc:
        raise exc.within(part) from None
    digest = content_digest(data)
    if "id" in data:
        statement_id = _uuid(data["id"], "id")
    else:  # the LRS assigns it (2.4.1); from the content, so a re-sent statement keeps its id
        statement_id = str(uuid.uuid5(ID_NAMESPACE, f"{tenant}\x1f{digest}"))
    return Statement(
        statement_id, digest, actor, verb, activity, name, score, success, completion, timestamp,
        course, tuple(dict.fromkeys(deviations)) if deviations else (),
    )  # fmt: skip
