"""The course binding in launches, against Open edX's LTI consumer: a deep-linked module's block
binds itself, learners' links open the item in their own course, a module the course lacks says
so, and the teacher binds and unbinds items from their page."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid

import requests
from edx_platform import LEARNER, Browser

from core.identity import course_cohort, learner_pseudonym, pseudonym_secret
from lms_helpers import events_on_stream
from lti_tool.course_binding import CourseItem
from lti_tool.sessions import BROWSER_COOKIE
from lti_tool.xapi.credentials import create_credentials
from xapi_shapes import openedx_problem_check

BLOCK = "block-v1:SkillGap+LLM101+2026+type@lti_consumer+block@{}"


def _cohort(registered):
    return course_cohort(registered.issuer, registered.context_id)


def test_a_deep_linked_module_binds_its_block_and_learners_open_it_in_their_course(tool_server, registered):
    block = BLOCK.format("intro")
    Browser().launch(registered.begin("student-b1", resource_link=block, custom={"skillgap_module": "m-llm-intro"}))
    [item] = tool_server.tool.binding.items("acme", _cohort(registered))
    assert (item.item, item.module, item.source) == (f"{registered.issuer}/xblock/{block}", "m-llm-intro", "deep-link")
    assert item.url == f"{registered.issuer}/courses/{registered.context_id}/jump_to/{block}"

    tool_server.drain()
    services = tool_server.services
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "student-b1")
    first, second = (r["module"] for r in services.learners.explain(services.learners.get("acme", learner))[:2])
    bound = f"{registered.issuer}/courses/{registered.context_id}/jump_to/{BLOCK.format('first')}"
    tool_server.tool.binding.bind(
        "acme", _cohort(registered), CourseItem(f"{registered.issuer}/xblock/{BLOCK.format('first')}", first, bound)
    )
    page = Browser().launch(registered.begin("student-b1")).text
    catalog = services.catalog
    assert f'href="{bound}"' in page  # the recommended module's item in this course
    assert "lms.example.com" not in page  # never the catalog's placeholder URLs
    lacking = catalog.modules[catalog.module_index[second]]
    recommendations = page[page.index('class="card recommendation"') :]  # not the mandatory modules' list
    section = recommendations[recommendations.index(lacking.title.en) :]
    assert section.index("This course does not offer this module yet") < section.index("</li>")


def test_the_teacher_binds_and_unbinds_items_and_sees_what_the_course_lacks(tool_server, registered):
    for user in ("student-b2", "student-b3"):
        Browser().launch(registered.begin(user))
    tool_server.drain()
    teacher_browser = Browser()
    page = teacher_browser.launch(registered.begin("teacher-b", "staff")).text
    assert "No activity of this course is bound" in page
    assert page.count('class="missing-module"') >= 1 and "SkillGap → choose the module" in page
    action = re.search(r'action="(/lti/launches/[^/]+/binding)"', page).group(1)
    assert (
        Browser().http.post(tool_server.url + action, data={"item": "x", "action": "unbind"}).status_code == 401
    )  # another browser
    http = teacher_browser.http
    quiz = f"{registered.issuer}/xblock/block-v1:SkillGap+LLM101+2026+type@sequential+block@quiz"
    answer = http.post(tool_server.url + action, data={"item": quiz, "module": "m-quiz-foundations"})
    assert answer.status_code == 200 and 'class="course-item"' in answer.text
    assert [(i.item, i.module, i.source) for i in tool_server.tool.binding.items("acme", _cohort(registered))] == [
        (quiz, "m-quiz-foundations", "teacher")
    ]

    refused = [
        {"item": "https://elsewhere.example/mod/quiz/view.php?id=8", "module": "m-quiz-foundations"},  # another LMS
        {"item": "javascript:alert(1)", "module": "m-quiz-foundations"},
        {"item": quiz, "module": "no-such-module"},
        {"item": quiz + "-not-bound", "action": "unbind"},
    ]
    for form in refused:
        answer = http.post(tool_server.url + action, data=form)
        assert answer.status_code == 400 and "bad_binding" in answer.text, form
    learner_page = Browser().launch(registered.begin("student-b2")).text
    learner_action = re.search(r'/lti/launches/[^/"]+/binding', learner_page)
    assert learner_action is None  # no binding form for learners
    teacher = tool_server.tool.sessions.launch(action.split("/")[3], http.cookies.get(BROWSER_COOKIE))
    learner_id = tool_server.tool.sessions.save_launch(dataclasses.replace(teacher, instructor=False))
    answer = http.post(f"{tool_server.url}/lti/launches/{learner_id}/binding", data={"item": quiz, "action": "unbind"})
    assert answer.status_code == 403  # a learner's launch cannot change the binding

    answer = http.post(tool_server.url + action, data={"item": quiz, "action": "unbind"})
    assert answer.status_code == 200 and tool_server.tool.binding.items("acme", _cohort(registered)) == []
    assert (
        http.post(
            tool_server.url + "/lti/launches/unknown/binding", data={"item": quiz, "module": "m-quiz-foundations"}
        ).status_code
        == 401
    )


def test_a_roster_sync_names_members_whose_statements_waited(tool_server, registered):
    """Learners who never launch: their Open edX statements (actor by hashed email) wait until the
    teacher's launch syncs the roster, which records each member's ids and releases them."""
    services = tool_server.services
    credential, secret = create_credentials(services.redis, services.keys, "acme", "openedx", registered.issuer)
    auth = (credential.key, secret)
    email = "never.launched@example.com"
    statement = openedx_problem_check("ignored", str(uuid.uuid4()))
    statement["actor"] = {"objectType": "Agent", "mbox_sha1sum": hashlib.sha1(f"mailto:{email}".encode()).hexdigest()}
    answer = requests.post(
        tool_server.url + "/xapi/statements",
        json=statement,
        auth=auth,
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=10,
    )
    assert answer.status_code == 200 and [e for e in events_on_stream(services) if e["source"] == "xapi"] == []
    registered.members = [{"user_id": "quiet-1", "status": "Active", "roles": [LEARNER], "email": email}]
    Browser().launch(registered.begin("teacher-r", "staff"))
    [event] = [e for e in events_on_stream(services) if e["source"] == "xapi"]
    learner = learner_pseudonym(pseudonym_secret(services.redis, services.keys), registered.issuer, "quiet-1")
    assert (event["learner"], event["kind"], event["module"]) == (learner, "assessed", "m-quiz-foundations")
