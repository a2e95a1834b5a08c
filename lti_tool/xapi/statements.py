"""xAPI 1.0.3 statement validation, written once for POST, PUT and any importer: every MUST of
part 2 (Data) and the statement rules of part 3 (Communication) that a single statement can
break. A failure raises StatementError naming the rule and the JSON path; the known
deviations of real LMS output that are accepted are returned with the statement and counted.

Section numbers refer to xAPI 1.0.3, part 2. This runs for every statement of every batch,
so it is written for the common shapes: each check names fields relative to its part and the
caller prefixes them only when one fails (`StatementError.within`); the IRIs and language
tags seen valid are remembered; every pattern is compiled once, here.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from lti_tool.xapi import matching

VERSION = "1.0.3"
# Matched whole (fullmatch): a trailing newline is no part of a valid value.
VERSION_PATTERN = re.compile(r"1\.0(\.\d+)?")
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# A scheme, then no white space, control characters or characters RFC 3987 excludes.
IRI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f<>\"{}|\\^`]+")
MBOX_PATTERN = re.compile(r"mailto:[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")
SHA1_PATTERN = re.compile(r"[0-9a-fA-F]{40}")
# SHA-224, -256, -384 or -512 in hex (4.4 of part 2 names SHA-2; the length says which).
SHA2_PATTERN = re.compile(r"[0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128}")
# RFC 2045 / 6838: type/subtype, then parameters.
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
MEDIA_TYPE_PATTERN = re.compile(rf"{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|\"(?:[^\"\\]|\\.)*\"))*\s*")
# 4.6: ISO 8601 durations, as designators (PnYnMnDTnHnMnS) or weeks (PnW).
_N = r"\d+(?:[.,]\d+)?"
DURATION_PATTERN = re.compile(
    rf"P(?=[\dT])(?:{_N}Y)?(?:{_N}M)?(?:{_N}D)?(?:T(?=\d)(?:{_N}H)?(?:{_N}M)?(?:{_N}S)?)?|P{_N}W"
)
# RFC 5646 section 2.1 (well-formed tags), case-insensitive; extension singletons are
# checked for repeats after the match (2.2.6).
_ALNUM = "[a-z0-9]"
LANGUAGE_TAG_PATTERN = re.compile(
    r"(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language, extlang
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?P<ext>(?:-[0-9a-wyz](?:-{_ALNUM}{{2,8}})+)*)"  # extensions
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"  # private use
    rf"|x(?:-{_ALNUM}{{1,8}})+"  # private use alone
    r"|en-gb-oed|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)"
    r"|sgn-(?:be-fr|be-nl|ch-de)|art-lojban|cel-gaulish|no-(?:bok|nyn)"
    r"|zh-(?:guoyu|hakka|min|min-nan|xiang))",
    re.IGNORECASE,
)
# context.language: a tag-like string. Looser than a language map's keys because the ADL
# conformance suite expects a 50-letter tag there to be accepted.
LANGUAGE_PATTERN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
MAX_REMEMBERED = 20_000
# Accepted, counted deviations (see `Statement.deviations`).
GROUP_ACTIVITY = "object_type_group_activity"  # Open edX event-routing-backends
ZERO_SCORE_RANGE = "score_min_max_zero"  # Open edX problems worth 0 points
ACTOR_TYPE_LIST = "actor_object_type_list"  # logstore_xapi with "send mbox": objectType ["Agent"]
NO_TIME_ZONE = "timestamp_without_time_zone"
# logstore_xapi's lesson questions: choices with empty ids, so the same (empty) id twice.
REPEATED_COMPONENT_ID = "interaction_component_id_repeated"
FUTURE_TIMESTAMP = "timestamp_in_future"
MAX_CLOCK_SKEW_S = 300.0

STATEMENT_PROPERTIES = frozenset(
    ("id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority")
    + ("version", "attachments")
)
SUBSTATEMENT_PROPERTIES = frozenset(
    ("objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments")
)
AGENT_PROPERTIES = frozenset(("objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"))
GROUP_PROPERTIES = AGENT_PROPERTIES | {"member"}
ACCOUNT_PROPERTIES = frozenset(("homePage", "name"))
VERB_PROPERTIES = frozenset(("id", "display"))
ACTIVITY_PROPERTIES = frozenset(("objectType", "id", "definition"))
DEFINITION_PROPERTIES = frozenset(
    ("name", "description", "type", "moreInfo", "extensions", "interactionType")
    + ("correctResponsesPattern", "choices", "scale", "source", "target", "steps")
)
COMPONENT_PROPERTIES = frozenset(("id", "description"))
STATEMENT_REF_PROPERTIES = frozenset(("objectType", "id"))
RESULT_PROPERTIES = frozenset(("score", "success", "completion", "response", "duration", "extensions"))
SCORE_PROPERTIES = frozenset(("scaled", "raw", "min", "max"))
CONTEXT_PROPERTIES = frozenset(
    ("registration", "instructor", "team", "contextActivities", "revision", "platform")
    + ("language", "statement", "extensions")
)
ATTACHMENT_PROPERTIES = frozenset(("usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"))
ATTACHMENT_REQUIRED = ("usageType", "display", "contentType", "length", "sha2")
# 2.4.4.1, interaction activities: the component lists each interaction type may carry.
INTERACTION_COMPONENTS = {
    "true-false": (),
    "choice": ("choices",),
    "fill-in": (),
    "long-fill-in": (),
    "matching": ("source", "target"),
    "performance": ("steps",),
    "sequencing": ("choices",),
    "likert": ("scale",),
    "numeric": (),
    "other": (),
}
COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
INTERACTION_PROPERTIES = frozenset(("interactionType", "correctResponsesPattern") + COMPONENT_LISTS)
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
# Left out of the content compared for a repeated id: the LRS may set them (4.1.12, 2.2.8).
NOT_CONTENT = ("id", "stored", "authority", "version")
INVERSE_FUNCTIONAL = ("mbox", "mbox_sha1sum", "openid", "account")
OBJECT_TYPES = ("Activity", "Agent", "Group", "SubStatement", "StatementRef")
CONTEXT_ACTIVITY_KINDS = frozenset(("parent", "grouping", "category", "other"))
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
        if not self.field:
            field = prefix
        elif self.field[0] == "[":
            field = prefix + self.field
        else:
            field = f"{prefix}.{self.field}"
        return StatementError(self.rule, field, self.message)


class Statement(NamedTuple):
    id: str  # lowercase UUID: the statement's own, or derived from its content
    digest: str  # the whole content's hash (an id-less statement's id derives from it)
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
    # Each attachment's sha2 (lowercase) and whether its content must come as a part (no fileUrl).
    attachments: tuple[tuple[str, bool], ...] = ()
    # The parent and grouping activity ids, innermost first as LMSs list them (logstore_xapi:
    # attempt, quiz, section, course): the course items a statement may count for.
    context_activities: tuple[str, ...] = ()
    # What the intake keeps under the id, to tell a matching statement sent again from a
    # conflict (lti_tool/xapi/matching.py).
    record: str = ""


def _fail(rule: str, field: str, message: str):
    raise StatementError(rule, field, message)


class _Remembered:
    """Values seen valid, at most MAX_REMEMBERED per process: an LMS sends the same verbs,
    activity types, courses and language tags over and over."""

    def __init__(self, valid):
        self.valid = valid
        self.seen: set[str] = set()

    def __call__(self, value: object) -> bool:
        if value.__class__ is not str:
            return False
        if value in self.seen:
            return True
        if not self.valid(value):
            return False
        if len(self.seen) >= MAX_REMEMBERED:
            self.seen.clear()
        self.seen.add(value)
        return True


def _language_tag(tag: str) -> bool:
    match = LANGUAGE_TAG_PATTERN.fullmatch(tag)
    if match is None:
        return False
    extensions = match.group("ext")
    if extensions:
        singletons = [part for part in extensions.lower().split("-") if len(part) == 1]
        return len(singletons) == len(set(singletons))
    return True


_is_iri = _Remembered(lambda value: IRI_PATTERN.fullmatch(value) is not None)
_is_language_tag = _Remembered(_language_tag)


def _object(value: object, allowed: frozenset, what: str) -> None:
    """A JSON object with only the properties of its kind and no nulls (2.2)."""
    if value.__class__ is not dict or not value.keys() <= allowed or None in value.values():
        _not_object(value, allowed, what)


def _not_object(value: object, allowed: frozenset, what: str):
    if value.__class__ is not dict:
        _fail("type", "", f"must be {what} (a JSON object)")
    if not value.keys() <= allowed:
        unknown = min(value.keys() - allowed)
        _fail("unknown_property", unknown, f"is not a property of {what} in xAPI 1.0.3")
    key = next(k for k, v in value.items() if v is None)
    _fail("null_value", key, "must not be null (leave the property out instead)")


def _language_map(value: object) -> str:
    """A language map (4.2): RFC 5646 tags to strings, at least one. Returns its first string."""
    if value.__class__ is not dict or not value:
        _fail("language_map", "", "must be an object of language tag to string, not empty")
    for tag, text in value.items():
        if text.__class__ is not str:
            _fail("language_map", tag, "must be a string")
        if not _is_language_tag(tag):
            _fail("language_tag", tag, "is not an RFC 5646 language tag")
    return next(iter(value.values()))


def _extensions(value: object) -> None:
    """4.1: an object whose keys are IRIs; its values may be anything, null included."""
    if value.__class__ is not dict:
        _fail("extensions", "", "must be an object of IRI to any value")
    for key in value:
        if not _is_iri(key):
            _fail("extension_key", key, "an extension key must be an IRI")


def _string(value: object, rule: str, field: str) -> str:
    if value.__class__ is not str:
        _fail(rule, field, "must be a string")
    return value


def _uuid(value: object, field: str) -> str:
    if value.__class__ is not str or UUID_PATTERN.fullmatch(value) is None:
        _fail("uuid", field, "must be a UUID such as 'e1b5b3f0-7c2d-4f55-9a3e-5b1f4f6f1a2b'")
    return value.lower()


def _check_ifi(agent: dict) -> int:
    """The inverse functional identifiers (2.4.2.3); returns how many there are."""
    count = 0
    if "account" in agent:
        count += 1
        account = agent["account"]
        try:
            _object(account, ACCOUNT_PROPERTIES, "an account")
        except StatementError as exc:
            raise exc.within("account") from None
        if not _is_iri(account.get("homePage")):
            _fail("account", "account.homePage", "is required: the IRL of the account's system")
        name = account.get("name")
        if name.__class__ is not str or not name:
            _fail("account", "account.name", "is required: the account's name, a string")
    if "mbox" in agent:
        count += 1
        mbox = agent["mbox"]
        if mbox.__class__ is not str or MBOX_PATTERN.fullmatch(mbox) is None:
            _fail("mbox", "mbox", "must be a 'mailto:' IRI of an email address")
    if "mbox_sha1sum" in agent:
        count += 1
        sha1sum = agent["mbox_sha1sum"]
        if sha1sum.__class__ is not str or SHA1_PATTERN.fullmatch(sha1sum) is None:
            _fail("mbox_sha1sum", "mbox_sha1sum", "must be the 40 hex digits of a SHA-1")
    if "openid" in agent:
        count += 1
        if not _is_iri(agent["openid"]):
            _fail("openid", "openid", "must be a URI")
    return count


def check_agent(agent: object, deviations: list[str], group_allowed: bool = True, default: str = "Agent") -> str:
    """An Agent or Group (2.4.2); returns its objectType. Fields are named from the agent."""
    if agent.__class__ is not dict:
        _fail("agent", "", "must be an object with an objectType and one identifier")
    object_type = agent.get("objectType", default)
    if object_type.__class__ is list and object_type in (["Agent"], ["Group"]):
        deviations.append(ACTOR_TYPE_LIST)
        object_type = object_type[0]
    if object_type == "Agent":
        _object(agent, AGENT_PROPERTIES, "an Agent")
    elif object_type == "Group" and group_allowed:
        _object(agent, GROUP_PROPERTIES, "a Group")
    else:
        allowed = "'Agent' or 'Group'" if group_allowed else "'Agent'"
        _fail("agent_object_type", "objectType", f"must be {allowed}, not {object_type!r}")
    if "name" in agent and agent["name"].__class__ is not str:
        _fail("agent_name", "name", "must be a string")
    identifiers = _check_ifi(agent)
    if object_type == "Agent":
        if identifiers != 1:
            _fail(
                "agent_identifier",
                "",
                f"an Agent needs exactly one of {', '.join(INVERSE_FUNCTIONAL)} (found {identifiers})",
            )
        return object_type
    if identifiers > 1:
        _fail("agent_identifier", "", "a Group has at most one identifier")
    members = agent.get("member")
    if members is None and not identifiers:
        _fail("group_member", "member", "an anonymous Group needs a list of member Agents")
    if members is not None:
        if members.__class__ is not list or (not identifiers and not members):
            _fail("group_member", "member", "must be a list of Agents")
        for index, member in enumerate(members):
            try:
                check_agent(member, deviations, group_allowed=False)
            except StatementError as exc:
                raise exc.within(f"member[{index}]") from None
    return object_type


def _check_authority(authority: object, deviations: list[str]) -> None:
    """2.4.9: an Agent, or an anonymous Group of exactly two Agents (OAuth consumer and user)."""
    if check_agent(authority, deviations) == "Group":
        if _check_ifi(authority) or len(authority.get("member", ())) != 2:
            _fail("authority", "", "a Group as authority is anonymous with exactly two Agents")


def _check_components(definition: dict, deviations: list[str]) -> None:
    interaction = definition.get("interactionType")
    if interaction is None:
        for key in ("correctResponsesPattern",) + COMPONENT_LISTS:
            if key in definition:
                _fail("interaction_type", key, "needs an interactionType")
        return
    if interaction.__class__ is not str or interaction not in INTERACTION_COMPONENTS:
        _fail(
            "interaction_type",
            "interactionType",
            f"must be one of {', '.join(INTERACTION_COMPONENTS)} (case-sensitive)",
        )
    pattern = definition.get("correctResponsesPattern")
    if pattern is not None and (pattern.__class__ is not list or any(item.__class__ is not str for item in pattern)):
        _fail("correct_responses", "correctResponsesPattern", "must be a list of strings")
    allowed = INTERACTION_COMPONENTS[interaction]
    for key in COMPONENT_LISTS:
        if key not in definition:
            continue
        if key not in allowed:
            _fail("interaction_components", key, f"does not apply to {interaction!r}")
        components = definition[key]
        if components.__class__ is not list:
            _fail("interaction_components", key, "must be a list of interaction components")
        ids = set()
        for index, component in enumerate(components):
            field = f"{key}[{index}]"
            try:
                _object(component, COMPONENT_PROPERTIES, "an interaction component")
                if "description" in component:
                    try:
                        _language_map(component["description"])
                    except StatementError as exc:
                        raise exc.within("description") from None
            except StatementError as exc:
                raise exc.within(field) from None
            component_id = component.get("id")
            if component_id.__class__ is not str:
                _fail("interaction_components", f"{field}.id", "is required: a string")
            if component_id in ids:
                if component_id:
                    _fail("interaction_components", f"{field}.id", "repeats an id of this list")
                deviations.append(REPEATED_COMPONENT_ID)
            ids.add(component_id)


def _check_definition(definition: object, deviations: list[str]) -> str | None:
    """An activity definition (2.4.4.1); returns its first name."""
    _object(definition, DEFINITION_PROPERTIES, "an activity definition")
    name = None
    part = "name"
    try:
        if "name" in definition:
            name = _language_map(definition["name"])
        part = "description"
        if "description" in definition:
            _language_map(definition["description"])
        part = "extensions"
        if "extensions" in definition:
            _extensions(definition["extensions"])
    except StatementError as exc:
        raise exc.within(part) from None
    if "type" in definition and not _is_iri(definition["type"]):
        _fail("activity_type", "type", "must be an absolute IRI")
    if "moreInfo" in definition and not _is_iri(definition["moreInfo"]):
        _fail("more_info", "moreInfo", "must be an IRL")
    if not INTERACTION_PROPERTIES.isdisjoint(definition):
        _check_components(definition, deviations)
    return name


# Activities seen valid, by id, with their name and deviations: an LMS names the same
# courses, modules and sites in statement after statement, and comparing a dict with the one
# seen is much cheaper than checking it again.
_valid_activities: dict[str, tuple[dict, str | None, tuple[str, ...]]] = {}


def _check_activity(activity: object, deviations: list[str]) -> tuple[str, str | None]:
    """An Activity (2.4.4.1): an id IRI and an optional definition. Returns (id, name)."""
    if activity.__class__ is not dict:
        _fail("activity", "", "must be an object with an id")
    activity_id = activity.get("id")
    if activity_id.__class__ is str:
        seen = _valid_activities.get(activity_id)
        if seen is not None and seen[0] == activity:
            if seen[2]:
                deviations.extend(seen[2])
            return activity_id, seen[1]
    found: list[str] = []
    name = _check_new_activity(activity, found)
    if found:
        deviations.extend(found)
    _remember(_valid_activities, activity_id, (copy.deepcopy(activity), name, tuple(found)))
    return activity_id, name


def _remember(seen: dict, key: str, value: object) -> None:
    if len(seen) >= MAX_REMEMBERED:
        seen.clear()
    seen[key] = value


def _check_new_activity(activity: dict, deviations: list[str]) -> str | None:
    object_type = activity.get("objectType", "Activity")
    if object_type != "Activity":
        if object_type != "GroupActivity":
            _fail("activity_object_type", "objectType", f"must be 'Activity', not {object_type!r}")
        deviations.append(GROUP_ACTIVITY)
    _object(activity, ACTIVITY_PROPERTIES, "an Activity")
    if not _is_iri(activity.get("id")):
        _fail("activity_id", "id", "is required: an absolute IRI")
    if "definition" not in activity:
        return None
    try:
        return _check_definition(activity["definition"], deviations)
    except StatementError as exc:
        raise exc.within("definition") from None


def _check_statement_ref(target: dict) -> None:
    _object(target, STATEMENT_REF_PROPERTIES, "a StatementRef")
    if target.get("objectType") != "StatementRef":
        _fail("statement_ref", "objectType", "must be 'StatementRef'")
    _uuid(target.get("id"), "id")


def _check_object(
    target: object, deviations: list[str], now: float, nested: bool
) -> tuple[str, str | None, str | None]:
    """The object (2.4.4); fields are named from it. Returns (objectType, activity id, name)."""
    if target.__class__ is not dict:
        _fail("object", "", "is required: an Activity, Agent, Group, SubStatement or StatementRef")
    object_type = target.get("objectType", "Activity")
    if object_type == "Activity" or object_type == "GroupActivity":
        return ("Activity",) + _check_activity(target, deviations)
    if object_type == "Agent" or object_type == "Group":
        check_agent(target, deviations)
    elif object_type == "StatementRef":
        _check_statement_ref(target)
    elif object_type == "SubStatement":
        if nested:
            _fail("substatement", "objectType", "a SubStatement cannot contain a SubStatement")
        for key in ("id", "stored", "version", "authority"):
            if key in target:
                _fail("substatement", key, "a SubStatement has no id, stored, version or authority")
        _object(target, SUBSTATEMENT_PROPERTIES, "a SubStatement")
        _check_parts(target, deviations, now, nested=True)
    else:
        _fail(
            "object_type",
            "objectType",
            f"must be one of {', '.join(OBJECT_TYPES)}, not {object_type!r}",
        )
    return object_type, None, None


_valid_verbs: dict[str, dict] = {}  # as _valid_activities


def _check_verb(verb: object) -> str:
    if verb.__class__ is not dict:
        _fail("verb", "", "is required: an object with an id IRI")
    verb_id = verb.get("id")
    if verb_id.__class__ is str and _valid_verbs.get(verb_id) == verb:
        return verb_id
    _object(verb, VERB_PROPERTIES, "a Verb")
    if not _is_iri(verb_id):
        _fail("verb_id", "id", "is required: an absolute IRI")
    if "display" in verb:
        try:
            _language_map(verb["display"])
        except StatementError as exc:
            raise exc.within("display") from None
    _remember(_valid_verbs, verb_id, copy.deepcopy(verb))
    return verb_id


def _check_score(score: object, deviations: list[str]) -> float | None:
    """2.4.5.1: returns the score in [0, 1] it gives, if any."""
    _object(score, SCORE_PROPERTIES, "a score")
    for name, value in score.items():
        kind = value.__class__
        if kind is not int and (kind is not float or not math.isfinite(value)):
            _fail(f"score_{name}", name, "must be a number")
    scaled, raw = score.get("scaled"), score.get("raw")
    low, high = score.get("min"), score.get("max")
    if scaled is not None and not -1.0 <= scaled <= 1.0:
        _fail("score_scaled", "scaled", f"{scaled} is outside [-1, 1]")
    if low is not None and high is not None:
        if low == high == 0:
            deviations.append(ZERO_SCORE_RANGE)
            return None  # a problem worth nothing says nothing about mastery
        if not low < high:
            _fail("score_range", "min", f"min ({low}) must be less than max ({high})")
    if raw is not None:
        if low is not None and raw < low:
            _fail("score_raw", "raw", f"{raw} is below min ({low})")
        if high is not None and raw > high:
            _fail("score_raw", "raw", f"{raw} is above max ({high})")
    # raw within [min, max] first: logstore_xapi's scaled is 2(raw-min)/(max-min)-1, so a
    # quiz at 6/10 says 0.2 there (issue 16).
    if raw is not None and low is not None and high is not None:
        return (raw - low) / (high - low)
    if scaled is not None:
        return max(0.0, float(scaled))
    return None


def _check_result(result: object, deviations: list[str]) -> tuple[float | None, bool | None, bool | None]:
    """2.4.5: returns (score in [0, 1] or None, success, completion)."""
    _object(result, RESULT_PROPERTIES, "a result")
    success = result.get("success")
    if success is not None and success.__class__ is not bool:
        _fail("result_success", "success", "must be true or false")
    completion = result.get("completion")
    if completion is not None and completion.__class__ is not bool:
        _fail("result_completion", "completion", "must be true or false")
    if "response" in result:
        _string(result["response"], "result_response", "response")
    if "duration" in result:
        duration = result["duration"]
        if duration.__class__ is not str or DURATION_PATTERN.fullmatch(duration) is None:
            _fail("duration", "duration", "must be an ISO 8601 duration such as 'PT1H30M'")
    if "extensions" in result:
        try:
            _extensions(result["extensions"])
        except StatementError as exc:
            raise exc.within("extensions") from None
    if "score" not in result:
        return None, success, completion
    try:
        return _check_score(result["score"], deviations), success, completion
    except StatementError as exc:
        raise exc.within("score") from None


def parse_timestamp(value: object) -> tuple[datetime, bool]:
    """4.5: an ISO 8601 date-time; an offset of -00:00 is refused. Returns (it, has a zone)."""
    if value.__class__ is not str or "T" not in value:
        _fail("timestamp", "", "must be an ISO 8601 date-time such as '2026-11-28T10:00:00Z'")
    if value.endswith(("-00:00", "-0000", "-00")):
        _fail("timestamp_offset", "", "must not use the offset -00:00 (write Z or +00:00)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail("timestamp", "", f"{value!r} is not an ISO 8601 date-time")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), False
    return parsed, True


def _timestamp(value: object, deviations: list[str], now: float) -> float:
    """The statement's time: no time zone is taken as UTC, a clock running ahead as now."""
    parsed, zoned = parse_timestamp(value)
    if not zoned:
        deviations.append(NO_TIME_ZONE)
    seconds = parsed.timestamp()
    if seconds <= 0:
        _fail("timestamp", "", "must be after 1970-01-01")
    if seconds > now + MAX_CLOCK_SKEW_S:
        deviations.append(FUTURE_TIMESTAMP)  # an LMS clock running ahead; it happened now
        seconds = now
    return seconds


# Activity types that name a course (cmi5: logstore_xapi 5; tincan: earlier logstore_xapi;
# ADL: Open edX).
COURSE_TYPES = frozenset(
    (
        "https://w3id.org/xapi/cmi5/activitytype/course",
        "http://id.tincanapi.com/activitytype/lms/course",
        "http://adlnet.gov/expapi/activities/course",
    )
)
# Course URL shapes, for a course activity sent without a type: Moodle, Open edX.
COURSE_URL = re.compile(r"/course/view\.php\?id=[^&#]+\Z|/course/course-v1:[^/?#]+/?\Z")


def _is_course(activity: dict, activity_id: str) -> bool:
    definition = activity.get("definition")
    kind = definition.get("type") if definition.__class__ is dict else None
    return kind in COURSE_TYPES or COURSE_URL.search(activity_id) is not None


def _check_context(context: object, object_type: str, deviations: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """2.4.6; returns the course (by activity type, else URL shape: logstore_xapi lists the
    section before the course) and the parent and grouping activity ids in order."""
    _object(context, CONTEXT_PROPERTIES, "a context")
    if "registration" in context:
        _uuid(context["registration"], "registration")
    for key in ("revision", "platform"):
        if key in context:
            _string(context[key], f"context_{key}", key)
            if object_type != "Activity":
                _fail(f"context_{key}", key, "is allowed only when the object is an Activity")
    if "language" in context:
        language = context["language"]
        if language.__class__ is not str or LANGUAGE_PATTERN.fullmatch(language) is None:
            _fail("language_tag", "language", "must be an RFC 5646 language tag")
    part = "instructor"
    try:
        if "instructor" in context:
            check_agent(context["instructor"], deviations)
        part = "team"
        if "team" in context and check_agent(context["team"], deviations, default="") != "Group":
            _fail("context_team", "", "must be a Group")
        part = "statement"
        if "statement" in context:
            statement = context["statement"]
            if statement.__class__ is not dict:
                _fail("statement_ref", "", "must be a StatementRef")
            _check_statement_ref(statement)
        part = "extensions"
        if "extensions" in context:
            _extensions(context["extensions"])
    except StatementError as exc:
        raise exc.within(part) from None
    activities = context.get("contextActivities")
    if activities is None:
        return None, ()
    if activities.__class__ is not dict or not activities:
        _fail("context_activities", "contextActivities", "must be a non-empty object")
    course = None
    found: list[str] = []
    for kind, value in activities.items():
        if kind not in CONTEXT_ACTIVITY_KINDS:
            _fail("context_activities", f"contextActivities.{kind}", "must be one of parent, grouping, category, other")
        if value is None:
            _fail("null_value", f"contextActivities.{kind}", "must not be null")
        items = value if value.__class__ is list else (value,)
        for index, item in enumerate(items):
            try:
                activity_id, _ = _check_activity(item, deviations)
            except StatementError as exc:
                raise exc.within(f"contextActivities.{kind}[{index}]") from None
            if kind in ("parent", "grouping"):
                found.append(activity_id)
                if course is None and _is_course(item, activity_id):
                    course = activity_id
    return course, tuple(found)


def _check_attachments(attachments: object) -> tuple[tuple[str, bool], ...]:
    """2.4.11; returns each attachment's sha2 and whether its content must come as a part."""
    if attachments.__class__ is not list:
        _fail("attachments", "", "must be a list of attachments")
    parts = []
    for index, attachment in enumerate(attachments):
        try:
            _object(attachment, ATTACHMENT_PROPERTIES, "an attachment")
            for key in ATTACHMENT_REQUIRED:
                if key not in attachment:
                    _fail("attachment", key, "is required")
            if not _is_iri(attachment["usageType"]):
                _fail("attachment", "usageType", "must be an IRI")
            part = "display"
            try:
                _language_map(attachment["display"])
                part = "description"
                if "description" in attachment:
                    _language_map(attachment["description"])
            except StatementError as exc:
                raise exc.within(part) from None
            content_type = attachment["contentType"]
            if content_type.__class__ is not str or MEDIA_TYPE_PATTERN.fullmatch(content_type) is None:
                _fail("attachment", "contentType", "must be an Internet media type")
            length = attachment["length"]
            if length.__class__ is not int or length < 0:
                _fail("attachment", "length", "must be a whole number of octets")
            sha2 = attachment["sha2"]
            if sha2.__class__ is not str or SHA2_PATTERN.fullmatch(sha2) is None:
                _fail("attachment", "sha2", "must be the hex SHA-2 of the content")
            if "fileUrl" in attachment and not _is_iri(attachment["fileUrl"]):
                _fail("attachment", "fileUrl", "must be an IRL")
            parts.append((sha2.lower(), "fileUrl" not in attachment))
        except StatementError as exc:
            raise exc.within(f"[{index}]") from None
    return tuple(parts)


class _Parts(NamedTuple):
    verb: str
    object_type: str
    activity: str | None
    name: str | None
    score: float | None
    success: bool | None
    completion: bool | None
    timestamp: float | None
    course: str | None
    attachments: tuple[tuple[str, bool], ...]
    context_activities: tuple[str, ...]


def _check_parts(data: dict, deviations: list[str], now: float, nested: bool) -> _Parts:
    """What a statement and a SubStatement share: actor, verb, object, result, context,
    timestamp and attachments."""
    if "actor" not in data or "verb" not in data or "object" not in data:
        key = next(k for k in ("actor", "verb", "object") if k not in data)
        _fail(key, key, "is required")
    part = "actor"
    try:
        check_agent(data["actor"], deviations)
        part = "verb"
        verb = _check_verb(data["verb"])
        part = "object"
        object_type, activity, name = _check_object(data["object"], deviations, now, nested)
        if verb == VOIDED and object_type != "StatementRef":
            _fail("voided", "", "a voiding statement's object must be a StatementRef")
        score = success = completion = None
        if "result" in data:
            part = "result"
            score, success, completion = _check_result(data["result"], deviations)
        timestamp = None
        if "timestamp" in data:
            part = "timestamp"
            timestamp = _timestamp(data["timestamp"], deviations, now)
        course, context_activities = None, ()
        if "context" in data:
            part = "context"
            course, context_activities = _check_context(data["context"], object_type, deviations)
        if course is None and activity is not None and _is_course(data["object"], activity):
            course = activity  # the course itself (viewed, completed)
        attachments = ()
        if "attachments" in data:
            part = "attachments"
            attachments = _check_attachments(data["attachments"])
    except StatementError as exc:
        raise exc.within(part) from None
    return _Parts(
        verb,
        object_type,
        activity,
        name,
        score,
        success,
        completion,
        timestamp,
        course,
        attachments,
        context_activities,
    )


def content_digest(data: dict) -> str:
    content = data.copy()
    for key in NOT_CONTENT:
        content.pop(key, None)
    return hashlib.sha1(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_statement(data: object, tenant: str, now: float | None = None) -> Statement:
    """Validate one statement; raise StatementError naming the broken rule and where."""
    if data.__class__ is not dict:
        _fail("statement", "", "a statement must be a JSON object")
    try:
        _object(data, STATEMENT_PROPERTIES, "a statement")
    except StatementError as exc:
        if exc.rule == "unknown_property":
            raise StatementError("statement_property", exc.field, exc.message) from None
        raise
    version = data.get("version")
    if version is not None and not (version.__class__ is str and VERSION_PATTERN.fullmatch(version)):
        _fail("version", "version", f"must be 1.0.x, not {version!r}")
    deviations: list[str] = []
    now = time.time() if now is None else now
    parts = _check_parts(data, deviations, now, nested=False)
    if "stored" in data:
        try:
            parse_timestamp(data["stored"])
        except StatementError as exc:
            raise exc.within("stored") from None
    if "authority" in data:
        try:
            _check_authority(data["authority"], deviations)
        except StatementError as exc:
            raise exc.within("authority") from None
    digest = content_digest(data)
    if "id" in data:
        statement_id = _uuid(data["id"], "id")
    else:  # the LRS assigns it (2.4.1); from the content, so a re-sent statement keeps its id
        statement_id = str(uuid.uuid5(ID_NAMESPACE, f"{tenant}\x1f{digest}"))
    return Statement(
        statement_id,
        digest,
        data["actor"],
        parts.verb,
        parts.activity,
        parts.name,
        parts.score,
        parts.success,
        parts.completion,
        now if parts.timestamp is None else parts.timestamp,
        parts.course,
        tuple(dict.fromkeys(deviations)) if deviations else (),
        parts.attachments,
        parts.context_activities,
        matching.record(data),
    )
