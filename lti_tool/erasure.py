"""Right to erasure, the LTI tool's part: the learner's AGS grade targets and queued scores (they
hold the LMS user id), their live launches and logins, and the xAPI statements waiting for them
to launch. The shared data goes with core/erasure.py; `skillgap forget-learner` runs both."""

from __future__ import annotations

import orjson

from core.erasure import Erased, erase_learner
from core.identity import alias_field
from lti_tool.redis_keys import LtiKeys
from lti_tool.tool import Tool
from lti_tool.xapi.intake import ACTOR_SEP, waiting_key


def forget_learner(tool: Tool, tenant: str, learner: str, lms_user: tuple[str, str] | None = None) -> Erased:
    """Remove every trace of `learner` of `tenant` (`lms_user`: the (issuer, user id) it came from, when known)."""
    services, lti_keys = tool.services, tool.lti_keys
    client, keys = services.redis, services.keys
    erased = Erased()
    aliases = {
        name.decode()
        for name, value in client.hscan_iter(f"{keys.prefix}:aliases:{tenant}")
        if value.decode() == learner
    }
    if lms_user is not None:
        aliases.add(alias_field(lms_user[0], "sub", lms_user[1]))
    _erase_grades(client, lti_keys, tenant, learner, lms_user, erased)
    _erase_waiting(client, keys, tenant, aliases, erased)
    _erase_sessions(client, lti_keys, learner, lms_user, erased)
    shared = erase_learner(client, keys, services.settings.partitions, tenant, learner)
    shared.counts.update(erased.counts)
    return shared


def _erase_grades(client, lti_keys: LtiKeys, tenant: str, learner: str, lms_user, erased: Erased) -> None:
    jobs = set()
    for job_id, raw in client.hscan_iter(lti_keys.grade_targets):
        target = orjson.loads(raw)
        if (target["tenant"], target["learner"]) == (tenant, learner) or _same_user(target, lms_user):
            jobs.add(job_id)
    for job_id, raw in client.hscan_iter(lti_keys.score_jobs):
        if _same_user(orjson.loads(raw), lms_user):
            jobs.add(job_id)
    if jobs:
        erased.add("AGS grade targets", client.hdel(lti_keys.grade_targets, *jobs))
        erased.add("queued AGS scores", client.hdel(lti_keys.score_jobs, *jobs))
        client.zrem(lti_keys.score_due, *jobs)


def _same_user(record: dict, lms_user: tuple[str, str] | None) -> bool:
    return lms_user is not None and (record["issuer"].rstrip("/"), record["user_id"]) == (
        lms_user[0].rstrip("/"),
        lms_user[1],
    )


def _erase_waiting(client, keys, tenant: str, aliases: set[str], erased: Erased) -> None:
    actors = [a.decode() for a in client.smembers(keys.xapi_waiting_actors(tenant))]
    theirs = [actor for actor in actors if aliases.intersection(actor.split(ACTOR_SEP))]
    for actor in theirs:
        erased.add("waiting xAPI statements", client.llen(waiting_key(keys, tenant, actor)))
        client.delete(waiting_key(keys, tenant, actor))
        client.srem(keys.xapi_waiting_actors(tenant), actor)


def _erase_sessions(client, lti_keys: LtiKeys, learner: str, lms_user, erased: Erased) -> None:
    """Launch sessions name the learner; login states hold the login hint, often the LMS user id."""
    for key in client.scan_iter(f"{lti_keys.base}:launch:*", count=1000):
        raw = client.get(key)
        if raw and orjson.loads(raw).get("learner") == learner:
            erased.add("live launches", client.delete(key))
    if lms_user is not None:
        for key in client.scan_iter(f"{lti_keys.base}:state:*", count=1000):
            raw = client.get(key)
            state = orjson.loads(raw) if raw else {}
            if (
                state.get("issuer", "").rstrip("/") == lms_user[0].rstrip("/")
                and state.get("login", {}).get("login_hint") == lms_user[1]
            ):
                erased.add("pending logins", client.delete(key))
