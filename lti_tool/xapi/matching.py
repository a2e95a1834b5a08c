"""When a statement sent again under a known id matches the one stored (xAPI 1.0.3, Data 2.3.1).

Differences that the exceptions to immutability could cause MUST be ignored: what the LRS may
assign (id, stored, authority, version, and a timestamp where none was sent), a Verb's display,
Activity Definitions, how a timestamp is written (the instant counts), the order of a Group's
members, attachments, and the case of what is case-insensitive (UUIDs, an e-mail address's
domain, a SHA-1 in hex). Every other difference counts; a Result's duration is compared as
written.

The intake keeps one record per id: `record` of the statement first stored, a digest of its
comparable form and its timestamp's instant. Works on any JSON (a signature's payload is not
validated as a statement): what is not shaped as xAPI says is compared as it is.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

NOT_COMPARED = ("id", "stored", "authority", "version", "attachments", "timestamp")
DIGEST_LENGTH = 40  # hex digits of a SHA-1
NO_TIMESTAMP = "~" * 18  # the timestamp's place in a record when none was sent
RECORD_LENGTH = DIGEST_LENGTH + len(NO_TIMESTAMP)
# Records stored before statements were compared as the spec says: a SHA-1 of the whole content.
LEGACY_LENGTH = DIGEST_LENGTH


def record(data: dict) -> str:
    """What the intake stores under a statement's id: its comparable form's digest, then its
    timestamp in microseconds since the epoch (signed, 18 characters) or NO_TIMESTAMP."""
    digest = hashlib.sha1(orjson.dumps(comparable(data), option=orjson.OPT_SORT_KEYS)).hexdigest()
    stamp = data.get("timestamp")
    if stamp is None:
        return digest + NO_TIMESTAMP
    instant = _instant(stamp)
    return digest + (f"{instant:+018d}" if isinstance(instant, int) else NO_TIMESTAMP)


def matches(stored: str, sent: str, legacy_digest: str) -> bool:
    """Whether a statement whose `record` is `sent` matches the one stored as `stored`; a legacy
    record (the whole content's digest) matches only the same content (`legacy_digest`)."""
    if len(stored) == LEGACY_LENGTH:
        return stored == legacy_digest
    if stored[:DIGEST_LENGTH] != sent[:DIGEST_LENGTH]:
        return False
    first, again = stored[DIGEST_LENGTH:], sent[DIGEST_LENGTH:]
    # A timestamp missing on one side is one the LRS could have set.
    return first == again or NO_TIMESTAMP in (first, again)


def comparable(data: object) -> object:
    """The statement as two matching statements have it alike (top-level timestamp aside)."""
    if not isinstance(data, dict):
        return data
    return _statement({k: v for k, v in data.items() if k not in NOT_COMPARED})


def _statement(data: dict) -> dict:
    out = dict(data)
    if isinstance(out.get("actor"), dict):
        out["actor"] = _agent(out["actor"])
    if isinstance(out.get("verb"), dict):
        out["verb"] = {k: v for k, v in out["verb"].items() if k != "display"}
    if isinstance(out.get("object"), dict):
        out["object"] = _object(out["object"])
    if isinstance(out.get("context"), dict):
        out["context"] = _context(out["context"])
    return out


def _object(value: dict) -> dict:
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        return _activity(value)
    if kind in ("Agent", "Group"):
        return _agent(value)
    if kind == "StatementRef":
        return {**value, "id": _lower(value.get("id"))}
    if kind == "SubStatement":
        out = _statement({k: v for k, v in value.items() if k != "attachments"})
        if "timestamp" in out:
            out["timestamp"] = _instant(out["timestamp"])
        return out
    return value


def _activity(value: object) -> object:
    if not isinstance(value, dict):
        return value
    out = {k: v for k, v in value.items() if k != "definition"}
    out.setdefault("objectType", "Activity")
    return out


def _agent(value: dict) -> dict:
    out = dict(value)
    out.setdefault("objectType", "Agent")
    mbox = out.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        out["mbox"] = f"{local}@{domain.lower()}"
    if isinstance(out.get("mbox_sha1sum"), str):
        out["mbox_sha1sum"] = out["mbox_sha1sum"].lower()
    members = out.get("member")
    if isinstance(members, list):
        agents = [_agent(m) if isinstance(m, dict) else m for m in members]
        out["member"] = sorted(agents, key=lambda m: orjson.dumps(m, option=orjson.OPT_SORT_KEYS))
    return out


def _context(value: dict) -> dict:
    out = dict(value)
    if "registration" in out:
        out["registration"] = _lower(out["registration"])
    for key in ("instructor", "team"):
        if isinstance(out.get(key), dict):
            out[key] = _agent(out[key])
    if isinstance(out.get("statement"), dict):
        out["statement"] = {**out["statement"], "id": _lower(out["statement"].get("id"))}
    kinds = out.get("contextActivities")
    if isinstance(kinds, dict):
        # One activity or a list of one: the LRS stores both as the list (Communication 2.1.2)
        out["contextActivities"] = {
            kind: [_activity(a) for a in (items if isinstance(items, list) else [items])]
            for kind, items in kinds.items()
        }
    return out


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _instant(value: object) -> object:
    """A timestamp as microseconds since the epoch (no zone: UTC, as the intake reads it);
    what does not parse stays as it is."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
