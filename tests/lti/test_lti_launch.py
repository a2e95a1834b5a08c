"""Full OIDC launches from Open edX's LTI consumer to the tool over real HTTP, and what a launch
records: the event on the log, the learner's identity, the pages."""

from __future__ import annotations

import csv
import io
import re

from edx_platform import INSTRUCTOR, LEARNER, Browser, LoopbackServer

from core.identity import course_cohort, learner_for_alias, learner_pseudonym, pseudonym_secret
from lms_helpers import events_on_stream
from lti_tool import create_app
from lti_tool.redis_keys import LtiKeys

TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
CONTENT_DEVELOPER = "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper"


def test_learner_launch_shows_next_modules_and_records_an_enrolment(tool_server, registered):
    response = Browser().launch(registered.begin("student-1", "student"))
    assert response.status_code == 200, response.text
    assert "Your next modules" in response.text
    assert "Your mastery against your role" in response.text

    services = tool_server.services
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "student-1")
    [event] = events_on_stream(services)
    assert event["kind"] == "enrolled" and event["source"] == "lti"
    assert event["tenant"] == "acme" and event["learner"] == learner
    assert event["cohort"] == course_cohort(registered.issuer, registered.context_id)
    assert "student-1" not in str(event)  # pseudonymous only
    assert learner_for_alias(services.redis, services.keys, "acme", registered.issuer, "sub", "student-1") == learner


def test_after_the_worker_the_learner_sees_recommendations_with_reasons(tool_server, registered):
    Browser().launch(registered.begin("student-2", "student", custom={"skillgap_role": "ml-engineer"}))
    tool_server.drain()
    page = Browser().launch(registered.begin("student-2", "student", custom={"skillgap_role": "ml-engineer"})).text
    assert "Role: Software / ML engineer" in page
    services = tool_server.services
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "student-2")
    stored = services.learners.get("acme", learner).recommendations
    assert stored and page.count('class="card recommendation"') == len(stored)
    first = services.catalog.modules[services.catalog.module_index[stored[0]["module"]]]
    assert first.title.en in page
    assert "Why:</strong> Raises" in page
    # Nothing of this course is bound yet: no link to the catalog's placeholder URLs; each says so.
    assert "lms.example.com" not in page
    assert page.count("This course does not offer this module yet") == len(stored)
    # Every knowledge point with a target for the role is listed with mastery and target.
    targets = [
        t
        for t in tool_server.services.catalog.roles[
            tool_server.services.catalog.role_index["ml-engineer"]
        ].targets.values()
        if t > 0
    ]
    assert page.count('<tr class="point">') == len(targets)


def test_a_module_link_records_a_viewed_event_for_its_module(tool_server, registered):
    response = Browser().launch(registered.begin("student-3", custom={"skillgap_module": "m-prompt-basics"}))
    assert response.status_code == 200
    assert "You opened: Prompt engineering basics" in response.text
    [event] = events_on_stream(tool_server.services)
    assert (event["kind"], event["module"]) == ("viewed", "m-prompt-basics")


def test_a_resource_link_mapped_by_the_admin_counts_as_its_module(tool_server, registered):
    tool_server.tool.module_links.set("acme", registered.issuer, "rl-rag", "m-rag-intro")
    Browser().launch(registered.begin("student-4", resource_link="rl-rag"))
    [event] = events_on_stream(tool_server.services)
    assert (event["kind"], event["module"]) == ("viewed", "m-rag-intro")


def test_chinese_locale_gives_the_chinese_page(tool_server, registered):
    page = Browser().launch(registered.begin("student-5", locale="zh-CN")).text
    assert '<html lang="zh-CN">' in page
    assert "推荐你接下来学习的模块" in page


def test_instructor_launch_syncs_the_roster_and_shows_the_cohort_heatmap(tool_server, registered):
    registered.members = (
        [
            {
                "user_id": f"member-{i}",
                "status": "Active",
                "roles": [LEARNER],
                "name": "Never Stored",
                "email": f"m{i}@example.com",
            }
            for i in range(5)
        ]
        + [{"user_id": "gone", "status": "Inactive", "roles": []}]
        + [
            {"user_id": f"staff-{i}", "status": "Active", "roles": roles}
            for i, roles in enumerate(
                (
                    [INSTRUCTOR],
                    [TEACHING_ASSISTANT],
                    [CONTENT_DEVELOPER],
                    ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"],  # Moodle's site admin
                    ["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator", LEARNER],
                )
            )
        ]
    )
    first = Browser().launch(registered.begin("teacher-1", "staff"))
    assert first.status_code == 200, first.text
    assert "Course roster synced: 5 members." in first.text  # three pages, the next-page URLs kept their case
    events = events_on_stream(tool_server.services)
    enrolled = [e for e in events if e["source"] == "nrps"]
    assert len(enrolled) == 5 and {e["kind"] for e in enrolled} == {"enrolled"}
    assert "Never Stored" not in str(events) and "example.com" not in str(events)

    tool_server.drain()
    browser = Browser()
    page = browser.launch(registered.begin("teacher-1", "staff")).text
    assert "Skill gaps of LLM upskilling 101" in page
    assert "5 learners" in page  # the five members who never launched; staff are no learners
    assert "Course roster synced" not in page  # synced at most once per interval
    assert page.count('class="largest-gap"') == 5
    assert "All staff" in page and "Teacher / instructional designer" not in page  # role names, not ids
    assert [e for e in events_on_stream(tool_server.services) if e["source"] == "lti"] == []  # the teacher's launches
    services = tool_server.services
    secret = pseudonym_secret(services.redis, services.keys)
    staff = {m.decode() for m in services.redis.smembers(LtiKeys(services.keys).staff("acme"))}
    assert staff == {
        learner_pseudonym(secret, registered.issuer, u) for u in ("teacher-1", *(f"staff-{i}" for i in range(5)))
    }

    csv_url = re.search(r'href="(/lti/launches/[^"]+/gaps.csv)"', page).group(1)
    # The link works in the browser that launched only: its id alone is not enough.
    elsewhere = Browser().http.get(tool_server.url + csv_url)
    assert elsewhere.status_code == 401 and "launch_expired" in elsewhere.text
    export = browser.http.get(tool_server.url + csv_url)
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["learner"] for r in rows} == set(
        tool_server.services.learners.cohort_learners("acme", course_cohort(registered.issuer, registered.context_id))
    )
    assert all(float(r["gap"]) >= 0 and float(r["target"]) > 0 for r in rows)


def test_the_activity_role_applies_to_the_rosters_learners_and_staff_only_through_the_role_map(
    lti_services, registered
):
    registered.members = [
        {"user_id": "analyst", "status": "Active", "roles": [LEARNER]},
        {"user_id": "trainer", "status": "Active", "roles": [INSTRUCTOR]},
    ]
    services = lti_services.with_settings(lti_role_map="Instructor=teacher")
    server = LoopbackServer(create_app(services=services))  # the tool with a role map for instructors
    try:
        registered.tool_url = server.url
        page = Browser().launch(registered.begin("teacher-3", "staff", custom={"skillgap_role": "risk-analyst"})).text
    finally:
        server.close()
    assert "Course roster synced: 2 members." in page
    roles = {e["learner"]: e.get("role") for e in events_on_stream(services) if e["source"] == "nrps"}
    secret = pseudonym_secret(services.redis, services.keys)
    assert roles[learner_pseudonym(secret, registered.issuer, "analyst")] == "risk-analyst"
    assert roles[learner_pseudonym(secret, registered.issuer, "trainer")] == "teacher"
    # The launching teacher is mapped too: their launch is a learner event of role teacher.
    [launch] = [e for e in events_on_stream(services) if e["source"] == "lti"]
    assert (
        launch["learner"] == learner_pseudonym(secret, registered.issuer, "teacher-3") and launch["role"] == "teacher"
    )


def test_no_export_without_learners_and_unknown_export_links_are_refused(tool_server, registered):
    page = Browser().launch(registered.begin("teacher-2", "staff")).text
    csv_url = re.search(r'href="(/lti/launches/[^"]+/gaps.csv)"', page)
    assert csv_url is None  # nobody launched yet: no export offered
    response = Browser().http.get(tool_server.url + "/lti/launches/not-a-launch/gaps.csv")
    assert response.status_code == 401 and "launch_expired" in response.text
