"""Statements shaped like real LMS output (the structure of logstore_xapi's and
event-routing-backends' published test fixtures, with our own values)."""

from __future__ import annotations

import copy

MOODLE = "https://moodle.example.com"
OPENEDX = "https://openedx.example.com"
QUIZ = "https://lms.example.com/mod/quiz/view.php?id=601"  # m-quiz-foundations in the default catalog
COURSE = "https://lms.example.com/course/view.php?id=101"  # m-llm-intro


def _moodle_context(course_id: int = 12) -> dict:
    return {
        "platform": "Moodle",
        "language": "en",
        "extensions": {"http://lrs.learninglocker.net/define/extensions/info": {"event_name": "\\mod_quiz\\event\\x"}},
        "contextActivities": {
            "grouping": [
                {
                    "id": MOODLE,
                    "definition": {"type": "http://id.tincanapi.com/activitytype/lms", "name": {"en": "Site"}},
                },
                {
                    "id": f"{MOODLE}/course/view.php?id={course_id}",
                    "definition": {
                        "type": "http://id.tincanapi.com/activitytype/lms/course",
                        "name": {"en": "LLM 101"},
                    },
                },
            ],
            "category": [
                {"id": "http://moodle.org", "definition": {"type": "http://id.tincanapi.com/activitytype/source"}}
            ],
        },
    }


def moodle_quiz_submitted(user_id: str = "42", scaled: float = 0.5, **changes) -> dict:
    """mod_quiz attempt_submitted: verb completed, the quiz as object, a score."""
    statement = {
        "actor": {"name": "Learner Name", "account": {"homePage": MOODLE, "name": user_id}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "completed"}},
        "object": {
            "id": QUIZ,
            "definition": {
                "type": "http://id.tincanapi.com/activitytype/lms/module",
                "name": {"en": "Foundations quiz"},
            },
        },
        "timestamp": "2026-03-10T15:31:41+01:00",
        "result": {
            "score": {"raw": 51, "min": 1, "max": 101, "scaled": scaled},
            "completion": True,
            "success": True,
            "duration": "PT1S",
        },
        "context": _moodle_context(),
    }
    statement.update(changes)
    return statement


def moodle_module_viewed(user_id: str = "42", activity: str = COURSE, **changes) -> dict:
    """course_module_viewed / course_viewed: verb viewed, no result."""
    statement = {
        "actor": {"name": "Learner Name", "account": {"homePage": MOODLE, "name": user_id}},
        "verb": {"id": "http://id.tincanapi.com/verb/viewed", "display": {"en": "viewed"}},
        "object": {
            "id": activity,
            "definition": {"type": "http://adlnet.gov/expapi/activities/course", "name": {"en": "How LLMs work"}},
        },
        "timestamp": "2026-03-10T14:00:00Z",
        "context": _moodle_context(),
    }
    statement.update(changes)
    return statement


def _openedx_context() -> dict:
    return {
        "contextActivities": {
            "parent": [
                {
                    "id": f"{OPENEDX}/course/course-v1:Example+LLM101+2026",
                    "objectType": "Activity",
                    "definition": {"name": {"en-US": "LLM 101"}, "type": "http://adlnet.gov/expapi/activities/course"},
                }
            ]
        },
        "extensions": {"https://w3id.org/xapi/openedx/extension/transformer-version": "event-routing-backends@7.0.0"},
    }


def openedx_problem_check(anonymous_id: str, statement_id: str, raw: float = 1, **changes) -> dict:
    """problem_check (server): verb evaluated, a cmi.interaction object, a score."""
    statement = {
        "id": statement_id,
        "actor": {"objectType": "Agent", "account": {"homePage": OPENEDX, "name": anonymous_id}},
        "verb": {"id": "https://w3id.org/xapi/acrossx/verbs/evaluated", "display": {"en": "evaluated"}},
        "object": {
            "id": f"{OPENEDX}/xblock/block-v1:Example+LLM-QUIZ+2026+type@problem+block@0a1b2c",  # m-quiz-foundations
            "objectType": "Activity",
            "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction", "interactionType": "choice"},
        },
        "result": {"score": {"max": 1, "min": 0, "raw": raw, "scaled": raw}, "success": raw == 1},
        "timestamp": "2026-03-11T14:39:26.906232+00:00",
        "context": _openedx_context(),
        "version": "1.0.3",
    }
    statement.update(changes)
    return statement


def openedx_zero_weight_attempt(anonymous_id: str, statement_id: str) -> dict:
    """edx.grades.problem.submitted for a problem worth 0 points: min = max = 0."""
    statement = openedx_problem_check(anonymous_id, statement_id)
    statement["verb"] = {
        "id": "http://adlnet.gov/expapi/verbs/attempted",
        "display": {"en": "attempted"},
    }
    statement["object"]["definition"] = {"type": "http://adlnet.gov/expapi/activities/question"}
    statement["result"] = {
        "score": {"max": 0.0, "min": 0.0, "raw": 0.0, "scaled": 0.0},
        "success": True,
    }
    return statement


def openedx_group_activity(anonymous_id: str, statement_id: str) -> dict:
    """Open edX marks some objects and context parents `objectType: "GroupActivity"`."""
    statement = openedx_problem_check(anonymous_id, statement_id)
    statement["object"]["objectType"] = "GroupActivity"
    statement["context"]["contextActivities"]["parent"][0]["objectType"] = "GroupActivity"
    return statement


def with_change(statement: dict, path: str, value: object) -> dict:
    """A copy with `path` (dotted; '-' deletes) set to `value`."""
    changed = copy.deepcopy(statement)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        last = int(last)
    if value == "-":
        del target[last]
    else:
        target[last] = value
    return changed
