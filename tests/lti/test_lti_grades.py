"""Grades out and results in (AGS) against Open edX's consumer: its token endpoint verifies the
tool's client assertion against the tool's JWKS; line items, scores and results are served by
the test platform."""

from __future__ import annotations

import dataclasses
import threading
import time

from edx_platform import Browser, LoopbackServer

from lms_helpers import cli_env, events_on_stream
from lti_tool import create_app
from lti_tool.grades import GradeTarget, ScoreJob
from skillgap.cli import main


def test_a_learner_launch_posts_progress_to_the_line_item(tool_server, registered):
    Browser().launch(registered.begin("student-a", custom={"skillgap_role": "risk-analyst"}))
    [job] = tool_server.tool.scores.pending()
    assert (job.lineitem, job.user_id) == (registered.lineitem_url, "student-a")
    assert tool_server.tool.scores.post_due() == (1, 0)
    [(lineitem, score)] = registered.scores
    assert lineitem == registered.lineitem_url
    assert score["userId"] == "student-a" and score["scoreMaximum"] == 100.0
    assert 0 < score["scoreGiven"] < 100 and score["activityProgress"] == "InProgress"
    assert score["gradingProgress"] == "FullyGraded" and score["timestamp"].endswith("Z")
    assert tool_server.tool.scores.pending() == []


def test_a_failed_post_is_retried_with_backoff_and_never_lost(tool_server, registered):
    registered.fail_scores = 2
    Browser().launch(registered.begin("student-b"))
    scores = tool_server.tool.scores
    now = time.time()
    assert scores.post_due(now=now) == (0, 1)
    [job] = scores.pending()
    assert job.attempts == 1 and "503" in job.error
    assert scores.post_due(now=now + 0.5) == (0, 0)  # not due yet: base 2 s, with jitter
    assert scores.post_due(now=now + 10) == (0, 1)
    assert scores.pending()[0].attempts == 2
    assert scores.post_due(now=now + 10 + 1) == (0, 0)  # backoff doubled
    assert scores.post_due(now=now + 30) == (1, 0)
    [(_, score)] = registered.scores
    assert (
        score["userId"] == "student-b" and score["timestamp"] == ScoreJob(**dataclasses.asdict(job)).body()["timestamp"]
    )


def test_access_tokens_are_cached_until_they_expire(tool_server, registered):
    for user in ("student-c", "student-d", "student-e"):
        Browser().launch(registered.begin(user))
    assert tool_server.tool.scores.post_due() == (3, 0)
    assert registered.token_requests == 1
    [key] = tool_server.services.redis.keys(f"{tool_server.services.keys.prefix}:lti:access-token:*")
    assert 3500 < tool_server.services.redis.ttl(key) <= 3570  # expires_in 3600 less a margin


def test_a_newer_score_replaces_an_unsent_one(tool_server, registered):
    scores = tool_server.tool.scores
    target = GradeTarget("acme", "u-1", registered.issuer, registered.client_id, registered.lineitem_url, "student-f")
    now = time.time()
    assert scores.remember(target, 0.25, now)
    assert scores.remember(target, 0.5, now + 1)
    assert not scores.remember(target, 0.5, now + 2)  # unchanged: nothing new to post
    assert len(scores.pending()) == 1
    assert scores.post_due(now=now + 2) == (1, 0)
    [(_, score)] = registered.scores
    assert score["scoreGiven"] == 50.0


def test_progress_changes_are_pushed_after_the_worker_applies_events(tool_server, registered, capsys, monkeypatch):
    Browser().launch(registered.begin("student-g"))  # the widget
    assert tool_server.tool.scores.post_due() == (1, 0)
    module_item = registered.add_line_item(
        {
            "label": "Prompt engineering basics",
            "scoreMaximum": 100,
            "resourceId": "m-prompt-basics",
            "tag": "m-prompt-basics",
            "resourceLinkId": "rl-2",
        }
    )
    Browser().launch(
        registered.begin(
            "student-g", resource_link="rl-2", custom={"skillgap_module": "m-prompt-basics"}, lineitem=module_item["id"]
        )
    )
    assert tool_server.tool.scores.post_due() == (0, 0)  # a module's link: its column is the LMS's
    tool_server.drain()  # the viewed event raises mastery
    settings = tool_server.services.settings
    cli_env(
        monkeypatch,
        settings,
        SKILLGAP_ALLOW_PRIVATE_NETWORK="1",
        SKILLGAP_OUTBOUND_HTTP_HOSTS="127.0.0.1",
    )
    assert main(["ags", "push"]) == 0
    assert "queued 1 changed scores; posted 1, failed 0" in capsys.readouterr().out
    assert [lineitem for lineitem, _ in registered.scores] == [registered.lineitem_url] * 2
    first, second = (score["scoreGiven"] for _, score in registered.scores)
    assert second > first


def test_the_tool_never_grades_a_module_item_nor_reads_its_own_scores_back(tool_server, registered):
    """Issue 16: a learner who opened a deep-linked module got a SkillGap progress score in that
    module's column, which the next teacher launch read back as a grade of the module."""
    module_item = registered.add_line_item(
        {
            "label": "How large language models work",
            "scoreMaximum": 100,
            "resourceId": "m-llm-intro",
            "tag": "m-llm-intro",
            "resourceLinkId": "rl-3",
        }
    )
    Browser().launch(
        registered.begin(
            "student-k", resource_link="rl-3", custom={"skillgap_module": "m-llm-intro"}, lineitem=module_item["id"]
        )
    )
    assert tool_server.tool.scores.post_due() == (0, 0) and registered.scores == []
    # A line item the tool posts to (as an older version did into module items) is never read back.
    scores = tool_server.tool.scores
    scores.remember(
        GradeTarget("acme", "u-k", registered.issuer, registered.client_id, module_item["id"], "student-k"),
        0.2313,
        time.time(),
    )
    registered.results[module_item["id"]] = [
        {"id": "r1", "scoreOf": module_item["id"], "userId": "student-k", "resultScore": 23.13, "resultMaximum": 100}
    ]
    page = Browser().launch(registered.begin("teacher-k", "staff")).text
    assert "grades read from the LMS gradebook" not in page
    assert [e for e in events_on_stream(tool_server.services) if e["source"] == "ags"] == []


def test_a_widget_without_a_line_item_claim_finds_its_progress_item_by_tag_and_resource(tool_server, registered):
    for _ in range(2):
        Browser().launch(registered.begin("student-l", lineitem=None))
    progress = [item for item in registered.line_items.values() if item.get("tag") == "skillgap-progress"]
    assert len(progress) == 1  # created once, found by tag, resource id and resource link after
    assert progress[0]["resourceId"] == "skillgap-progress" and progress[0]["resourceLinkId"] == "rl-1"
    assert tool_server.tool.scores.post_due() == (1, 0)
    assert [lineitem for lineitem, _ in registered.scores] == [progress[0]["id"]]


def test_one_line_item_per_knowledge_point_when_enabled(lti_services, registered, tool_server):
    services = lti_services.with_settings(ags_point_lineitems=True)
    # Serve the tool with the setting on, on its own port, for this platform.
    server = LoopbackServer(create_app(services=services))
    tool = server.server.app.extensions["lti"]
    try:
        registered.tool_url = server.url
        Browser().launch(registered.begin("student-j", custom={"skillgap_role": "customer-service-agent"}))
    finally:
        server.close()
    catalog = services.catalog
    role = catalog.roles[catalog.role_index["customer-service-agent"]]
    wanted = {point for point, target in role.targets.items() if target > 0}
    tagged = {item["tag"]: item for item in registered.line_items.values() if item.get("tag")}
    assert set(tagged) == wanted
    assert all(item["resourceLinkId"] == "rl-1" and item["scoreMaximum"] == 100.0 for item in tagged.values())
    assert len(tool.scores.pending()) == 1 + len(wanted)


def test_the_score_poster_runs_until_stopped(tool_server):
    scores = tool_server.tool.scores
    assert scores.run(burst=True) is False  # nothing due: returns at once
    poster = threading.Thread(target=scores.run, kwargs={"poll_s": 30.0})
    poster.start()
    scores.stop()
    poster.join(timeout=10)
    assert not poster.is_alive()
