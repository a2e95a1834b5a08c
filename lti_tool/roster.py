"""Roster sync (LTI Names and Role Provisioning Services 2.0): on an instructor's launch, every
active member of the course becomes an `enrolled` event (role and cohort), so the cohort's gap
report counts learners who never opened the tool. At most once per `nrps_sync_interval_s` per
course. Names and emails in the membership are never stored: members are pseudonymised."""

from __future__ import annotations

import logging

from core.eventlog import append_events
from core.events import ENROLLED, Event, parse_event
from core.identity import course_cohort, record_launch_identity
from lti_tool import claims as c
from lti_tool.activity import learner_for, mark_staff
from lti_tool.roles import catalog_role, is_learner
from lti_tool.tool import Tool
from lti_tool.validation import Launch
from lti_tool.xapi.intake import release_waiting

log = logging.getLogger(__name__)

MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def roster_due(tool: Tool, launch: Launch) -> bool:
    """Claims this course's sync slot; False when it was synced within the interval."""
    url = c.section(launch.claims, c.NRPS).get("context_memberships_url")
    context = c.context_id(launch.claims)
    if not url or context is None:
        return False
    key = tool.lti_keys.roster_synced(launch.registration.issuer, context)
    return bool(tool.services.redis.set(key, 1, nx=True, ex=tool.services.settings.nrps_sync_interval_s))


def roster_events(tool: Tool, launch: Launch, now: float) -> list[Event]:
    """Fetch the membership (every page) and turn active members into enrolment events."""
    services, registration = tool.services, launch.registration
    url = c.section(launch.claims, c.NRPS)["context_memberships_url"]
    cohort = course_cohort(registration.issuer, c.context_id(launch.claims))
    custom = c.custom(launch.claims)  # the activity's skillgap_role describes its learners
    events = []
    aliases = services.redis.pipeline(transaction=False)  # every member's aliases in one round trip
    for page in tool.platform.pages(registration, [c.SCOPE_NRPS], url, MEMBERSHIP_TYPE):
        for member in page.get("members", []) if isinstance(page, dict) else []:
            user_id = member.get("user_id")
            if not isinstance(user_id, str) or not user_id or member.get("status", "Active") != "Active":
                continue
            roles = member.get("roles") or []
            learner = learner_for(services, registration.issuer, user_id)
            if not is_learner(roles, tool.role_map):
                mark_staff(aliases, tool.lti_keys, registration.tenant, learner, True)
                continue  # staff: no learner of the course
            role = catalog_role(roles, custom, services.catalog, tool.role_map)
            # The ids the member's statements may name them by, as a launch of theirs would record.
            ids = {
                "sub": user_id,
                "email": member.get("email"),
                c.LIS: {"person_sourcedid": member.get("lis_person_sourcedid")},
            }
            record_launch_identity(
                aliases,
                services.keys,
                services.pseudonym_secret,
                registration.tenant,
                registration.issuer,
                ids,
                learner,
            )
            data = {"learner": learner, "kind": ENROLLED, "cohort": cohort, "timestamp": now, "source": "nrps"}
            if role:
                data["role"] = role
            events.append(parse_event(data, tenant=registration.tenant, catalog=services.catalog, now=now))
    aliases.execute()
    return events


def sync_roster(tool: Tool, launch: Launch, now: float) -> int:
    events = roster_events(tool, launch, now)
    settings = tool.services.settings
    append_events(tool.services.redis, tool.services.keys, settings.partitions, events)
    # Members' statements that arrived before anyone knew them apply now.
    release_waiting(tool.services, launch.registration.tenant)
    log.info("nrps: %d members of %s enrolled", len(events), events[0].cohort if events else "?")
    return len(events)
