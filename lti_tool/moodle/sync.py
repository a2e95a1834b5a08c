"""Moodle web-service sync: gradebook grades and activity completion as events.

logstore_xapi sends no `user_graded` statements, so grades come from the gradebook. Each sync
reads a course's enrolled users, grade items and completion states, and writes an event only
for what changed since the last sync (a fingerprint per user and item is kept in Redis).
Event ids are derived from the content, so a sync that crashes half-way and runs again
applies nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.catalog.activities import ActivityMatcher
from core.eventlog import events_pipeline
from core.events import Event, parse_event
from core.identity import course_cohort, learner_pseudonym
from core.recent import note_recent
from core.redis_server import EmbeddedRedis, RedisUnavailable, connect
from core.services import Services, build_services
from core.settings import Settings
from lti_tool.course_binding import CourseBinding, moodle_item_url
from lti_tool.moodle.client import MoodleClient, MoodleError
from lti_tool.redis_keys import LtiKeys
from lti_tool.registrations import platform_tenant

log = logging.getLogger(__name__)
SOURCE = "moodle"
COMPLETE_STATES = (1, 2)  # COMPLETION_COMPLETE, COMPLETION_COMPLETE_PASS (3 is complete-fail)
REDIS_RETRY_S = 1.0


@dataclass
class SyncResult:
    courses: int = 0
    learners: int = 0
    events: int = 0
    unchanged: int = 0
    unmapped: set[str] = field(default_factory=set)


def module_activity(site: str, modname: str, cmid: int) -> str:
    """The IRI Moodle's log store names a course module by (and the catalog's module urls)."""
    return moodle_item_url(site, modname, cmid)


def _event_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


class MoodleSync:
    def __init__(self, services: Services, client: MoodleClient, tenant: str):
        self.services = services
        self.client = client
        self.tenant = tenant
        self.site = client.url  # the LTI issuer of a Moodle is its site address
        self.matcher = ActivityMatcher(services.catalog)
        self.binding = CourseBinding(services.redis, LtiKeys(services.keys))
        self.bound: dict[str, str] = {}  # the course's bound items -> module
        self.secret = services.pseudonym_secret

    def module_for(self, activity: str) -> str | None:
        """The course binding's module for a course module, else the catalog's."""
        return self.bound.get(activity) or self.matcher.module_for(activity)

    def learner(self, user_id: int) -> str:
        return learner_pseudonym(self.secret, self.site, str(user_id))

    def sync(self, courses: list[int], progress: Callable[[str], None] = lambda _: None) -> SyncResult:
        result = SyncResult()
        for course in courses:
            self.sync_course(course, result, progress)
            result.courses += 1
        return result

    def sync_course(self, course: int, result: SyncResult, progress: Callable[[str], None]) -> None:
        cohort = course_cohort(self.site, str(course))
        self.bound = {item.item: item.module for item in self.binding.items(self.tenant, cohort)}
        users = [u for u in self.client.enrolled_users(course) if _is_learner(u)]
        progress(f"course {course}: {len(users)} learners")
        # (fingerprint field, fingerprint, event data without learner) per candidate
        found: list[tuple[str, str, dict, int]] = []
        now = time.time()
        for user in users:
            found.append((f"e:{user['id']}", "1", {"kind": "enrolled", "timestamp": now}, user["id"]))
        for usergrade in self.client.grade_items(course):
            user = usergrade["userid"]
            for item in usergrade.get("gradeitems", []):
                found.extend(self._grade(course, user, item, result, now))
        for n, user in enumerate(users, start=1):
            for status in self.client.completion(course, user["id"]):
                found.extend(self._completion(user["id"], status, result, now))
            if n % 50 == 0:
                progress(f"course {course}: completion of {n}/{len(users)} learners read")
        self._write(course, found, result)

    def _grade(self, course: int, user: int, item: dict, result: SyncResult, now: float):
        if item.get("graderaw") is None or item.get("itemtype") not in ("mod", "course"):
            return
        if item["itemtype"] == "course":
            activity = f"{self.site}/course/view.php?id={course}"
        elif item.get("cmid"):
            activity = module_activity(self.site, item["itemmodule"], item["cmid"])
        else:
            return
        module = self.module_for(activity)
        if module is None:
            result.unmapped.add(activity)
            return
        low, high = float(item.get("grademin", 0) or 0), float(item.get("grademax", 0) or 0)
        if high <= low:
            return  # an item worth nothing says nothing about mastery
        score = min(1.0, max(0.0, (float(item["graderaw"]) - low) / (high - low)))
        when = item.get("gradedategraded") or item.get("gradedatesubmitted") or now
        fingerprint = f"{item['graderaw']}:{when}"
        data = {"kind": "graded", "module": module, "score": score, "timestamp": float(when)}
        yield f"g:{user}:{item['id']}", fingerprint, data, user

    def _completion(self, user: int, status: dict, result: SyncResult, now: float):
        if status.get("state") not in COMPLETE_STATES:
            return
        activity = module_activity(self.site, status["modname"], status["cmid"])
        module = self.module_for(activity)
        if module is None:
            result.unmapped.add(activity)
            return
        when = status.get("timecompleted") or now
        data = {"kind": "completed", "module": module, "timestamp": float(when)}
        yield f"c:{user}:{status['cmid']}", f"{status['state']}:{when}", data, user

    def _write(self, course: int, found: list[tuple[str, str, dict, int]], result: SyncResult) -> None:
        """Only what changed since the last sync; events and new fingerprints in one round trip."""
        services, keys = self.services, self.services.keys
        key = keys.moodle_sync(self.tenant, hashlib.sha1(self.site.encode()).hexdigest()[:12], str(course))
        previous = services.redis.hmget(key, [f for f, *_ in found]) if found else []
        events: list[Event] = []
        fingerprints: dict[str, str] = {}
        for (name, fingerprint, data, user), before in zip(found, previous):
            if before is not None and before.decode() == fingerprint:
                result.unchanged += 1
                continue
            data |= {
                "learner": self.learner(user),
                "cohort": course_cohort(self.site, str(course)),
                "source": SOURCE,
                "id": _event_id(self.site, course, name, fingerprint),
            }
            events.append(parse_event(data, tenant=self.tenant, catalog=services.catalog))
            fingerprints[name] = fingerprint
        result.learners += len({f.split(":")[1] for f, *_ in found})
        if not events:
            return
        # the fingerprints say what is on the log: never written without their events
        pipe = events_pipeline(services.redis, keys, services.settings.partitions, events)
        pipe.hset(key, mapping=fingerprints)
        note_recent(pipe, keys, self.tenant, SOURCE, [e for e in events if e.module is not None])
        pipe.execute()
        result.events += len(events)


def _is_learner(user: dict) -> bool:
    """Enrolled users with the student role (or any user when Moodle lists no roles)."""
    roles = user.get("roles")
    return not roles or any(role.get("shortname") == "student" for role in roles)


def sync_tenant(services: Services, site: str) -> str:
    """The tenant a Moodle's synced events belong to: SKILLGAP_MOODLE_TENANT, else that of the
    site's LTI registration."""
    return services.settings.moodle_tenant or platform_tenant(services.redis, services.keys, site)


def parse_courses(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise MoodleError(f"course ids must be numbers separated by commas, not {text!r}") from None


def _scheduled(settings: Settings) -> bool:
    if settings.moodle_url and settings.moodle_token and settings.moodle_courses:
        return True
    log.info("Moodle sync off (set SKILLGAP_MOODLE_URL, SKILLGAP_MOODLE_TOKEN and SKILLGAP_MOODLE_COURSES)")
    return False


def start_scheduled_sync(settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """`skillgap sidecar`'s Moodle sync: `run_scheduled_sync` in a daemon thread until `stop`
    is set; None when the settings name no Moodle, token and courses."""
    if not _scheduled(settings):
        return None
    thread = threading.Thread(target=_sync_once_redis_answers, args=(settings, stop), name="moodle-sync", daemon=True)
    thread.start()
    return thread


def _sync_once_redis_answers(settings: Settings, stop: threading.Event) -> None:
    # Without REDIS_URL the sidecar starts its embedded Redis after this thread: wait for it.
    url = settings.redis_url or EmbeddedRedis(settings.data_dir).url
    while not stop.is_set():
        try:
            client = connect(url)
        except RedisUnavailable:
            stop.wait(REDIS_RETRY_S)
            continue
        try:
            run_scheduled_sync(build_services(settings, client), stop)
        finally:
            client.close()
        return


def run_scheduled_sync(services: Services, stop: threading.Event) -> None:
    """The sidecar's Moodle sync: every `moodle_sync_interval_s` while the settings name a
    Moodle, a token and courses; errors are logged and retried at the next round."""
    settings = services.settings
    if not _scheduled(settings):
        return
    tenant = sync_tenant(services, settings.moodle_url)
    while not stop.is_set():
        try:
            client = MoodleClient(settings.moodle_url, settings.moodle_token, settings.moodle_http_timeout_s)
            sync = MoodleSync(services, client, tenant)
            result = sync.sync(parse_courses(settings.moodle_courses))
            log.info(
                "Moodle sync: %d events from %d courses (%d unchanged, %d unmapped activities)",
                result.events,
                result.courses,
                result.unchanged,
                len(result.unmapped),
            )
        except MoodleError as exc:
            log.error("Moodle sync failed: %s", exc)
        except Exception:
            log.exception("Moodle sync failed")
        stop.wait(settings.moodle_sync_interval_s)
