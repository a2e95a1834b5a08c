"""`skillgap catalog import-moodle`: catalog module entries from a Moodle course's contents,
with their URLs, for an admin to tag with knowledge points (coverage) before they count.

Activities the catalog already knows (by URL or xapi_activities) are left out, so importing
a course again only adds what is new in it.
"""

from __future__ import annotations

import json
import re

from core.catalog import Catalog
from core.catalog.activities import ActivityMatcher
from lti_tool.moodle.client import MoodleClient

# Moodle activity type -> catalog method and a default duration in minutes.
METHOD_OF = {
    "quiz": ("quiz", 20), "assign": ("project", 120), "workshop": ("project", 120),
    "facetoface": ("offline", 180), "attendance": ("offline", 120), "bigbluebuttonbn": ("offline", 60),
    "zoom": ("offline", 60), "lti": ("lab", 45), "h5pactivity": ("online", 15), "hvp": ("online", 15),
    "scorm": ("online", 30), "lesson": ("online", 30), "book": ("online", 30), "page": ("online", 15),
}  # fmt: skip
DEFAULT_METHOD = ("online", 20)
SKIPPED = {"label", "qbank"}  # no page of their own to learn from


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "activity"


def import_course(client: MoodleClient, course: int, catalog: Catalog) -> tuple[str, int, int]:
    """TOML text with one `[[modules]]` entry per new activity; and (new, already known) counts."""
    matcher = ActivityMatcher(catalog)
    entries: list[str] = []
    known = 0
    for section in client.course_contents(course):
        for module in section.get("modules", []):
            url, modname = module.get("url"), module.get("modname", "")
            if not url or modname in SKIPPED:
                continue
            if matcher.module_for(url) is not None:
                known += 1
                continue
            method, minutes = METHOD_OF.get(modname, DEFAULT_METHOD)
            name = module.get("name") or f"{modname} {module['id']}"
            entries.append(
                "[[modules]]\n"
                f'id = "moodle-{course}-{module["id"]}-{_slug(name)}"\n'
                f"title = {{ en = {_toml(name)}, zh = {_toml(name)} }}  # translate the zh title\n"
                f'method = "{method}"  # Moodle {modname}\n'
                f"minutes = {minutes}\n"
                "coverage = { }  # tag: knowledge point id = weight in (0, 1]\n"
                f"url = {_toml(url)}\n"
            )
    section_name = f"# Moodle course {course} at {client.url}: {len(entries)} activities to tag.\n"
    return section_name + "\n" + "\n".join(entries), len(entries), known
