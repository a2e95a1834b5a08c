"""Mandatory modules end to end on a real Redis: events in -> workers -> each learner's
enrolment and completions in their stored value -> who is overdue or due soon (GET
/v1/overdue in JSON and CSV, `skillgap overdue`), and the filters' errors."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime

import pytest

from core.mandatory import SECONDS_PER_DAY, Status
from core.tokens import create_token
from lms_helpers import bearer, cli_env
from sidecar.worker import Worker
from skillgap.cli import main

DAY = SECONDS_PER_DAY
NOW = time.time()
PRIVACY, SAFETY = "m-privacy", "m-responsible-ai"  # the default catalog's: every role, within 30 days


def event(learner, module, kind, days_ago, cohort="course-a", score=None, **more):
    body = {"learner": learner, "module": module, "kind": kind, "timestamp": NOW - days_ago * DAY, "cohort": cohort}
    return {**body, **({"score": score} if score is not None else {}), **more}


def post(client, headers, events, services):
    response = client.post("/v1/events", json=events, headers=headers)
    assert response.status_code == 202, response.json
    assert Worker(services).run(burst=True)


@pytest.fixture
def cohort(client, headers, services):
    """u-late: enrolled 40.5 days ago, viewed the privacy module only (a view is not done);
    u-done: completed one and was graded on the other; u-soon: first seen 25.5 days ago
    (due in 4.5 days); u-hr: active 40 days ago, but HR says they started 2 days ago."""
    people = [
        {
            "person": "u-hr",
            "role": "risk-analyst",
            "start_date": datetime.fromtimestamp(NOW - 2 * DAY, UTC).date().isoformat(),
        }
    ]
    assert client.post("/v1/people", json=people, headers=headers).status_code == 202
    post(
        client,
        headers,
        [
            event("u-late", "m-llm-intro", "viewed", 40.5),
            event("u-late", PRIVACY, "viewed", 1),
            event("u-done", "m-llm-intro", "viewed", 40),
            event("u-done", PRIVACY, "completed", 3),
            event("u-done", SAFETY, "graded", 2, score=0.3),
            event("u-soon", "m-llm-intro", "viewed", 25.5, cohort="course-b"),
            event("u-hr", "m-llm-intro", "viewed", 40, cohort="course-b"),
        ],
        services,
    )


def test_the_workers_keep_enrolment_and_completions_in_the_learners_value(cohort, services):
    store = services.learners
    late, done, hr = (store.get("acme", learner) for learner in ("u-late", "u-done", "u-hr"))
    assert late.first_seen == pytest.approx(NOW - 40.5 * DAY) and late.done == {}
    assert done.done == {PRIVACY: pytest.approx(NOW - 3 * DAY), SAFETY: pytest.approx(NOW - 2 * DAY)}
    assert hr.first_seen == pytest.approx(NOW - 40 * DAY)
    assert (
        hr.start
        == datetime.fromisoformat(
            datetime.fromtimestamp(NOW - 2 * DAY, UTC).date().isoformat() + "T00:00:00+00:00"
        ).timestamp()
    )
    states = {(s.module, s.state, s.days) for s in store.mandatory(late, NOW)}
    assert states == {(PRIVACY, "overdue", 11), (SAFETY, "overdue", 11)}
    assert {s.state for s in store.mandatory(done, NOW)} == {"done"}
    assert {s.state for s in store.mandatory(hr, NOW)} == {"due"}  # HR's start date comes first


def test_enrolment_is_the_earliest_event_whatever_the_order_they_arrive_in(client, headers, services):
    post(client, headers, [event("u-1", "m-llm-intro", "viewed", 3)], services)
    post(client, headers, [event("u-1", "m-llm-intro", "viewed", 12), event("u-1", PRIVACY, "completed", 5)], services)
    post(client, headers, [event("u-1", PRIVACY, "completed", 1)], services)  # done again: the first counts
    record = services.learners.get("acme", "u-1")
    assert record.first_seen == pytest.approx(NOW - 12 * DAY)
    assert record.done == {PRIVACY: pytest.approx(NOW - 5 * DAY)}
    (safety,) = [s for s in services.learners.mandatory(record, NOW) if s.module == SAFETY]
    assert (safety.state, safety.days) == ("due", 18)


def test_who_is_overdue_or_due_soon_per_cohort_and_role(cohort, client, headers):
    report = client.get("/v1/overdue", headers=headers).json
    assert (report["learners"], report["within_days"], report["overdue"], report["due_soon"]) == (4, 7, 2, 2)
    assert [(r["learner"], r["module"], r["status"], r["days"]) for r in report["rows"]] == [
        ("u-late", PRIVACY, "overdue", 11),  # days begun since it was due
        ("u-late", SAFETY, "overdue", 11),
        ("u-soon", PRIVACY, "due", 5),
        ("u-soon", SAFETY, "due", 5),
    ]
    assert report["rows"][0]["title"] == "Data privacy and compliance for generative AI"
    by_cohort = {row["cohort"]: row for row in report["by_cohort"]}
    assert by_cohort["course-a"] == {"cohort": "course-a", "learners": 2, "overdue": 1, "due_soon": 0}
    assert by_cohort["course-b"] == {"cohort": "course-b", "learners": 2, "overdue": 0, "due_soon": 1}
    by_role = {row["role"]: row for row in report["by_role"]}
    assert by_role["risk-analyst"] == {"role": "risk-analyst", "learners": 1, "overdue": 0, "due_soon": 0}

    assert [r["learner"] for r in client.get("/v1/overdue?within_days=0", headers=headers).json["rows"]] == [
        "u-late"
    ] * 2
    wide = client.get("/v1/overdue?within_days=30&role=risk-analyst&lang=zh", headers=headers).json
    assert [(r["learner"], r["status"], r["days"]) for r in wide["rows"]] == [("u-hr", "due", 28)] * 2
    assert wide["rows"][0]["title"] == "生成式AI的数据隐私与合规"
    only_b = client.get("/v1/overdue?cohort=course-b", headers=headers).json
    assert only_b["learners"] == 2 and {r["learner"] for r in only_b["rows"]} == {"u-soon"}

    response = client.get("/v1/overdue?format=csv&cohort=course-a", headers=headers)
    assert response.mimetype == "text/csv"
    assert 'filename="overdue-course-a-all-roles-7d.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["learner"], r["module"], r["status"], r["days"], r["cohorts"]) for r in rows] == [
        ("u-late", PRIVACY, "overdue", "11", "course-a"),
        ("u-late", SAFETY, "overdue", "11", "course-a"),
    ]


def test_another_tenant_sees_none_of_it(cohort, client, services):
    other = bearer(create_token(services.redis, services.keys, "globex"))
    report = client.get("/v1/overdue", headers=other).json
    assert report["learners"] == 0 and report["rows"] == []
    assert client.get("/v1/overdue?cohort=course-a", headers=other).status_code == 404
    assert client.get("/v1/overdue").status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("cohort=%01bad", 400, "cohort"),
        ("cohort=" + "x" * 129, 400, "cohort"),
        ("cohort=no-such-course", 404, "cohort"),
        ("role=no-such-role", 400, "role"),
        ("role=", 400, "role"),
        ("within_days=abc", 400, "within_days"),
        ("within_days=-1", 400, "within_days"),
        ("within_days=1.5", 400, "within_days"),
        ("within_days=3651", 400, "within_days"),
        ("within_days=", 400, "within_days"),
        ("format=xml", 400, "format"),
        ("lang=fr", 400, "lang"),
    ],
)
def test_bad_filters_are_json_errors_naming_the_field(cohort, client, headers, query, status, field):
    response = client.get(f"/v1/overdue?{query}", headers=headers)
    assert response.status_code == status
    assert response.json["error"]["field"] == field


def test_skillgap_overdue(cohort, services, settings, monkeypatch, capsys):
    cli_env(monkeypatch, settings)
    assert main(["overdue", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "4 learner(s) checked; 2 overdue, 2 due within 7 day(s)" in out
    assert f"u-late  all-staff  {PRIVACY}" in out and "11 day(s) overdue" in out and "due in 5 day(s)" in out
    assert main(["overdue", "--tenant", "acme", "--role", "risk-analyst", "--within-days", "30", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["learner"], r["status"]) for r in rows] == [("u-hr", "due")] * 2
    for args, message in [
        (["--within-days", "soon"], "within_days: must be a whole number"),
        (["--role", "pilot"], "role: unknown role 'pilot'"),
        (["--cohort", "nowhere"], "cohort: no cohort 'nowhere' in this tenant"),
    ]:
        assert main(["overdue", "--tenant", "acme", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_the_dashboards_overdue_page(cohort, client, headers):
    assert client.get("/overdue").status_code == 302  # signed out: to the sign-in page
    page = client.get("/").get_data(as_text=True)
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    client.post("/sign-in", data={"token": headers["Authorization"].split()[1], "csrf": csrf})
    overview = client.get("/").get_data(as_text=True)
    assert 'href="/overdue"' in overview and "Mandatory modules: who is overdue or due soon" in overview

    page = client.get("/overdue").get_data(as_text=True)
    rows = re.findall(
        r'<tr class="overdue-row (\w+)"><td><a href="/learners/([^"]+)">.*?</td><td>([^<]*)</td></tr>', page
    )
    assert rows == [
        ("overdue", "u-late", "11 day(s) overdue"),
        ("overdue", "u-late", "11 day(s) overdue"),
        ("due", "u-soon", "due in 5 day(s)"),
        ("due", "u-soon", "due in 5 day(s)"),
    ]
    assert "Data privacy and compliance for generative AI" in page
    wide = client.get("/overdue?role=risk-analyst&within_days=30&lang=zh").get_data(as_text=True)
    assert re.findall(r'<tr class="overdue-row (\w+)"><td><a href="/learners/([^"]+)">', wide) == [("due", "u-hr")] * 2
    assert "必修模块：已逾期与即将到期" in wide and "还剩 28 天" in wide

    download = client.get("/overdue.csv?cohort=course-b&within_days=30")
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert sorted({(r["learner"], r["status"]) for r in rows}) == [("u-hr", "due"), ("u-soon", "due")]
    assert client.get("/overdue?role=nobody").status_code == 400
    assert client.get("/overdue?within_days=-3").status_code == 400
    missing = client.get("/overdue.csv?cohort=elsewhere")
    assert missing.status_code == 404 and "text/html" in missing.content_type  # the dashboard's page, not a trace


def test_a_replay_rebuilds_the_same_enrolments_start_dates_and_completions(cohort, services):
    from sidecar.replay import replay

    learners = ("u-late", "u-done", "u-soon", "u-hr")
    live = {r.learner: (r.first_seen, r.start, r.done) for r in services.learners.get_many("acme", list(learners))}
    assert live["u-hr"][1] is not None and live["u-done"][2]
    for learner in learners:  # forget them: only the log can bring them back
        services.redis.delete(services.learners.key("acme", learner))
    replay(services, progress=lambda line: None)
    again = {r.learner: (r.first_seen, r.start, r.done) for r in services.learners.get_many("acme", list(learners))}
    assert again == live


def test_a_recommended_mandatory_module_says_so_with_its_due_date(cohort, services):
    from core.explain import render

    store, catalog = services.learners, services.catalog
    record = store.get("acme", "u-late")
    record.ranking = {  # a plan with a mandatory module (even one that closes nothing) and another
        "module": [SAFETY, "m-prompt-basics"],
        "action": ["learn", "learn"],
        "gain": [0.0, 0.1],
        "per_minute": [0.0, 0.002],
        "information": [0.0, 0.0],
    }
    due = datetime.fromtimestamp(record.first_seen + 30 * DAY, UTC).date().isoformat()
    safety, prompts = store.explain(record)
    assert safety["mandatory_due"] == due and "mandatory_due" not in prompts
    assert render(safety, catalog)["reason"].startswith(f"Mandatory for your role: due {due}.")
    assert render(safety, catalog, "zh")["reason"].startswith(f"岗位必修，{due} 截止。")
    assert not render(prompts, catalog)["reason"].startswith("Mandatory")
    done = store.get("acme", "u-done")
    done.ranking = {**record.ranking, "module": [PRIVACY, SAFETY]}
    assert all("mandatory_due" not in item for item in store.explain(done))  # completed: no longer due


def test_the_workers_rank_mandatory_modules_first_as_their_date_nears(cohort, client, headers, services):
    """Ranked as of each learner's latest event (replay reproduces it): u-late's was a day ago,
    both modules overdue then; u-soon's 25.5 days ago, both due in 4.5 days, outside the
    14-day window then; its next event (a launch records one) re-ranks it as of now."""

    def plan(learner):
        ranking = services.learners.get("acme", learner).ranking
        return list(zip(ranking["module"], ranking["action"]))

    assert set(plan("u-late")[:2]) == {(PRIVACY, "mandatory"), (SAFETY, "mandatory")}
    assert all(action != "mandatory" for _, action in plan("u-late")[2:])
    assert all(action != "mandatory" for _, action in plan("u-done") + plan("u-soon") + plan("u-hr"))
    post(client, headers, [event("u-soon", "m-llm-intro", "viewed", 0, cohort="course-b")], services)
    assert set(plan("u-soon")[:2]) == {(PRIVACY, "mandatory"), (SAFETY, "mandatory")}
    post(client, headers, [event("u-soon", PRIVACY, "completed", 0, cohort="course-b")], services)
    assert plan("u-soon")[0] == (SAFETY, "mandatory") and (PRIVACY, "mandatory") not in plan("u-soon")
    reason = client.get("/v1/learners/u-soon/recommendations", headers=headers).json["recommendations"][0]["reason"]
    assert reason.startswith("Mandatory for your role: due ")


def test_the_overdue_csv_cannot_smuggle_a_formula_into_a_spreadsheet(client, headers, services):
    post(client, headers, [event("u-x", "m-llm-intro", "viewed", 40.5, cohort='=HYPERLINK("http://x")')], services)
    text = client.get("/v1/overdue?format=csv", headers=headers).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(row["cohorts"] == '\'=HYPERLINK("http://x")' for row in rows)


def test_a_due_time_past_the_calendar_still_has_a_day():
    # a start date stored before start dates were checked (year 9999) must not fail the pages
    assert Status("m-privacy", 1e13, None, 1.7e9).due_day == "9999-12-31"
    assert Status("m-privacy", -1e13, None, 1.7e9).due_day == "0001-01-01"
