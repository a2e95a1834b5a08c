"""The LTI Advantage work a launch triggers, where the launch grants it: a learner's scores are
queued (`queue_scores`, grades.py); an instructor's launch syncs the roster (roster.py) and reads
the module results back as graded events (`on_instructor_launch`). A failing platform service
never fails the launch: the page says what could not be done, and the log says why."""

from __future__ import annotations

import logging

from core.eventlog import append_events
from core.events import Event, parse_event
from core.learner_store import LearnerRecord
from lti_tool import claims as c
from lti_tool import grades, roster
from lti_tool.activity import LaunchActivity, learner_for
from lti_tool.platform_services import ServiceError
from lti_tool.redis_keys import digest
from lti_tool.tool import Tool
from lti_tool.validation import Launch

log = logging.getLogger(__name__)

Notice = tuple[str, dict]


def on_instructor_launch(tool: Tool, launch: Launch, activity: LaunchActivity, now: float) -> list[Notice]:
    notices: list[Notice] = []
    if roster.roster_due(tool, launch):
        try:
            notices.append(("roster_synced", {"count": roster.sync_roster(tool, launch, now)}))
        except ServiceError as exc:
            log.warning("nrps sync failed for %s: %s", activity.cohort, exc)
            tool.services.redis.delete(
                tool.lti_keys.roster_synced(launch.registration.issuer, c.context_id(launch.claims) or "")
            )
            notices.append(("roster_failed", {}))
    if _can_read_results(launch):
        try:
            read = read_results(tool, launch, activity, now)
            if read:
                notices.append(("results_read", {"count": read}))
        except ServiceError as exc:
            log.warning("ags results of %s not read: %s", activity.cohort, exc)
            notices.append(("results_failed", {}))
    return notices


def _can_read_results(launch: Launch) -> bool:
    endpoint = c.section(launch.claims, c.AGS_ENDPOINT)
    return bool(endpoint.get("lineitems")) and c.SCOPE_RESULT_READONLY in c.ags_scopes(launch.claims)


def queue_scores(tool: Tool, launch: Launch, activity: LaunchActivity, record: LearnerRecord, now: float) -> int:
    """`record`: the learner's, from `activity.launch_record`. Only a learner's launch of the
    widget posts, and only into the tool's own line items: the widget link's progress item and
    the per-point items. A module link's line item is the module's gradebook column: the LMS
    (a teacher, a quiz) grades it, never the tool (issue 16)."""
    if activity.module is not None or not activity.counts_as_learner:
        return 0
    endpoint = c.section(launch.claims, c.AGS_ENDPOINT)
    scopes = c.ags_scopes(launch.claims)
    if c.SCOPE_SCORE not in scopes:
        return 0
    store = tool.services.learners
    registration = launch.registration
    resource_link = c.resource_link_id(launch.claims)
    base = dict(
        tenant=activity.tenant,
        learner=activity.learner,
        issuer=registration.issuer,
        client_id=registration.client_id,
        user_id=launch.claims["sub"],
    )
    try:
        progress = grades.progress_lineitem(tool.platform, registration, endpoint, scopes, resource_link)
    except ServiceError as exc:
        log.warning("ags: progress line item unavailable: %s", exc)
        progress = None
    queued = 0
    if progress:
        target = grades.GradeTarget(lineitem=progress, **base)
        queued += tool.scores.remember(target, grades.progress_toward_target(store, record, now), now)
    if tool.services.settings.ags_point_lineitems and endpoint.get("lineitems") and c.SCOPE_LINEITEM in scopes:
        catalog = tool.services.catalog
        targets = store.targets_of(record)
        labels = {kp.id: f"SkillGap: {kp.name.en}" for j, kp in enumerate(catalog.knowledge_points) if targets[j] > 0}
        try:
            items = grades.point_lineitems(tool.platform, registration, endpoint["lineitems"], resource_link, labels)
        except ServiceError as exc:
            log.warning("ags: knowledge point line items unavailable: %s", exc)
            items = {}
        mastery = grades.point_mastery(store, record, now)
        for point, lineitem in items.items():
            queued += tool.scores.remember(
                grades.GradeTarget(lineitem=lineitem, point=point, **base), mastery[point], now
            )
    if queued:
        tool.scores.kick()
    return queued


def read_results(tool: Tool, launch: Launch, activity: LaunchActivity, now: float) -> int:
    services, registration = tool.services, launch.registration
    lineitems = c.section(launch.claims, c.AGS_ENDPOINT)["lineitems"]
    events: list[Event] = []
    own = tool.scores.lineitems()  # never read back a score the tool posted
    modules = set(services.catalog.module_index)
    for lineitem, module, user_id, score in grades.module_results(tool.platform, registration, lineitems, modules, own):
        data = {
            # The same result read twice is the same event, applied once.
            "id": "ags-" + digest(registration.issuer, lineitem, user_id, repr(score)),
            "learner": learner_for(services, registration.issuer, user_id),
            "module": module,
            "kind": "graded",
            "score": score,
            "timestamp": now,
            "source": "ags",
        }
        if activity.cohort:
            data["cohort"] = activity.cohort
        events.append(parse_event(data, tenant=registration.tenant, catalog=services.catalog, now=now))
    settings = services.settings
    append_events(services.redis, services.keys, settings.partitions, events)
    return len(events)
