"""The course binding: a course's own items count for the catalog modules they are bound to,
with what logstore_xapi 5.0.1 really sent from a Moodle 4.5.6 (tests/samples/moodle-4.5/,
names off: the setting docs/moodle.md asks for), and Open edX's event-routing-backends shapes."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from core.identity import learner_pseudonym, record_launch_identity
from lms_helpers import cli_env, events_on_stream, register_moodle, xapi_headers
from lti_tool import create_app
from lti_tool.activity import mark_staff
from lti_tool.course_binding import CourseBinding, CourseItem, candidates, item_id, item_type, item_url, launch_item
from lti_tool.redis_keys import LtiKeys
from lti_tool.xapi.intake import drop_expired_waiting, waiting_key
from sidecar.worker import Worker
from skillgap.cli import main
from xapi_shapes import OPENEDX, openedx_problem_check

SAMPLES = Path(__file__).parent / "samples" / "moodle-4.5"
SITE = "http://127.0.0.1:8081"
COURSE = "2@127.0.0.1:8081"  # LTI context id 2 (the course), never a section
PAGE, URL, QUIZ, ASSIGN, FORUM, LESSON = (
    f"{SITE}/mod/{t}/view.php?id={i}"
    for t, i in (("page", 6), ("url", 7), ("quiz", 8), ("assign", 9), ("forum", 10), ("lesson", 11))
)


def moodle_batches() -> list[list[dict]]:
    return json.loads((SAMPLES / "logstore_xapi-names-off.json").read_text())


@pytest.fixture
def client(services):
    return create_app(services=services).test_client()


@pytest.fixture
def moodle(services):
    return xapi_headers(services, "moodle", SITE, "1.0.0")


@pytest.fixture
def binding(services):
    return CourseBinding(services.redis, LtiKeys(services.keys))


def bind(binding, item, module):
    binding.bind("acme", COURSE, CourseItem(item, module, item, kind=item_type(item), source="test"))


def post_all(client, headers):
    for batch in moodle_batches():
        assert client.post("/xapi/statements", json=batch, headers=headers).status_code == 200


def test_items_are_found_through_the_statement_and_its_parents():
    answered = f"{SITE}/question/question.php?cmid=8&id=1"
    parents = (
        f"{SITE}/mod/quiz/attempt.php?attempt=1&cmid=8",
        QUIZ,
        f"{SITE}/course/section.php?id=3",
        f"{SITE}/course/view.php?id=2",
    )
    assert candidates(answered, parents)[2] == QUIZ
    assert item_id(f"{ASSIGN}#submission") == ASSIGN and item_id(f"{LESSON}&pageid=1") == LESSON
    assert item_type(QUIZ) == "quiz"
    assert item_type("https://lms/xblock/block-v1:edX+DemoX+Demo+type@sequential+block@a2") == "sequential"


def test_a_deep_linked_link_is_the_item_learners_open_in_their_own_course():
    claims = json.loads((SAMPLES / "launch-claims-student.json").read_text())
    link = claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"]  # Moodle: the LTI instance
    assert launch_item(claims["iss"], "2", link, "moodle") == (f"{SITE}/mod/lti/view.php?l=1",) * 2
    block = "block-v1:Org+LLM101+2026+type@lti_consumer+block@7f"
    item, url = launch_item("https://lms.example.org", "course-v1:Org+LLM101+2026", block, "openedx")
    assert item == f"https://lms.example.org/xblock/{block}" and url == item_url(item)
    assert url == f"https://lms.example.org/courses/course-v1:Org+LLM101+2026/jump_to/{block}"


def test_without_a_binding_no_real_moodle_statement_counts_and_status_says_how_to_bind(
    client, services, moodle, capsys, settings, monkeypatch
):
    post_all(client, moodle)
    assert events_on_stream(services) == []
    report = client.get("/xapi/status", headers=moodle).json
    by_item = {a["activity"]: a for a in report["unmapped_activities"]}
    # A question, an attempt and its review count under their quiz; all in the course, not a section.
    assert by_item[QUIZ]["type"] == "quiz" and by_item[QUIZ]["statements"] >= 5
    assert {a["course"] for a in report["unmapped_activities"]} == {COURSE}
    cli_env(monkeypatch, settings)
    assert main(["xapi", "status", "--tenant", "acme", "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "  quiz: " in out
    assert f"skillgap platform link --tenant acme --course {COURSE} --item '{QUIZ}' --module MODULE" in out


def test_bound_items_turn_the_real_moodle_activity_into_events_of_the_course(client, services, moodle, binding):
    for item, module in (
        (PAGE, "m-llm-intro"),
        (QUIZ, "m-quiz-foundations"),
        (ASSIGN, "m-prompt-basics"),
        (LESSON, "m-tokens-context"),
    ):
        bind(binding, item, module)
    post_all(client, moodle)
    events = events_on_stream(services)
    student = learner_pseudonym(services.pseudonym_secret, SITE, "3")
    assert {e["learner"] for e in events} == {student}  # the teacher graded; the actor is the learner
    assert {e["cohort"] for e in events} == {COURSE}
    kinds = Counter((e["module"], e["kind"]) for e in events)
    quiz_grades = [e["score"] for e in events if e["module"] == "m-quiz-foundations" and e["kind"] == "graded"]
    # 6/10 on the quiz (logstore_xapi's scaled says 0.2: it is 2*(raw-min)/(max-min)-1).
    assert quiz_grades == [pytest.approx(0.6)]
    # The multiple-choice and true/false answers are assessed; the short answer (no success) is a view.
    answers = sorted(e["score"] for e in events if e["module"] == "m-quiz-foundations" and e["kind"] == "assessed")
    assert answers == [0.0, 1.0]
    assert [e["score"] for e in events if e["module"] == "m-prompt-basics" and e["kind"] == "graded"] == [
        pytest.approx(0.8)
    ]
    assert kinds[("m-prompt-basics", "completed")] >= 1  # submitted (and completion)
    assert kinds[("m-llm-intro", "viewed")] >= 1 and kinds[("m-llm-intro", "completed")] >= 1
    assert [e["score"] for e in events if e["module"] == "m-tokens-context" and e["kind"] == "graded"] == [1.0]
    assert not any(e["module"] is None for e in events)
    report = client.get("/xapi/status", headers=moodle).json
    left = {a["activity"] for a in report["unmapped_activities"]}
    assert QUIZ not in left and FORUM in left and URL in left

    # The worker applies them: the quiz's knowledge points move, and the learner is ranked.
    Worker(services).run(burst=True)
    record = services.learners.get("acme", student)
    assert record.events == len(events)
    catalog = services.catalog
    standing = services.learners.standing([record], time.time())
    quiz_points = [catalog.point_index[p] for p in catalog.modules[catalog.module_index["m-quiz-foundations"]].coverage]
    assert all(standing.mastery[0][j] != pytest.approx(catalog.knowledge_points[j].prior) for j in quiz_points)
    assert services.learners.explain(record)  # recommendations were computed


def test_platform_link_binds_and_unbinds_an_item(client, services, moodle, settings, monkeypatch, capsys):
    cli_env(monkeypatch, settings)
    register_moodle(services, SITE, "acme")
    assert main(["platform", "link", "--course", COURSE, "--item", f"{QUIZ}", "--module", "m-quiz-foundations"]) == 0
    binding = CourseBinding(services.redis, LtiKeys(services.keys))
    assert [(i.item, i.module) for i in binding.items("acme", COURSE)] == [(QUIZ, "m-quiz-foundations")]
    post_all(client, moodle)
    assert {e["module"] for e in events_on_stream(services)} == {"m-quiz-foundations"}
    assert (
        main(["platform", "link", "--course", COURSE, "--item", QUIZ, "--module", "m-quiz-foundations", "--unbind"])
        == 0
    )
    assert binding.items("acme", COURSE) == []
    capsys.readouterr()
    assert main(["platform", "link", "--course", COURSE, "--item", QUIZ, "--module", "no-such-module"]) != 0
    assert "unknown module" in capsys.readouterr().err
    assert (
        main(["platform", "link", "--course", "2@elsewhere.example", "--item", QUIZ, "--module", "m-quiz-foundations"])
        != 0
    )
    assert "give --tenant" in capsys.readouterr().err


def test_an_open_edx_subsection_grade_counts_for_its_bound_block(client, services, binding):
    """edx.grades.subsection.grade_calculated as event-routing-backends sends it: verb earned."""
    sequential = f"{OPENEDX}/xblock/block-v1:Org+LLM101+2026+type@sequential+block@a2184f"
    course = "course-v1:Org+LLM101+2026@openedx.example.com"
    binding.bind("acme", course, CourseItem(sequential, "m-prompt-basics", sequential, kind="sequential"))
    record_launch_identity(
        services.redis,
        services.keys,
        services.pseudonym_secret,
        "acme",
        OPENEDX,
        {"sub": "s", "https://purl.imsglobal.org/spec/lti/claim/custom": {"xapi_account": "anon-1"}},
        "u-one",
    )
    statement = openedx_problem_check("anon-1", str(uuid.uuid4()))
    statement["verb"] = {"id": "http://id.tincanapi.com/verb/earned", "display": {"en": "earned"}}
    statement["object"] = {
        "id": sequential,
        "objectType": "Activity",
        "definition": {"type": "http://id.tincanapi.com/activitytype/resource"},
    }
    statement["result"] = {"score": {"scaled": 0.6667, "raw": 2.0, "min": 0.0, "max": 3.0}, "success": True}
    statement["context"]["contextActivities"]["parent"][0]["id"] = f"{OPENEDX}/course/course-v1:Org+LLM101+2026"
    headers = xapi_headers(services, "openedx", OPENEDX)
    assert client.post("/xapi/statements", json=statement, headers=headers).status_code == 200
    [event] = events_on_stream(services)
    assert (event["module"], event["kind"], event["cohort"]) == ("m-prompt-basics", "graded", course)
    assert event["score"] == pytest.approx(2 / 3)


def test_statements_of_unknown_actors_wait_up_to_a_limit_and_an_age(services):
    services = services.with_settings(xapi_waiting_max=2, xapi_waiting_days=30.0)
    client = create_app(services=services).test_client()
    batch = [openedx_problem_check("anon-x", str(uuid.uuid4())) for _ in range(3)]
    headers = xapi_headers(services, "openedx", OPENEDX)
    assert client.post("/xapi/statements", json=batch, headers=headers).status_code == 200

    def counts():
        return {
            k.decode(): int(v)
            for k, v in services.redis.hgetall(services.keys.xapi_counts("acme")).items()
            if k != b"last_received"
        }

    assert counts()["waiting"] == 2 and counts()["waiting_dropped"] == 1
    (actor,) = services.redis.smembers(services.keys.xapi_waiting_actors("acme"))
    assert services.redis.llen(waiting_key(services.keys, "acme", actor.decode())) == 2
    assert drop_expired_waiting(services, "acme", time.time() + 29 * 86_400) == 0  # not old enough yet
    assert drop_expired_waiting(services, "acme", time.time() + 31 * 86_400) == 2
    assert counts()["waiting"] == 0 and counts()["waiting_expired"] == 2
    assert services.redis.smembers(services.keys.xapi_waiting_actors("acme")) == set()


def test_statements_of_staff_make_no_learner_events(client, services, moodle, binding):
    """A teacher viewing the quiz is not a learner of it (issue 16: teachers were counted)."""
    bind(binding, QUIZ, "m-quiz-foundations")
    [viewed] = [
        s
        for batch in moodle_batches()
        for s in batch
        if s["object"]["id"] == QUIZ and s["verb"]["id"].endswith("/viewed")
    ]
    teacher = learner_pseudonym(services.pseudonym_secret, SITE, "4")
    mark_staff(services.redis, LtiKeys(services.keys), "acme", teacher, True)
    as_teacher = {**viewed, "actor": {"account": {"homePage": SITE, "name": "4"}}}
    as_student = {**viewed, "actor": {"account": {"homePage": SITE, "name": "3"}}}
    assert client.post("/xapi/statements", json=[as_teacher, as_student], headers=moodle).status_code == 200
    assert [e["learner"] for e in events_on_stream(services)] == [
        learner_pseudonym(services.pseudonym_secret, SITE, "3")
    ]
    assert int(services.redis.hget(services.keys.xapi_counts("acme"), "staff_actor")) == 1
