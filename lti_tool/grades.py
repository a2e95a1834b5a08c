"""Grades out and results in (LTI Assignment and Grade Services 2.0).

Out: a learner's progress toward their role's target (the share of the target mastery they
have, summed over knowledge points) is posted as a score on the launch's line item, and, when
`ags_point_lineitems` is set, their mastery of each knowledge point on a tool-owned line item
tagged with the point's id. Scores wait in a Redis queue: one job per (line item, LMS user), so a
newer score replaces an unsent older one; a job leaves the queue only once the platform
accepted it (or a newer score superseded it), and a failed post is retried with capped
exponential backoff, never dropped. Each job keeps the timestamp it was computed at, so posting
it twice is harmless.

In: results of the tool's module line items (those whose resourceId is a catalog module — made
by deep linking, graded in the LMS gradebook) come back as `graded` events (source "ags").
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis

from core.learner_store import LearnerRecord, LearnerStore
from lti_tool import claims as c
from lti_tool.platform_services import PlatformServices, ServiceError
from lti_tool.redis_keys import LtiKeys, digest
from lti_tool.registrations import Registration, RegistrationStore

log = logging.getLogger(__name__)

SCORE_MAXIMUM = 100.0
PROGRESS_RESOURCE = "skillgap-progress"
POINT_RESOURCE = "skillgap-point:"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"
LEASE_S = 60.0  # a claimed job is invisible to other posters this long

_CLAIM = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if due and tonumber(due) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return redis.call('HGET', KEYS[2], ARGV[1])
end
return false
"""
# Settle a posted or failed job, unless a newer score replaced it meanwhile (then it is due now).
_SETTLE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1]); redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]); redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
"""


def service_url(lineitem_url: str, resource: str) -> str:
    """`.../lineitems/2/lineitem?type_id=1` -> `.../lineitems/2/lineitem/scores?type_id=1` (AGS §3.4:
    the scores and results URLs are the line item's path plus /scores or /results, query kept)."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + resource))


def progress_toward_target(store: LearnerStore, record: LearnerRecord, now: float) -> float:
    return float(store.standing([record], now).progress[0])


def point_mastery(store: LearnerStore, record: LearnerRecord, now: float) -> dict[str, float]:
    mastery = store.standing([record], now).mastery[0]
    return {point: float(mastery[j]) for point, j in store.catalog.point_index.items()}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _job_id(target: GradeTarget | ScoreJob) -> str:
    """One job per (line item, LMS user): a target and the scores queued for it share the id."""
    return digest(target.issuer, target.client_id, target.lineitem, target.user_id)


@dataclass(frozen=True)
class GradeTarget:
    """Where one of a learner's values goes: the launch's line item (point None: progress) or a
    knowledge point's line item; `user_id` is the platform's id for the learner (AGS needs it;
    it never enters the event log)."""

    tenant: str
    learner: str
    issuer: str
    client_id: str
    lineitem: str
    user_id: str
    point: str | None = None
    last: float | None = None  # the last value queued

    @property
    def job_id(self) -> str:
        return _job_id(self)


@dataclass(frozen=True)
class ScoreJob:
    issuer: str
    client_id: str
    lineitem: str
    user_id: str
    score: float  # in [0, 1]
    timestamp: float
    attempts: int = 0
    error: str = ""

    @property
    def job_id(self) -> str:
        return _job_id(self)

    def body(self) -> dict:
        return {
            "userId": self.user_id,
            "scoreGiven": round(self.score * SCORE_MAXIMUM, 4),
            "scoreMaximum": SCORE_MAXIMUM,
            "activityProgress": "Completed" if self.score >= 1.0 else "InProgress",
            "gradingProgress": "FullyGraded",
            "timestamp": iso(self.timestamp),
        }


class ScoreQueue:
    def __init__(
        self,
        client: redis.Redis,
        lti_keys: LtiKeys,
        platform: PlatformServices,
        registrations: RegistrationStore,
        retry_base_s: float,
        retry_max_s: float,
    ):
        self.client = client
        self.lti_keys = lti_keys
        self.platform = platform
        self.registrations = registrations
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._claim = client.register_script(_CLAIM)
        self._settle = client.register_script(_SETTLE)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- where scores go ------------------------------------------------------------------

    def remember(self, target: GradeTarget, value: float, now: float) -> bool:
        """Record the target and queue `value` when it differs from the last one queued."""
        raw = self.client.hget(self.lti_keys.grade_targets, target.job_id)
        last = GradeTarget(**orjson.loads(raw)).last if raw else None
        value = round(value, 4)
        self.client.hset(self.lti_keys.grade_targets, target.job_id, orjson.dumps(asdict(replace(target, last=value))))
        if last is not None and abs(last - value) < 1e-4:
            return False
        self.enqueue(ScoreJob(target.issuer, target.client_id, target.lineitem, target.user_id, value, now))
        return True

    def lineitems(self) -> set[str]:
        """Every line item the tool posts to."""
        return {target.lineitem for target in self.targets()}

    def targets(self) -> list[GradeTarget]:
        return [GradeTarget(**orjson.loads(raw)) for _, raw in self.client.hscan_iter(self.lti_keys.grade_targets)]

    def refresh(self, store: LearnerStore, now: float) -> int:
        """Queue every learner's current values whose change since the last post is visible."""
        queued = 0
        for target in self.targets():
            record = store.get(target.tenant, target.learner)
            if record is None:
                continue
            value = (
                progress_toward_target(store, record, now)
                if target.point is None
                else point_mastery(store, record, now).get(target.point, 0.0)
            )
            queued += self.remember(target, value, now)
        return queued

    # --- the queue --------------------------------------------------------------------------

    def enqueue(self, job: ScoreJob) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.lti_keys.score_jobs, job.job_id, orjson.dumps(asdict(job)))
            pipe.zadd(self.lti_keys.score_due, {job.job_id: job.timestamp})
            pipe.execute()

    def pending(self) -> list[ScoreJob]:
        return [ScoreJob(**orjson.loads(raw)) for raw in self.client.hvals(self.lti_keys.score_jobs)]

    def kick(self) -> None:
        """New scores are queued: the background poster (if started) posts them now."""
        self._wake.set()

    def run(self, burst: bool = False, poll_s: float = 5.0) -> bool:
        """Post due scores until `stop()`: at once when kicked, else every `poll_s` (retries
        come due). `burst`: post what is due now and return. Returns whether it posted any.
        Several processes may run one: a job is claimed before posting."""
        posted_any = False
        while True:
            try:
                while self.post_due()[0]:
                    posted_any = True
            except Exception:  # the poster must outlive a Redis or platform outage
                log.exception("ags poster: posting failed; retrying in %.0f s", poll_s)
            if burst or self._stopping.is_set():
                return posted_any
            self._wake.wait(poll_s)
            self._wake.clear()

    def stop(self) -> None:
        """Let `run` return after the round in hand."""
        self._stopping.set()
        self._wake.set()

    def start_background(self, poll_s: float = 5.0) -> None:
        """`run` in a daemon thread of this process (the tool's web workers each start one)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, kwargs={"poll_s": poll_s}, name="ags-poster", daemon=True)
            self._thread.start()

    def post_due(self, now: float | None = None, limit: int = 100) -> tuple[int, int]:
        """Post the scores that are due; returns (posted, failed)."""
        now = time.time() if now is None else now
        due = self.client.zrangebyscore(self.lti_keys.score_due, "-inf", now, start=0, num=limit)
        posted = failed = 0
        for job_id in due:
            keys = [self.lti_keys.score_due, self.lti_keys.score_jobs]
            raw = self._claim(keys=keys, args=[job_id, now, now + LEASE_S])
            if not raw:
                continue  # another poster has it
            job = ScoreJob(**orjson.loads(raw))
            outcome = self._post(job)
            if outcome is None:
                self._settle(keys=keys, args=[job_id, raw, "", 0])
                posted += 1
            else:
                retry = replace(job, attempts=job.attempts + 1, error=outcome)
                delay = min(self.retry_max_s, self.retry_base_s * 2**job.attempts) * random.uniform(0.8, 1.2)
                self._settle(keys=keys, args=[job_id, raw, orjson.dumps(asdict(retry)), now + delay])
                log.warning(
                    "ags score for %s not posted (attempt %d, retry in %.0f s): %s",
                    job.lineitem,
                    retry.attempts,
                    delay,
                    outcome,
                )
                failed += 1
        return posted, failed

    def _post(self, job: ScoreJob) -> str | None:
        """None when the platform has the score; else why not."""
        registration = self.registrations.get(job.issuer, job.client_id)
        if registration is None:
            return f"platform {job.issuer} client {job.client_id} is not registered (any more)"
        try:
            self.platform.request(
                registration,
                [c.SCOPE_SCORE],
                "POST",
                service_url(job.lineitem, "scores"),
                json_body=job.body(),
                content_type=SCORE_TYPE,
            )
        except ServiceError as exc:
            if exc.status == 409:
                # Moodle refuses a score older than the one it has: a newer one already landed.
                log.info("ags score for %s superseded on the platform: %s", job.lineitem, exc)
                return None
            return str(exc)
        return None


def _tool_items(platform: PlatformServices, registration: Registration, lineitems_url: str, scopes: list[str]):
    for page in platform.pages(registration, scopes, lineitems_url, LINEITEMS_TYPE):
        for item in page if isinstance(page, list) else []:
            if isinstance(item, dict) and item.get("id"):
                yield item


def progress_lineitem(
    platform: PlatformServices, registration: Registration, endpoint: dict, scopes: list[str], resource_link: str | None
) -> str | None:
    """The widget link's progress line item: the launch's own (the widget's link is the tool's),
    else the one tagged and identified as the progress of this resource link, created when
    missing; None when the platform grants neither."""
    if endpoint.get("lineitem"):
        return endpoint["lineitem"]
    url = endpoint.get("lineitems")
    if not url or not resource_link or c.SCOPE_LINEITEM not in scopes:
        return None
    for item in _tool_items(platform, registration, url, [c.SCOPE_LINEITEM]):
        if (item.get("tag"), item.get("resourceId"), str(item.get("resourceLinkId"))) == (
            PROGRESS_RESOURCE,
            PROGRESS_RESOURCE,
            resource_link,
        ):
            return item["id"]
    body = {
        "scoreMaximum": SCORE_MAXIMUM,
        "label": "SkillGap progress",
        "tag": PROGRESS_RESOURCE,
        "resourceId": PROGRESS_RESOURCE,
        "resourceLinkId": resource_link,
    }
    return platform.request(
        registration, [c.SCOPE_LINEITEM], "POST", url, json_body=body, content_type=LINEITEM_TYPE, accept=LINEITEM_TYPE
    ).json()["id"]


def point_lineitems(
    platform: PlatformServices,
    registration: Registration,
    lineitems_url: str,
    resource_link: str | None,
    points: dict[str, str],
) -> dict[str, str]:
    """The tool's line item for each knowledge point (`points`: id -> label), created when missing."""
    scopes = [c.SCOPE_LINEITEM]
    found: dict[str, str] = {}
    for item in _tool_items(platform, registration, lineitems_url, scopes):
        tag = item.get("tag")
        if tag in points and item.get("resourceId") == f"{POINT_RESOURCE}{tag}":
            found.setdefault(tag, item["id"])
    for point, label in points.items():
        if point in found:
            continue
        body = {"scoreMaximum": SCORE_MAXIMUM, "label": label, "tag": point, "resourceId": f"{POINT_RESOURCE}{point}"}
        if resource_link:
            body["resourceLinkId"] = resource_link
        created = platform.request(
            registration,
            scopes,
            "POST",
            lineitems_url,
            json_body=body,
            content_type=LINEITEM_TYPE,
            accept=LINEITEM_TYPE,
        ).json()
        found[point] = created["id"]
    return found


def module_results(
    platform: PlatformServices, registration: Registration, lineitems_url: str, modules: set[str], own: set[str]
) -> list[tuple[str, str, str, float]]:
    """(line item id, module, LMS user id, score in [0, 1]) for every graded result of the module
    line items (deep-linked modules, graded in the LMS: the score there is the final grade, a
    teacher's override included), leaving out `own`: the line items the tool posts to."""
    found = []
    scopes = [c.SCOPE_LINEITEM_READONLY, c.SCOPE_RESULT_READONLY]
    items = [
        item
        for item in _tool_items(platform, registration, lineitems_url, scopes)
        if item.get("resourceId") in modules and item["id"] not in own
    ]
    for item in items:
        for page in platform.pages(registration, scopes, service_url(item["id"], "results"), RESULTS_TYPE):
            for result in page if isinstance(page, list) else []:
                score, maximum = result.get("resultScore"), result.get("resultMaximum") or 1.0
                user = result.get("userId")
                if isinstance(score, int | float) and isinstance(maximum, int | float) and maximum > 0 and user:
                    found.append((item["id"], item["resourceId"], str(user), min(1.0, max(0.0, score / maximum))))
    return found
