"""Course (cohort) names, `<context id>@<platform host>`: short ones as they always were; long
ones are never cut, so no platform can name another platform's course by sending the cut name
as its own context id."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from edx_platform import Browser, EdxPlatform

from core.events import COHORT_PATTERN, MAX_COHORT_CHARS
from core.identity import course_cohort
from lti_tool.registrations import validate_registration
from lti_tool.xapi.mapping import context_id_of

LMS = "https://lms.example.com"
LONG_COURSE = "course-v1:Org+" + "C" * 110  # 124 characters: with its host, over the limit


def test_a_short_course_keeps_its_name():
    assert course_cohort(LMS, "course-v1:SkillGap+LLM101+2026") == "course-v1:SkillGap+LLM101+2026@lms.example.com"
    assert course_cohort(LMS, "7") == "7@lms.example.com"
    assert course_cohort(LMS, None) is None and course_cohort(LMS, "") is None


@pytest.mark.parametrize("length", [MAX_COHORT_CHARS - len("@lms.example.com") + 1, 128, 255, 5000])
def test_a_long_course_is_named_within_the_limit_ending_with_its_host(length):
    name = course_cohort(LMS, "c" * length)
    assert len(name) == MAX_COHORT_CHARS and COHORT_PATTERN.match(name)
    assert name.endswith("@lms.example.com") and name.startswith("ccc")


def test_long_courses_differing_only_at_their_end_get_different_names():
    start = "c" * 200
    assert course_cohort(LMS, start + "1") != course_cohort(LMS, start + "2")


VERY_LONG_COURSE = "course-v1:Org+" + "C" * 190  # over 128 characters on its own


@pytest.mark.parametrize(
    "activity", [f"{LMS}/course/view.php?id={VERY_LONG_COURSE}", f"{LMS}/course/{VERY_LONG_COURSE}/"]
)
def test_xapi_statements_name_a_long_course_as_its_launches_do(activity):
    # the course id an xAPI statement's context gives is the launch's context id, uncut
    assert course_cohort(LMS, context_id_of(activity)) == course_cohort(LMS, VERY_LONG_COURSE)


def test_another_platform_sending_the_cut_or_the_full_name_gets_its_own_course():
    victim = course_cohort(LMS, LONG_COURSE)
    cut = f"{LONG_COURSE}@lms.example.com"[:MAX_COHORT_CHARS]  # the name the course had before
    for forged in (cut, victim):
        assert course_cohort("https://other.example.org", forged) not in (victim, cut)


def test_a_host_too_long_to_name_whole_is_cut_and_marked_as_no_host():
    host = "h" * 120 + ".example.com"
    name = course_cohort(f"https://{host}", "x" * 40)
    assert len(name) == MAX_COHORT_CHARS and name.endswith("/")  # a host never holds "/"
    assert name != course_cohort(f"https://{host}", "x" * 41)


def test_a_platform_cannot_read_another_platforms_long_course_by_its_cut_name(tool_server, registered):
    """Two platforms of one tenant: the first's course has a long id; the second names its own
    course by the cut name the first's had, and its instructor must see none of the first's
    learners."""
    registered.context_id = LONG_COURSE
    assert Browser().launch(registered.begin("alice")).status_code == 200
    tool_server.drain()
    victim = course_cohort(registered.issuer, LONG_COURSE)
    services = tool_server.services
    assert len(services.learners.cohort_learners("acme", victim)) == 1

    other = EdxPlatform(tool_server.url)
    try:
        tool_server.tool.registrations.save(validate_registration(**other.registration(), tenant="acme"))
        assert urlsplit(other.issuer).netloc != urlsplit(registered.issuer).netloc
        old_cut_name = f"{LONG_COURSE}@{urlsplit(registered.issuer).netloc}"[:MAX_COHORT_CHARS]
        for forged in (old_cut_name, victim):
            other.context_id = forged
            page = Browser().launch(other.begin("mallory", "staff"))
            assert page.status_code == 200, page.text
            own = course_cohort(other.issuer, forged)
            assert own not in (victim, old_cut_name)
            assert services.learners.cohort_learners("acme", own) == []
            assert 'class="largest-gap"' not in page.text and "gaps.csv" not in page.text
    finally:
        other.close()
