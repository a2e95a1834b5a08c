"""`skillgap catalog import-moodle`: catalog module entries from a Moodle course's contents,
with their URLs, for an admin to tag with knowledge points (coverage) before they count.

Activities the catalog already knows (by URL or xapi_activities, or by the id an earlier import
gave them) are not written again but bound to their module in the course, so importing a course
again only adds what is new in it and binds what has been tagged since. Forums, labels and LTI
links (SkillGap's own among them) are left out unless asked for.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from core.catalog import Catalog
from core.catalog.activities import ActivityMatcher
from lti_tool.course_binding import CourseItem, item_id
from lti_tool.moodle.client import MoodleClient

# Moodle activity type -> catalog method and a default duration in minutes.
METHOD_OF = {
    "quiz": ("quiz", 20),
    "assign": ("project", 120),
    "workshop": ("project", 120),
    "facetoface": ("offline", 180),
    "attendance": ("offline", 120),
    "bigbluebuttonbn": ("offline", 60),
    "zoom": ("offline", 60),
    "lti": ("lab", 45),
    "h5pactivity": ("online", 15),
    "hvp": ("online", 15),
    "scorm": ("online", 30),
    "lesson": ("online", 30),
    "book": ("online", 30),
    "page": ("online", 15),
}
DEFAULT_METHOD = ("online", 20)
SKIPPED = {"label", "qbank"}  # no page of their own to learn from
FORUMS = {"forum", "hsuforum"}  # discussion, not training: left out unless asked
LTI = "lti"  # external tool links, SkillGap's own among them: left out unless asked


@dataclass
class CourseImport:
    """What a course's contents give: entries to tag, the course items whose module the catalog
    has (to bind), and what was left out by type."""

    text: str
    new: int
    known: list[CourseItem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "activity"


def import_course(
    client: MoodleClient, course: int, catalog: Catalog, include_forums: bool = False, include_lti: bool = False
) -> CourseImport:
    """TOML text with one `[[modules]]` entry per new activity, and the activities the catalog
    already has a module for (by URL, or by the id an earlier import gave it)."""
    matcher = ActivityMatcher(catalog)
    left_out = set(SKIPPED) | (set() if include_forums else FORUMS) | (set() if include_lti else {LTI})
    entries: list[str] = []
    found = CourseImport("", 0)
    for section in client.course_contents(course):
        for module in section.get("modules", []):
            url, modname = module.get("url"), module.get("modname", "")
            if not url or modname in left_out:
                found.skipped[modname or "unknown"] += 1
                continue
            name = module.get("name") or f"{modname} {module['id']}"
            ident = f"moodle-{course}-{module['id']}-{_slug(name)}"
            known = matcher.module_for(url) or (ident if ident in catalog.module_index else None)
            if known is not None:
                found.known.append(CourseItem(item_id(url), known, url, name[:200], modname, "import"))
                continue
            method, minutes = METHOD_OF.get(modname, DEFAULT_METHOD)
            entries.append(
                "[[modules]]\n"
                f'id = "{ident}"\n'
                f"title = {{ en = {_toml(name)}, zh = {_toml(name)} }}  # translate the zh title\n"
                f'method = "{method}"  # Moodle {modname}\n'
                f"minutes = {minutes}\n"
                "coverage = { }  # tag: knowledge point id = weight in (0, 1]\n"
                f"url = {_toml(url)}\n"
            )
    header = f"# Moodle course {course} at {client.url}: {len(entries)} activities to tag.\n"
    found.text, found.new = header + "\n" + "\n".join(entries), len(entries)
    return found
