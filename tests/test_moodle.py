"""Moodle web-service sync and catalog import, against a local stub answering with Moodle's
documented response shapes and error objects."""

from __future__ import annotations

import time

import pytest

from core.catalog import load_catalog
from core.identity import learner_pseudonym, pseudonym_secret
from core.services import build_services
from lms_helpers import cli_env, events_on_stream, register_moodle
from lti_tool.moodle.client import MoodleClient, MoodleError, flatten
from lti_tool.moodle.sync import MoodleSync, sync_tenant
from moodle_stub import (
    TOKEN,
    MoodleStub,
    completion_status,
    course_module,
    course_section,
    enrolled_user,
    grade_item,
    import_moodle_args,
    moodle_error,
    user_grades,
)
from sidecar.worker import Worker
from skillgap.cli import main
from test_catalog_check import META, POINTS, ROLES, write_catalog

COURSE = 12


@pytest.fixture
def stub():
    with MoodleStub() as server:
        yield server


@pytest.fixture
def services(settings, redis_client, stub, tmp_path):
    """A small catalog whose modules live on the stub Moodle: a quiz, a page and the course."""
    modules = f"""\
[[modules]]
id = "m-quiz"
title = {{ en = "Quiz", zh = "测验" }}
method = "quiz"
minutes = 10
coverage = {{ basics = 1.0 }}
url = "{stub.url}/mod/quiz/view.php?id=601"

[[modules]]
id = "m-page"
title = {{ en = "Reading", zh = "阅读" }}
method = "online"
minutes = 20
coverage = {{ basics = 0.5, advanced = 0.5 }}
url = "{stub.url}/mod/page/view.php?id=602"

[[modules]]
id = "m-course"
title = {{ en = "Whole course", zh = "整门课程" }}
method = "online"
minutes = 600
coverage = {{ advanced = 1.0 }}
url = "{stub.url}/course/view.php?id={COURSE}"
"""
    meta = META + "project = 0.45\noffline = 0.3\n"  # appended to its [methods]
    folder = write_catalog(tmp_path / "catalog", catalog=meta, knowledge_points=POINTS, roles=ROLES, modules=modules)
    return build_services(settings.replace(catalog_path=folder), redis_client)


def moodle_course(stub, quiz_raw=7.5, graded_at=1773100000):
    stub.answers["core_enrol_get_enrolled_users"] = [
        enrolled_user(42),
        enrolled_user(43),
        enrolled_user(9, "editingteacher"),
    ]
    stub.answers["gradereport_user_get_grade_items"] = {
        "usergrades": [
            user_grades(
                COURSE,
                42,
                [
                    grade_item(1, cmid=601, module="quiz", raw=quiz_raw, graded=graded_at),
                    grade_item(2, cmid=603, module="assign", raw=5.0, graded=graded_at),  # not in the catalog
                    grade_item(
                        3, cmid=None, module=None, raw=80.0, graded=graded_at, itemtype="course", grademax=100.0
                    ),
                ],
            ),
            user_grades(COURSE, 43, [grade_item(1, cmid=601, module="quiz", raw=None, graded=None)]),
        ],
        "warnings": [],
    }

    def completion(form):
        user = int(form["userid"])
        statuses = (
            [completion_status(602, "page", 1, 1773000000)]
            if user == 42
            else [completion_status(602, "page", 0, 0), completion_status(601, "quiz", 3, 1773000500)]
        )
        return {"statuses": statuses, "warnings": []}

    stub.answers["core_completion_get_activities_completion_status"] = completion


def sync(services, stub, tenant="acme"):
    return MoodleSync(services, MoodleClient(stub.url, TOKEN), tenant).sync([COURSE])


def test_grades_completions_and_enrolments_become_events_of_the_launching_learners(services, stub):
    moodle_course(stub)
    result = sync(services, stub)
    secret = pseudonym_secret(services.redis, services.keys)
    kim, lee = (learner_pseudonym(secret, stub.url, user) for user in ("42", "43"))  # = their LTI launches
    events = events_on_stream(services)
    summary = sorted((e["learner"] == kim, e["kind"], e.get("module"), e.get("score")) for e in events)
    assert summary == sorted(
        [
            (True, "enrolled", None, None),
            (False, "enrolled", None, None),
            (True, "graded", "m-quiz", 0.75),
            (True, "graded", "m-course", 0.8),
            (True, "completed", "m-page", None),  # user 43: the page is incomplete, the quiz complete-fail
        ]
    )
    assert {e["learner"] for e in events} == {kim, lee}  # the teacher is no learner
    assert {e["cohort"] for e in events} == {f"{COURSE}@{stub.url.split('//')[1]}"} and {
        e["source"] for e in events
    } == {"moodle"}
    assert result.events == 5 and result.unmapped == {f"{stub.url}/mod/assign/view.php?id=603"}
    # the grade's own time, not the sync's
    assert next(e["timestamp"] for e in events if e.get("module") == "m-quiz") == 1773100000
    Worker(services).run(burst=True)
    assert services.learners.get("acme", kim).events == 3


def test_a_second_sync_writes_only_what_changed(services, stub):
    moodle_course(stub)
    sync(services, stub)
    again = sync(services, stub)
    assert again.events == 0 and again.unchanged == 5
    moodle_course(stub, quiz_raw=9.0, graded_at=1773200000)  # regraded: the quiz, so the course total too
    third = sync(services, stub)
    assert third.events == 2 and third.unchanged == 3
    assert sorted(e.get("score") for e in events_on_stream(services) if e.get("module") == "m-quiz") == [0.75, 0.9]


def test_a_sync_that_lost_its_fingerprints_sends_the_same_event_ids_again(services, stub):
    """Events and fingerprints go in one pipeline; should the fingerprints be lost anyway, the
    events sent again carry the same ids, which the workers' processed-event marks drop."""
    moodle_course(stub)
    sync(services, stub)
    first = sorted(e["id"] for e in events_on_stream(services) if e["kind"] != "enrolled")
    services.redis.delete(*services.redis.keys(f"{services.keys.prefix}:moodle:*"))
    sync(services, stub)
    again = [e["id"] for e in events_on_stream(services) if e["kind"] != "enrolled"]
    assert sorted(again) == sorted(first * 2)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            moodle_error(
                "required_capability_exception",
                "nopermissions",
                "Sorry, but you do not currently have permissions to do that (View grades).",
            ),
            "may not call gradereport_user_get_grade_items: Sorry, but you do not currently have permissions",
        ),
        (
            moodle_error("webservice_access_exception", "accessexception", "Access control exception"),
            "does not include gradereport_user_get_grade_items",
        ),
        (
            moodle_error("require_login_exception", "requireloginerror", "Course or activity not accessible."),
            "cannot see that course",
        ),
        (
            moodle_error("invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected"),
            "refused the parameters of gradereport_user_get_grade_items",
        ),
    ],
    ids=["nopermissions", "accessexception", "requireloginerror", "invalidparameter"],
)
def test_moodle_errors_are_reported_in_plain_words(services, stub, answer, words):
    moodle_course(stub)
    stub.answers["gradereport_user_get_grade_items"] = answer
    with pytest.raises(MoodleError) as caught:
        sync(services, stub)
    assert words in str(caught.value) and caught.value.errorcode == answer["errorcode"]


def test_a_bad_token_is_explained_by_the_cli_without_a_traceback(services, stub, settings, capsys, monkeypatch):
    cli_env(monkeypatch, settings)
    code = main(["moodle", "sync", "--url", stub.url, "--token", "wrong", "--course", str(COURSE)])
    err = capsys.readouterr().err
    assert code == 2 and "Moodle does not accept this token" in err and "[invalidtoken]" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "words"),
    [("ftp://moodle", "is not a Moodle address"), ("http://127.0.0.1:9", "cannot reach Moodle")],
    ids=["not-http", "unreachable"],
)
def test_an_unreachable_moodle_is_explained(url, words):
    with pytest.raises(MoodleError, match=words):
        MoodleClient(url, TOKEN, timeout_s=2).call("core_webservice_get_site_info")


def test_a_function_missing_from_moodle_is_explained(stub):
    with pytest.raises(MoodleError, match="has no web-service function core_webservice_get_site_info"):
        MoodleClient(stub.url, TOKEN).call("core_webservice_get_site_info")


def test_parameters_use_moodles_form_encoding():
    assert flatten({"courseid": 2, "options": [{"name": "onlyactive", "value": True}]}) == {
        "courseid": "2",
        "options[0][name]": "onlyactive",
        "options[0][value]": "1",
    }


def test_catalog_import_writes_new_activities_for_tagging(services, stub, tmp_path, settings, monkeypatch, capsys):
    stub.answers["core_course_get_contents"] = [
        course_section(0, [course_module(stub.url, 601, "quiz", "Quiz"), course_module(stub.url, 700, "label", "x")]),
        course_section(
            1,
            [
                course_module(stub.url, 701, "assign", "Build a RAG bot"),
                course_module(stub.url, 702, "facetoface", 'Workshop: prompt clinic "live"'),
            ],
        ),
    ]
    cli_env(monkeypatch, settings, SKILLGAP_CATALOG_PATH=str(services.settings.catalog_path))
    output = tmp_path / "imported.toml"
    args = import_moodle_args(stub.url, COURSE, output)
    assert main(args) == 0
    assert "2 new module(s)" in capsys.readouterr().out  # the quiz is known, the label has no page
    text = output.read_text()
    assert f'url = "{stub.url}/mod/assign/view.php?id=701"' in text and 'method = "project"' in text
    assert 'method = "offline"' in text and '\\"live\\"' in text
    # once tagged, the entries load as catalog modules
    tagged = text.replace("coverage = { }", "coverage = { basics = 1.0 }")
    (services.settings.catalog_path / "imported.toml").write_text(tagged)
    catalog = load_catalog(services.settings.catalog_path)
    assert {"moodle-12-701-build-a-rag-bot", "moodle-12-702-workshop-prompt-clinic-live"} <= set(catalog.module_index)
    assert main(args) == 2  # the output exists: not overwritten without --force


def test_the_scheduled_sync_runs_until_stopped(services, stub):
    import threading

    from lti_tool.moodle.sync import run_scheduled_sync

    moodle_course(stub)
    settings = services.settings.replace(
        moodle_url=stub.url,
        moodle_token=TOKEN,
        moodle_courses=str(COURSE),
        moodle_tenant="acme",
        moodle_sync_interval_s=10.0,
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduled_sync, args=(build_services(settings, services.redis), stop))
    thread.start()
    try:
        for _ in range(100):
            if len(events_on_stream(services)) == 5:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert len(events_on_stream(services)) == 5 and not thread.is_alive()


def test_the_sidecar_runs_the_scheduled_sync_while_it_serves(services, stub, settings, monkeypatch):
    import threading

    import skillgap.run

    moodle_course(stub)
    cli_env(
        monkeypatch,
        settings,
        SKILLGAP_CATALOG_PATH=str(services.settings.catalog_path),
        SKILLGAP_MOODLE_URL=stub.url,
        SKILLGAP_MOODLE_TOKEN=TOKEN,
        SKILLGAP_MOODLE_COURSES=str(COURSE),
        SKILLGAP_MOODLE_TENANT="acme",
    )
    synced = []

    def serve_sidecar(settings, workers=None):  # the API and workers are not needed here
        for _ in range(100):
            if len(events_on_stream(services)) == 5:
                synced.append(True)
                break
            time.sleep(0.05)
        return 0

    monkeypatch.setattr(skillgap.run, "serve_sidecar", serve_sidecar)
    assert main(["sidecar"]) == 0
    assert synced and len(events_on_stream(services)) == 5
    assert not any(thread.name == "moodle-sync" for thread in threading.enumerate())  # stopped with it


@pytest.mark.parametrize(
    ("every", "interval"), [(["--every"], 42.0), (["--every", "7"], 7.0)], ids=["from-settings", "given"]
)
def test_sync_every_waits_the_given_or_the_configured_interval(services, stub, settings, monkeypatch, every, interval):
    import skillgap.commands.moodle

    moodle_course(stub)
    cli_env(monkeypatch, settings, SKILLGAP_MOODLE_SYNC_INTERVAL_S="42")
    waits = []

    class OneRound(Exception):
        pass

    def sleep(seconds):
        waits.append(seconds)
        raise OneRound

    monkeypatch.setattr(skillgap.commands.moodle.time, "sleep", sleep)
    with pytest.raises(OneRound):
        main(
            ["moodle", "sync", "--url", stub.url, "--token", TOKEN, "--course", str(COURSE), "--tenant", "acme", *every]
        )
    assert waits == [interval]


def test_the_moodle_client_of_the_cli_uses_the_configured_timeout():
    import argparse

    from core.settings import Settings
    from skillgap.commands.moodle import _client

    client = _client(
        argparse.Namespace(url="http://moodle.example", token="t"),
        Settings.load({"moodle_http_timeout_s": 7.5}, environ={}),
    )
    assert client.timeout_s == 7.5


def test_synced_events_go_to_the_set_tenant_else_to_the_registrations(services):
    site = "https://moodle.example.org"
    register_moodle(services, site, "moodle-co")
    assert sync_tenant(services, site) == "moodle-co"
    assert sync_tenant(services.with_settings(moodle_tenant="acme"), site) == "acme"
