"""Turn a batch of valid statements into events on the log, applied once per statement id.

The statement id is the event id, and each id is recorded with what tells a matching statement
(lti_tool/xapi/matching.py) under the tenant's hash tag. Per request: one MGET of those records
(a matching statement sent again is answered 200 and written no more; one that does not match
a known id is a 409, with nothing written), the alias lookup (only for actors the platform
rule cannot name), and one pipeline with the events, the
new records (one script, after the events: a crash in between re-sends rather than loses), the
statements waiting for their actor, the admin's counters and, when a forward LRS is set, the
statements to forward (before the records too: forward.py); on Redis Cluster the events are
committed first, so an error answer never leaves records of statements whose events are not on
the log (xAPI rejects a batch as a whole: the LMS sends it again). Two requests racing with one
new id both pass the check; the workers' processed-event marks then apply the id once.
Statements waiting for their actor are released the same way: one transaction with their
removal on one Redis, their events first on a cluster (_release_on_cluster).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import orjson
import redis
from redis.cluster import RedisCluster

from core.eventlog import append_events, events_pipeline, queue_events
from core.events import Event, parse_event, trusted_event
from core.identity import course_cohort, learners_for_aliases
from core.keys import Keys
from core.recent import note_recent
from core.services import Services
from lti_tool.course_binding import CourseBinding, candidates, item_type
from lti_tool.redis_keys import LtiKeys
from lti_tool.xapi import matching
from lti_tool.xapi.actors import alias_fields, direct_learner
from lti_tool.xapi.credentials import Credential
from lti_tool.xapi.mapping import UNMAPPED_ACTIVITY, Meaning, StatementMapper, context_id_of
from lti_tool.xapi.statements import Statement

SOURCE = "xapi"
SECONDS_PER_DAY = 86_400
GROUP_ACTOR = "group_actor"  # a Group did it: no one learner to credit
STAFF_ACTOR = "staff_actor"  # a teacher or admin did it: no learner
# KEYS: statement records; ARGV[1]: their TTL in seconds; ARGV[2]: their records
# (Statement.record), one after the other (one argument, not one each: redis-py packs
# arguments one by one). The first statement stored under an id stays (NX), as a repeat's
# check expects.
RECORD_STATEMENTS = f"""
local records, length = ARGV[2], {matching.RECORD_LENGTH}
for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.sub(records, (i - 1) * length + 1, i * length), 'EX', ARGV[1], 'NX')
end
return #KEYS
"""


class StatementConflict(Exception):
    """Statement ids already stored with other content (xAPI 1.0.3, part 3, 2.1.2: 409)."""

    def __init__(self, indexes: list[int]):
        self.indexes = indexes
        super().__init__(f"statements {indexes} reuse ids stored with other content")


ACTOR_SEP = "\x1e"
RECEIVED = "received"  # when a waiting statement arrived (its age counts from then)


def waiting_actor(fields: tuple[str, ...]) -> str:
    """A waiting actor is named by all the alias fields that may name it later."""
    return ACTOR_SEP.join(fields)


def waiting_key(keys: Keys, tenant: str, actor: str) -> str:
    return keys.xapi_waiting(tenant, hashlib.sha1(actor.encode()).hexdigest()[:24])


@lru_cache(maxsize=65_536)  # an LMS names the same course items over and over
def _candidates(activity: str | None, context: tuple[str, ...]) -> tuple[str, ...]:
    return candidates(activity, context)


def unmapped_item(statement: Statement) -> str:
    """What an unmapped statement is counted under: the innermost course item it belongs to
    (a quiz for its questions and attempts), the object itself when none is known."""
    for item in _candidates(statement.activity, statement.context_activities):
        if item_type(item) != "other":
            return item
    return statement.activity


@lru_cache(maxsize=4096)
def _cohort(issuer: str, context_id: str | None) -> str | None:
    return course_cohort(issuer, context_id)


def statement_event(statement: Statement, meaning: Meaning, learner: str, credential: Credential) -> Event:
    """The event of a valid, mapped statement. `parse_statement`, the mapping and the
    credential have proved what `parse_event` would check (the id a UUID, the module the
    catalog's, a float score in [0, 1] exactly for the kinds that need one, a timestamp after
    1970 and within the clock skew, a course IRI and an issuer without control characters, so
    a cohort without them; the learner a pseudonym), so it is built as trusted;
    tests/test_xapi_events.py holds such events against parse_event."""
    return trusted_event(
        statement.id,
        credential.tenant,
        learner,
        _cohort(credential.issuer, meaning.course),
        meaning.module,
        meaning.kind,
        meaning.score,
        statement.timestamp,
        SOURCE,
    )


@dataclass
class Effect:
    """What a request's new statements do: their events, the statements left waiting for an
    actor no launch has named yet, the waiting actors that can now be released, and the counts
    the admin's report shows."""

    counts: Counter
    events: list[Event] = field(default_factory=list)
    waiting: dict[str, list[bytes]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)
    names: dict[str, str] = field(default_factory=dict)  # unmapped activity -> its name
    courses: dict[str, str] = field(default_factory=dict)  # unmapped activity -> its course


class Intake:
    """Built once per process; `take` is called per request."""

    def __init__(self, services: Services):
        self.services = services
        self.keys = services.keys
        self.mapper = StatementMapper(services.catalog)
        self.binding = CourseBinding(services.redis, LtiKeys(services.keys))

    def _bound(self, tenant: str, statements: list[Statement]) -> list[str | None]:
        """The module the course binding gives each statement (its object or innermost bound
        parent), None where it gives none: one HMGET for the batch."""
        can_mean = self.mapper.can_mean
        items = [_candidates(s.activity, s.context_activities) if can_mean(s) else () for s in statements]
        wanted = list(dict.fromkeys(item for found in items for item in found))
        modules = self.binding.modules_for(tenant, wanted)
        if not modules:
            return [None] * len(statements)
        return [next((modules[i] for i in found if i in modules), None) for found in items]

    def take(
        self,
        credential: Credential,
        statements: list[Statement],
        now: float,
        forward: dict[str, bytes] | None = None,
    ) -> Counter:
        """Check the ids (StatementConflict if one is known with other content, nothing
        written), work out the effect of the new statements, write it all; returns the counts.
        `forward`: by id, each statement as JSON with its id, for the company's LRS."""
        counts: Counter = Counter(statements=len(statements))
        statements, record_keys = self._new_statements(credential.tenant, statements, counts)
        effect = self._effect(credential, statements, counts, now)
        self._write(credential.tenant, statements, record_keys, effect, now, forward)
        if effect.released:
            release_waiting(self.services, credential.tenant, effect.released)
        return effect.counts

    def _new_statements(
        self, tenant: str, statements: list[Statement], counts: Counter
    ) -> tuple[list[Statement], list[str]]:
        """The statements whose ids are new, with their record keys; repeats are counted.
        Raises StatementConflict when a known id comes with other content."""
        record_keys = [self.keys.xapi_statement(tenant, s.id) for s in statements]
        records = self.services.redis.mget(record_keys)
        if not any(records):
            return statements, record_keys
        conflicts = [
            i
            for i, (s, seen) in enumerate(zip(statements, records))
            if seen and not matching.matches(seen.decode(), s.record, s.digest)
        ]
        if conflicts:
            raise StatementConflict(conflicts)
        counts["repeated"] = sum(1 for seen in records if seen)
        fresh = [i for i, seen in enumerate(records) if not seen]
        return [statements[i] for i in fresh], [record_keys[i] for i in fresh]

    def _effect(self, credential: Credential, statements: list[Statement], counts: Counter, now: float) -> Effect:
        """What the statements mean, in statement order. An actor the platform rule cannot
        name leaves a gap (None) that the alias table fills, or its statement waits."""
        mapper, secret = self.mapper, self.services.pseudonym_secret
        effect = Effect(counts)
        events: list[Event | None] = []
        by_alias: list[tuple[int, Statement, Meaning, tuple[str, ...]]] = []
        for statement, bound in zip(statements, self._bound(credential.tenant, statements)):
            if statement.deviations:
                counts.update(f"deviation:{d}" for d in statement.deviations)
            meaning = mapper.meaning(statement, bound)
            if not isinstance(meaning, Meaning):  # the reason it means nothing
                counts[meaning] += 1
                if meaning == UNMAPPED_ACTIVITY:
                    item = unmapped_item(statement)
                    effect.unmapped[item] += 1
                    if statement.activity_name and item == statement.activity:
                        effect.names[item] = statement.activity_name[:200]
                    cohort = _cohort(credential.issuer, context_id_of(statement.course))
                    if cohort:
                        effect.courses[item] = cohort
                continue
            learner = direct_learner(statement.actor, credential, secret)
            if learner is not None:
                events.append(statement_event(statement, meaning, learner, credential))
                continue
            fields = alias_fields(statement.actor, credential.issuer, secret)
            if not fields:
                counts[GROUP_ACTOR] += 1
                continue
            by_alias.append((len(events), statement, meaning, fields))
            events.append(None)
        dropped = 0
        if by_alias:
            effect.released, dropped = self._by_alias(credential, by_alias, events, effect.waiting, now)
        effect.events = self._learners_only(credential.tenant, [event for event in events if event is not None], counts)
        counts.update(events=len(effect.events), waiting=sum(map(len, effect.waiting.values())) - dropped)
        if dropped:
            counts["waiting_dropped"] += dropped
        return effect

    def _learners_only(self, tenant: str, events: list[Event], counts: Counter) -> list[Event]:
        """Staff (known from their launches and roster syncs) are not learners: their
        statements make no events (counted as staff_actor)."""
        if not events:
            return events
        learners = list(dict.fromkeys(event.learner for event in events))
        found = self.services.redis.smismember(self.binding.lti_keys.staff(tenant), learners)
        staff = {learner for learner, is_staff in zip(learners, found) if is_staff}
        if not staff:
            return events
        counts[STAFF_ACTOR] += sum(1 for event in events if event.learner in staff)
        return [event for event in events if event.learner not in staff]

    def _write(
        self,
        tenant: str,
        statements: list[Statement],
        record_keys: list[str],
        effect: Effect,
        now: float,
        forward: dict[str, bytes] | None,
    ) -> None:
        """One transaction (on Redis Cluster the events first, then a pipeline): the events and
        the statements to forward, the statement records, the waiting statements, the admin's
        counters and recent events."""
        keys, settings = self.keys, self.services.settings
        ttl = int(settings.retention_days * SECONDS_PER_DAY)
        # All or nothing on one Redis; on a cluster the events first, so no record lands without them.
        pipe = events_pipeline(self.services.redis, keys, settings.partitions, effect.events)
        if forward:
            for statement in statements:
                pipe.xadd(keys.xapi_forward, {"tenant": tenant, "statement": forward[statement.id]})
        record = ()
        if record_keys:
            records = "".join(statement.record for statement in statements)
            record = (RECORD_STATEMENTS, len(record_keys), *record_keys, ttl, records)
            if not isinstance(self.services.redis, RedisCluster):
                pipe.eval(*record)
        for actor, items in effect.waiting.items():
            key = waiting_key(keys, tenant, actor)
            pipe.rpush(key, *items)
            pipe.ltrim(key, -settings.xapi_waiting_max, -1)  # the oldest beyond the limit go (counted)
            # Kept a day past the age limit, so drop_expired_waiting counts them before they go.
            pipe.expire(key, int((settings.xapi_waiting_days + 1) * SECONDS_PER_DAY))
            pipe.sadd(keys.xapi_waiting_actors(tenant), actor)
        for activity, count in effect.unmapped.items():
            pipe.zincrby(keys.xapi_unmapped(tenant), count, activity)
        if effect.names:
            pipe.hset(keys.xapi_unmapped_names(tenant), mapping=effect.names)
        if effect.courses:
            pipe.hset(self.binding.lti_keys.unmapped_courses(tenant), mapping=effect.courses)
        for name, count in effect.counts.items():
            if count:
                pipe.hincrby(keys.xapi_counts(tenant), name, count)
        pipe.hset(keys.xapi_counts(tenant), "last_received", now)
        note_recent(pipe, keys, tenant, SOURCE, effect.events)
        pipe.execute()
        if record and isinstance(self.services.redis, RedisCluster):  # its pipelines run no scripts; one slot
            self.services.redis.eval(*record)

    def _by_alias(
        self,
        credential: Credential,
        statements: list[tuple[int, Statement, Meaning, tuple[str, ...]]],
        events: list[Event | None],
        waiting: dict[str, list[bytes]],
        now: float,
    ) -> tuple[list[str], int]:
        """Look the actors up in the alias table: put each found learner's event at its place
        in `events`; keep the others' in `waiting`, by the actor to wait under. Returns the
        waiting actors that a launch has named since (their earlier statements can go), and
        how many waiting statements the per-actor limit drops."""
        fields = list(dict.fromkeys(field for *_, aliases in statements for field in aliases))
        actors = list(dict.fromkeys(waiting_actor(aliases) for *_, aliases in statements))
        pipe = self.services.redis.pipeline(transaction=False)
        learners_for_aliases(pipe, self.keys, credential.tenant, fields)
        pipe.smismember(self.keys.xapi_waiting_actors(credential.tenant), actors)
        for actor in actors:
            pipe.llen(waiting_key(self.keys, credential.tenant, actor))
        learners, already_waiting, *lengths = pipe.execute()
        known = {field: learner.decode() for field, learner in zip(fields, learners) if learner}
        for place, statement, meaning, aliases in statements:
            learner = next((known[field] for field in aliases if field in known), None)
            if learner is not None:
                events[place] = statement_event(statement, meaning, learner, credential)
                continue
            data = {
                "id": statement.id,
                "module": meaning.module,
                "kind": meaning.kind,
                "timestamp": statement.timestamp,
                "source": SOURCE,
                RECEIVED: now,
            }
            if meaning.score is not None:
                data["score"] = meaning.score
            cohort = _cohort(credential.issuer, meaning.course)
            if cohort is not None:
                data["cohort"] = cohort
            waiting.setdefault(waiting_actor(aliases), []).append(orjson.dumps(data))
        limit = self.services.settings.xapi_waiting_max
        dropped = sum(max(0, before + len(waiting.get(actor, ())) - limit) for actor, before in zip(actors, lengths))
        released = [
            actor
            for actor, was_waiting in zip(actors, already_waiting)
            if was_waiting and any(field in known for field in actor.split(ACTOR_SEP))
        ]
        return released, dropped


def drop_expired_waiting(services: Services, tenant: str, now: float) -> int:
    """Drop (and count) the waiting statements older than `xapi_waiting_days`: a list holds
    them in arrival order, so the expired ones are its head. Returns how many."""
    client, keys = services.redis, services.keys
    cutoff = now - services.settings.xapi_waiting_days * SECONDS_PER_DAY
    dropped = 0
    for actor in [a.decode() for a in client.smembers(keys.xapi_waiting_actors(tenant))]:
        key = waiting_key(keys, tenant, actor)
        items = client.lrange(key, 0, -1)
        old = next((i for i, raw in enumerate(items) if orjson.loads(raw).get(RECEIVED, now) >= cutoff), len(items))
        if old == 0:
            continue
        pipe = client.pipeline(transaction=False)
        pipe.ltrim(key, old, -1)
        if old == len(items):
            pipe.srem(keys.xapi_waiting_actors(tenant), actor)
        pipe.hincrby(keys.xapi_counts(tenant), "waiting", -old)
        pipe.hincrby(keys.xapi_counts(tenant), "waiting_expired", old)
        pipe.execute()
        dropped += old
    return dropped


def release_waiting(services: Services, tenant: str, actors: list[str] | None = None) -> int:
    """Put on the log the waiting statements of actors a launch has since named; returns how
    many. `actors` limits it to those (default: every waiting actor, after dropping those
    waiting too long)."""
    client, keys = services.redis, services.keys
    if actors is None:
        drop_expired_waiting(services, tenant, time.time())
        actors = [actor.decode() for actor in client.smembers(keys.xapi_waiting_actors(tenant))]
    if not actors:
        return 0
    pipe = client.pipeline(transaction=False)
    for actor in actors:
        learners_for_aliases(pipe, keys, tenant, actor.split(ACTOR_SEP))
    released = 0
    for actor, learners in zip(actors, pipe.execute()):
        learner = next((found for found in learners if found), None)
        if learner is not None:
            released += _release_actor(services, tenant, actor, learner.decode())
    return released


def _release_actor(services: Services, tenant: str, actor: str, learner: str) -> int:
    """One actor's waiting statements as the learner's events. The list is removed by the
    transaction that puts them on the log, so a failure in between loses nothing; a racing
    releaser or a statement arriving meanwhile changes the watched list, and it is read again.
    On Redis Cluster, where the list and the log are in different slots: _release_on_cluster."""
    if isinstance(services.redis, RedisCluster):
        return _release_on_cluster(services, tenant, actor, learner)
    client, keys, settings = services.redis, services.keys, services.settings
    key = waiting_key(keys, tenant, actor)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                events = _waiting_events(services, tenant, learner, pipe.lrange(key, 0, -1))
                pipe.multi()
                if events:
                    queue_events(pipe, keys, settings.partitions, events)
                    pipe.delete(key)
                    pipe.hincrby(keys.xapi_counts(tenant), "waiting", -len(events))
                    pipe.hincrby(keys.xapi_counts(tenant), "released", len(events))
                pipe.srem(keys.xapi_waiting_actors(tenant), actor)
                pipe.execute()
                return len(events)
            except redis.WatchError:
                continue


def _waiting_events(services: Services, tenant: str, learner: str, items: list[bytes]) -> list[Event]:
    events = []
    for raw in items:
        data = orjson.loads(raw)
        data.pop(RECEIVED, None)
        data["learner"] = learner
        events.append(parse_event(data, tenant=tenant, catalog=services.catalog))
    return events


# KEYS[1]: a waiting list; ARGV: the items released. Removes those still there (each is unique:
# it holds its statement id); returns how many it removed and how many are left.
REMOVE_RELEASED = """
local removed = 0
for _, item in ipairs(ARGV) do
    removed = removed + redis.call('LREM', KEYS[1], 1, item)
end
return {removed, redis.call('LLEN', KEYS[1])}
"""


def _release_on_cluster(services: Services, tenant: str, actor: str, learner: str) -> int:
    """The events are committed first (append_events: a transaction per partition), then
    the released items are removed from the list: a crash in between leaves them waiting, and
    releasing them again re-sends the same ids, which the workers' marks apply once. A racing
    releaser removes nothing the first one removed (LREM of each item), so each is counted once;
    a statement arriving meanwhile stays waiting. Returns how many this call removed."""
    client, keys = services.redis, services.keys
    key = waiting_key(keys, tenant, actor)
    items = client.lrange(key, 0, -1)
    if items:
        append_events(client, keys, services.settings.partitions, _waiting_events(services, tenant, learner, items))
    removed, left = client.eval(REMOVE_RELEASED, 1, key, *items) if items else (0, 0)
    if removed:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(keys.xapi_counts(tenant), "waiting", -removed)
        pipe.hincrby(keys.xapi_counts(tenant), "released", removed)
        pipe.execute()
    if not left:
        client.srem(keys.xapi_waiting_actors(tenant), actor)
        if client.llen(key):  # a statement pushed (then its actor added) between the two: keep it listed
            client.sadd(keys.xapi_waiting_actors(tenant), actor)
    return removed
