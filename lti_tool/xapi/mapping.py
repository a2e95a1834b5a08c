"""What a valid statement means for mastery: event kind, catalog module, score and cohort,
or why it means nothing (counted, never silently dropped)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from core.catalog import Catalog
from core.catalog.activities import ActivityMatcher
from lti_tool.xapi.statements import VOIDED, Statement

PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"
PROGRESSED = "http://adlnet.gov/expapi/verbs/progressed"

# Why a statement moved no mastery; the keys of the admin's counters.
IGNORED_VERB = "ignored_verb"
# A voiding statement: the voided statement's event stays applied (the log is append-only; see
# README, xAPI intake), counted apart so that an admin sees it happen.
VOIDING = "voiding"
NOT_AN_ACTIVITY = "object_not_an_activity"
UNMAPPED_ACTIVITY = "unmapped_activity"
COURSE_ACTIVITY = "course_activity"  # the course itself (viewed, completed): no one module
VERB_NOT_FOR_MODULE = "verb_not_for_module"
NOT_COMPLETE = "not_complete"


class Meaning(NamedTuple):
    kind: str
    module: str
    score: float | None
    course: str | None  # the LTI context id of the statement's course


@lru_cache(maxsize=4096)  # an LMS's statements name the same few courses
def context_id_of(course: str | None) -> str | None:
    """The LTI context id of a course activity, so xAPI and launches share a cohort:
    Moodle's course id (`.../course/view.php?id=7` -> "7"), Open edX's course key."""
    if not course:
        return None
    if "view.php?id=" in course:
        return course.rsplit("view.php?id=", 1)[1] or None
    return course.rsplit("/course/", 1)[-1].strip("/") or None


class StatementMapper:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.verbs = catalog.xapi_verbs
        self.matcher = ActivityMatcher(catalog)
        self.module_verbs = {m.id: frozenset(m.xapi_verbs) for m in catalog.modules if m.xapi_verbs}

    def can_mean(self, statement: Statement) -> bool:
        """Whether the statement's verb can make an event at all (before looking at modules)."""
        return statement.verb in self.verbs and statement.activity is not None

    def meaning(self, statement: Statement, bound: str | None = None) -> Meaning | str:
        """The event a statement makes, or the reason it makes none. `bound`: the module the
        course binding gives its object or a parent (course_binding.py); else the catalog's
        activity list decides."""
        kind = self.verbs.get(statement.verb)
        if kind is None:
            return VOIDING if statement.verb == VOIDED else IGNORED_VERB
        if statement.activity is None:
            return NOT_AN_ACTIVITY
        module = bound or self.matcher.module_for(statement.activity)
        if module is None:
            return COURSE_ACTIVITY if statement.activity == statement.course else UNMAPPED_ACTIVITY
        allowed = self.module_verbs.get(module)
        if allowed is not None and statement.verb not in allowed:
            return VERB_NOT_FOR_MODULE
        score = statement.score
        if kind == "completed":
            if statement.completion is False or (statement.verb == PROGRESSED and statement.completion is not True):
                return NOT_COMPLETE
            if score is not None:
                kind = "graded"  # a completion that carries a grade is evidence too
        elif kind in ("graded", "assessed") and score is None:
            if statement.success is not None:
                score = 1.0 if statement.success else 0.0
            elif statement.verb in (PASSED, FAILED):
                score = 1.0 if statement.verb == PASSED else 0.0
            else:
                kind = "viewed"  # an attempt without a result: the learner engaged, nothing measured
        if kind == "viewed":
            score = None
        return Meaning(
            kind,
            module,
            None if score is None else min(1.0, score),
            context_id_of(statement.course),
        )
