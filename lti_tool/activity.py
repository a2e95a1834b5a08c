"""What a launch means for SkillGap: a pseudonymous learner, a cohort, a catalog role, maybe a
module — and an event on the log, through the same path as every other source.

A launch of a module's link is a `viewed` event for that module; a launch of the SkillGap
widget (no module) is an `enrolled` event, which records role and cohort only."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from core.catalog import Catalog
from core.eventlog import append_events
from core.events import ENROLLED, Event, parse_event
from core.identity import course_cohort, learner_pseudonym, record_launch_identity
from core.learner_store import LearnerRecord, LearnerStore
from core.services import Services
from lti_tool import claims as c
from lti_tool.course_binding import CourseBinding, CourseItem, launch_item
from lti_tool.redis_keys import LtiKeys
from lti_tool.roles import catalog_role, is_learner
from lti_tool.validation import Launch

log = logging.getLogger(__name__)


def learner_for(services: Services, issuer: str, user_id: str) -> str:
    return learner_pseudonym(services.pseudonym_secret, issuer, user_id)


class ModuleLinks:
    """Which catalog module an LMS resource link stands for, when its launch carries no
    `skillgap_module` custom parameter (a link created by hand in the LMS)."""

    def __init__(self, client: redis.Redis, lti_keys: LtiKeys):
        self.client = client
        self.lti_keys = lti_keys

    def set(self, tenant: str, issuer: str, resource_link: str, module: str) -> None:
        self.client.hset(self.lti_keys.module_links(tenant), f"{issuer}\x1f{resource_link}", module)

    def get(self, tenant: str, issuer: str, resource_link: str) -> str | None:
        found = self.client.hget(self.lti_keys.module_links(tenant), f"{issuer}\x1f{resource_link}")
        return found.decode() if found else None


def module_for(launch: Launch, catalog: Catalog, links: ModuleLinks) -> str | None:
    wanted = c.custom(launch.claims).get(c.CUSTOM_MODULE, "").strip()
    if wanted:
        if wanted in catalog.module_index:
            return wanted
        log.warning("launch names unknown module %r in its custom parameters; treated as the widget", wanted)
        return None
    link = c.resource_link_id(launch.claims)
    if link is None:
        return None
    module = links.get(launch.registration.tenant, launch.registration.issuer, link)
    return module if module in catalog.module_index else None


@dataclass(frozen=True)
class LaunchActivity:
    tenant: str
    learner: str
    cohort: str | None
    role: str | None
    module: str | None
    event: Event | None  # None: staff, who are not learners
    item: CourseItem | None = None  # a deep-linked module's link, for the course binding

    @property
    def counts_as_learner(self) -> bool:
        return self.event is not None


def launch_activity(
    services: Services, launch: Launch, links: ModuleLinks, role_map: dict[str, str], now: float
) -> LaunchActivity:
    """Validate what the launch records (no side effects)."""
    registration = launch.registration
    learner = learner_for(services, registration.issuer, launch.claims["sub"])
    cohort = course_cohort(registration.issuer, c.context_id(launch.claims))
    roles = launch.claims[c.ROLES]
    role = catalog_role(roles, c.custom(launch.claims), services.catalog, role_map)
    module = module_for(launch, services.catalog, links) if launch.message_type == c.RESOURCE_LINK_REQUEST else None
    event = None
    if is_learner(roles, role_map):
        data = {"learner": learner, "kind": "viewed" if module else ENROLLED, "timestamp": now, "source": "lti"}
        for name, value in (("cohort", cohort), ("module", module), ("role", role)):
            if value is not None:
                data[name] = value
        event = parse_event(data, tenant=registration.tenant, catalog=services.catalog, now=now)
    return LaunchActivity(
        registration.tenant, learner, cohort, role, module, event, _deep_linked_item(launch, cohort, module)
    )


def _deep_linked_item(launch: Launch, cohort: str | None, module: str | None) -> CourseItem | None:
    """The course item a launch of a deep-linked module link is (it names its module)."""
    link = c.resource_link_id(launch.claims)
    if module is None or cohort is None or link is None or not c.custom(launch.claims).get(c.CUSTOM_MODULE):
        return None
    product = launch.registration.product or c.section(launch.claims, c.TOOL_PLATFORM).get("product_family_code", "")
    item, url = launch_item(launch.registration.issuer, c.context_id(launch.claims) or "", link, product)
    title = c.section(launch.claims, c.RESOURCE_LINK).get("title") or ""
    return CourseItem(item, module, url, str(title)[:200], "lti", "deep-link")


def mark_staff(client: redis.Redis, lti_keys: LtiKeys, tenant: str, learner: str, staff: bool) -> None:
    """Remember whether a person is staff, so the xAPI intake makes no learner events of theirs."""
    if staff:
        client.sadd(lti_keys.staff(tenant), learner)
    else:
        client.srem(lti_keys.staff(tenant), learner)


def save_launch_activity(services: Services, binding: CourseBinding, launch: Launch, activity: LaunchActivity) -> None:
    """Put the launch's event on the log, bind a deep-linked module's link to its course, and
    remember the ids other channels name the learner by."""
    settings = services.settings
    if activity.event is not None:
        append_events(services.redis, services.keys, settings.partitions, [activity.event])
    if activity.item is not None and activity.cohort is not None:
        binding.bind(activity.tenant, activity.cohort, activity.item)
    mark_staff(services.redis, binding.lti_keys, activity.tenant, activity.learner, not activity.counts_as_learner)
    record_launch_identity(
        services.redis,
        services.keys,
        services.pseudonym_secret,
        activity.tenant,
        launch.registration.issuer,
        launch.claims,
        activity.learner,
    )


def launch_record(store: LearnerStore, activity: LaunchActivity) -> LearnerRecord:
    """The launching learner's record, read once for the scores and the page (recommendations
    not explained: the page does that); the launch's role counts before its event is applied."""
    found = store.get_many(activity.tenant, [activity.learner], explain=False)
    record = found[0] if found else store.new(activity.tenant, activity.learner)
    if record.role is None and activity.role is not None:
        record.role = activity.role
    return record
