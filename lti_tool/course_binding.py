"""Which item of an LMS course trains each catalog module: the course binding.

A course is an LTI context (its cohort, `<context id>@<platform host>`). An item is one of its
activities, named by the IRI its xAPI statements use for it (Moodle: `{site}/mod/{type}/view.php?id=
{cmid}`; Open edX: `{lms}/xblock/{usage key}`), with the URL a learner opens it at. Items come
from deep-linked SkillGap links (their launches carry `skillgap_module`), `skillgap catalog
import-moodle`, `skillgap platform link --item`, and the teacher's launch page.

Statements then count for a module through the course's own structure: the statement's object
or any of its parent and grouping activities (an answered question's attempt and quiz), so no
list of URLs per module is kept in the catalog.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import orjson
import redis

from lti_tool.redis_keys import LtiKeys

# A Moodle course module and everything logstore_xapi names inside it (`view.php?id=9#submission`,
# a lesson page `view.php?id=11&pageid=1`): the module's view URL.
MOODLE_MODULE = re.compile(r"\A(?P<site>[^?#]+?)/mod/(?P<type>[a-z0-9_]+)/view\.php\?id=(?P<cmid>\d+)(?:[&#].*)?\Z")
# Open edX blocks: `block-v1:Org+Course+Run+type@problem+block@<hex>`.
OPENEDX_BLOCK_TYPE = re.compile(r"type@(?P<type>[a-z0-9_]+)\+block@")


def item_id(activity: str) -> str:
    """The course item an activity IRI belongs to, as the binding names it."""
    found = MOODLE_MODULE.match(activity)
    if found:
        return f"{found['site']}/mod/{found['type']}/view.php?id={found['cmid']}"
    return activity.split("#", 1)[0].removesuffix("/")


def item_type(activity: str) -> str:
    """Moodle's module type or Open edX's block type of an item, else "other"."""
    found = MOODLE_MODULE.match(activity) or OPENEDX_BLOCK_TYPE.search(activity)
    return found["type"] if found else "other"


def candidates(activity: str | None, context: tuple[str, ...]) -> tuple[str, ...]:
    """The items a statement may count for, innermost first: its object, then its parents."""
    found = [item_id(activity)] if activity else []
    found.extend(item_id(a) for a in context)
    return tuple(dict.fromkeys(found))


OPENEDX_BLOCK = re.compile(r"\A(?P<lms>.+?)/xblock/(?P<usage>block-v1:(?P<course>[^+]+\+[^+]+\+[^+]+)\+type@.+)\Z")


def item_url(item: str) -> str:
    """Where a learner opens an item: a Moodle module's view URL is its id; an Open edX block
    opens through its course's jump_to."""
    found = OPENEDX_BLOCK.match(item)
    if found:
        return f"{found['lms']}/courses/course-v1:{found['course']}/jump_to/{found['usage']}"
    return item


def moodle_item_url(site: str, modname: str, cmid: int | str) -> str:
    return f"{site.rstrip('/')}/mod/{modname}/view.php?id={cmid}"


def launch_item(issuer: str, context_id: str, resource_link: str, product: str) -> tuple[str, str]:
    """(item id, URL) of the LMS item an LTI resource link is: a deep-linked SkillGap link.
    Moodle's resource link id is the LTI instance (`mod/lti/view.php?l=`); Open edX's is the
    block's usage key."""
    issuer = issuer.rstrip("/")
    if resource_link.startswith("block-v1:"):
        return f"{issuer}/xblock/{resource_link}", f"{issuer}/courses/{context_id}/jump_to/{resource_link}"
    if product == "moodle":
        url = f"{issuer}/mod/lti/view.php?l={resource_link}"
        return url, url
    return f"{issuer}/lti-link/{resource_link}", ""


@dataclass(frozen=True)
class CourseItem:
    item: str  # the IRI statements name it by (item_id)
    module: str
    url: str  # where a learner opens it ("" when unknown)
    title: str = ""
    kind: str = ""  # Moodle module type or Open edX block type
    source: str = ""  # deep-link, import, link, teacher


class CourseBinding:
    """Per tenant: course -> its items (one hash per course), and item -> module (one hash per
    tenant, what the xAPI intake reads in one HMGET per request)."""

    def __init__(self, client: redis.Redis, lti_keys: LtiKeys):
        self.client = client
        self.lti_keys = lti_keys

    def bind(self, tenant: str, cohort: str, item: CourseItem) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.lti_keys.course_items(tenant, cohort), item.item, orjson.dumps(asdict(item)))
            pipe.hset(self.lti_keys.bound_items(tenant), item.item, item.module)
            pipe.sadd(self.lti_keys.bound_courses(tenant), cohort)
            pipe.execute()

    def unbind(self, tenant: str, cohort: str, item: str) -> bool:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.lti_keys.course_items(tenant, cohort), item)
            pipe.hdel(self.lti_keys.bound_items(tenant), item)
            removed, _ = pipe.execute()
        return bool(removed)

    def items(self, tenant: str, cohort: str | None) -> list[CourseItem]:
        if not cohort:
            return []
        raw = self.client.hvals(self.lti_keys.course_items(tenant, cohort))
        return sorted((CourseItem(**orjson.loads(r)) for r in raw), key=lambda i: (i.module, i.item))

    def by_module(self, tenant: str, cohort: str | None) -> dict[str, CourseItem]:
        """One item per module to open: one with a URL, the first by id."""
        found: dict[str, CourseItem] = {}
        for item in self.items(tenant, cohort):
            if item.module not in found or (item.url and not found[item.module].url):
                found[item.module] = item
        return found

    def modules_for(self, tenant: str, items: list[str]) -> dict[str, str]:
        """Item id -> module for those of `items` that are bound."""
        if not items:
            return {}
        found = self.client.hmget(self.lti_keys.bound_items(tenant), items)
        return {item: module.decode() for item, module in zip(items, found) if module}

    def courses(self, tenant: str) -> list[str]:
        return sorted(c.decode() for c in self.client.smembers(self.lti_keys.bound_courses(tenant)))
