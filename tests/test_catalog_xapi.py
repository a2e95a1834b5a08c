"""The catalog's xAPI mapping: activity ids and verbs per module, the verb table, and the
problems `skillgap catalog check` reports for them."""

from __future__ import annotations

from core.catalog import check_catalog
from core.catalog.activities import ActivityMatcher
from core.catalog.model import DEFAULT_XAPI_VERBS
from test_catalog_check import META, MODULES, problems_of, write_catalog

QUIZ_MODULE = """\
[[modules]]
id = "m-quiz"
title = { en = "Quiz", zh = "测验" }
method = "quiz"
minutes = 10
coverage = { basics = 1.0 }
url = "https://moodle.example.com/mod/quiz/view.php?id=7"
xapi_activities = ["https://openedx.example.com/xblock/block-v1:Org+Q1+*", "https://lrs.example.com/quiz/7"]
xapi_verbs = ["http://adlnet.gov/expapi/verbs/scored"]
"""


def test_modules_claim_activities_by_url_exact_id_and_pattern(tmp_path):
    catalog, problems = check_catalog(write_catalog(tmp_path, modules=MODULES + QUIZ_MODULE))
    assert problems == []
    quiz = catalog.modules[catalog.module_index["m-quiz"]]
    assert quiz.xapi_verbs == ("http://adlnet.gov/expapi/verbs/scored",)
    matcher = ActivityMatcher(catalog)
    assert matcher.module_for("https://moodle.example.com/mod/quiz/view.php?id=7") == "m-quiz"
    assert matcher.module_for("https://moodle.example.com/mod/quiz/view.php?id=70") is None
    assert matcher.module_for("https://lrs.example.com/quiz/7/") == "m-quiz"
    assert matcher.module_for("https://openedx.example.com/xblock/block-v1:Org+Q1+run+type@problem+block@a") == "m-quiz"
    assert matcher.module_for("https://openedx.example.com/xblock/block-v1:Org+Q10") is None
    assert dict(catalog.xapi_verbs) == dict(DEFAULT_XAPI_VERBS)


def test_the_verb_table_adds_overrides_and_ignores(tmp_path):
    meta = (
        META
        + """
[xapi.verbs]
"https://example.com/verbs/practised" = "completed"
"http://adlnet.gov/expapi/verbs/attempted" = "ignore"
"http://adlnet.gov/expapi/verbs/answered" = "graded"
"""
    )
    catalog, problems = check_catalog(write_catalog(tmp_path, catalog=meta))
    assert problems == []
    assert catalog.xapi_verbs["https://example.com/verbs/practised"] == "completed"
    assert "http://adlnet.gov/expapi/verbs/attempted" not in catalog.xapi_verbs
    assert catalog.xapi_verbs["http://adlnet.gov/expapi/verbs/answered"] == "graded"


def test_a_bad_verb_kind_and_a_verb_that_is_no_iri_are_reported(tmp_path):
    meta = META + '[xapi.verbs]\n"http://adlnet.gov/expapi/verbs/scored" = "mastered"\n"scored" = "graded"\n'
    problems = problems_of(write_catalog(tmp_path, catalog=meta))
    assert any("kind 'mastered' must be one of" in p for p in problems)
    assert any("verbs.'scored'" in p and "not an absolute IRI" in p for p in problems)


def test_an_activity_that_is_no_iri_and_an_unknown_module_verb_are_reported(tmp_path):
    module = QUIZ_MODULE.replace('"https://lrs.example.com/quiz/7"', '"quiz 7"').replace(
        "verbs/scored", "verbs/mastered"
    )
    problems = problems_of(write_catalog(tmp_path, modules=MODULES + module))
    assert any("xapi_activities[1]" in p and "'quiz 7' is not an absolute IRI" in p for p in problems)
    assert any("xapi_verbs[0]" in p and "is not in the [xapi.verbs] table" in p for p in problems)
    assert all("modules.toml:" in p for p in problems if "xapi_" in p)  # file and line of the module
