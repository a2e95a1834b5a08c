"""A Moodle course through its web services, with the answers a real Moodle 4.5.6 gave
(tests/samples/moodle-4.5/, the site address replaced by the stub's): the catalog import leaves
out forums and LTI links and binds what the catalog knows; the sync reads grades of bound items
into the tenant of the Moodle's registration, staff left out, students who never launched in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.identity import course_cohort, learner_pseudonym
from core.services import build_services
from core.settings import ROOT
from lms_helpers import cli_env, events_on_stream, register_moodle
from lti_tool.course_binding import CourseBinding, CourseItem
from lti_tool.redis_keys import LtiKeys
from moodle_stub import TOKEN, MoodleStub, import_moodle_args
from skillgap.cli import main

SAMPLES = Path(__file__).parent / "samples" / "moodle-4.5"
REAL_SITE = "http://127.0.0.1:8081"
COURSE = 2


@pytest.fixture
def stub():
    with MoodleStub() as server:
        for function in (
            "core_course_get_contents",
            "core_enrol_get_enrolled_users",
            "gradereport_user_get_grade_items",
        ):
            text = (SAMPLES / f"{function}.json").read_text().replace(REAL_SITE, server.url)
            server.answers[function] = json.loads(text)
        completion = json.loads((SAMPLES / "core_completion_get_activities_completion_status.json").read_text())
        server.answers["core_completion_get_activities_completion_status"] = lambda form: (
            completion if form["userid"] == "3" else {"statuses": [], "warnings": []}
        )
        yield server


@pytest.fixture
def services(settings, redis_client, tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(ROOT / "config" / "catalog", catalog)
    return build_services(settings.replace(catalog_path=catalog), redis_client)


@pytest.fixture
def registered(services, stub):
    """The Moodle's LTI registration, in tenant moodle-co."""
    register_moodle(services, stub.url, "moodle-co")
    return "moodle-co"


def test_import_leaves_out_forums_and_lti_links_and_binds_what_the_catalog_knows(
    services, stub, registered, tmp_path, settings, monkeypatch, capsys
):
    cli_env(monkeypatch, settings, SKILLGAP_CATALOG_PATH=str(services.settings.catalog_path))
    output = tmp_path / "course.toml"
    args = import_moodle_args(stub.url, COURSE, output)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "6 new module(s)" in out and "Left out: 2 forum, 3 lti" in out
    text = output.read_text()
    assert "forum" not in text and "/mod/lti/" not in text  # the announcements, SkillGap's own links
    assert f'url = "{stub.url}/mod/quiz/view.php?id=8"' in text

    # Tagged and in the catalog, the next import binds them in the course, in the registration's tenant.
    (services.settings.catalog_path / "course.toml").write_text(
        text.replace("coverage = { }", "coverage = { llm-fundamentals = 1.0 }")
    )
    assert main([*args, "--force"]) == 0
    assert "0 new module(s)" in capsys.readouterr().out
    items = CourseBinding(services.redis, LtiKeys(services.keys)).items(
        registered, course_cohort(stub.url, str(COURSE))
    )
    assert {(i.item, i.module) for i in items} >= {(f"{stub.url}/mod/quiz/view.php?id=8", "moodle-2-8-capture-quiz")}
    assert len(items) == 6 and {i.source for i in items} == {"import"}

    assert main([*args, "--force", "--include-forums", "--include-lti"]) == 0
    assert "5 new module(s)" in capsys.readouterr().out


def test_sync_reads_grades_of_bound_items_into_the_registrations_tenant(
    services, stub, registered, settings, monkeypatch, capsys
):
    cohort = course_cohort(stub.url, str(COURSE))
    quiz = f"{stub.url}/mod/quiz/view.php?id=8"
    CourseBinding(services.redis, LtiKeys(services.keys)).bind(
        registered, cohort, CourseItem(quiz, "m-quiz-foundations", quiz)
    )
    cli_env(monkeypatch, settings)
    assert main(["moodle", "sync", "--url", stub.url, "--token", TOKEN, "--course", str(COURSE)]) == 0
    out = capsys.readouterr().out
    assert "for tenant 'moodle-co'" in out
    assert f"bound to no module: {stub.url}/mod/lesson/view.php?id=11" in out
    events = events_on_stream(services)
    assert {e["tenant"] for e in events} == {"moodle-co"} and {e["cohort"] for e in events} == {cohort}
    secret = services.pseudonym_secret
    student, never_active, teacher = (learner_pseudonym(secret, stub.url, u) for u in ("3", "5", "4"))
    assert {e["learner"] for e in events if e["kind"] == "enrolled"} == {student, never_active}  # not the teacher
    assert teacher not in {e["learner"] for e in events}
    [graded] = [e for e in events if e["kind"] == "graded"]
    assert (graded["learner"], graded["module"], graded["score"]) == (student, "m-quiz-foundations", pytest.approx(0.6))
    [completed] = [e for e in events if e["kind"] == "completed"]  # the quiz's complete-pass state
    assert (completed["learner"], completed["module"]) == (student, "m-quiz-foundations")
