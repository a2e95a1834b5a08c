"""The cost plan through the analyst API, the dashboard and `skillgap plan`, on learners the
workers built from events in the real Redis."""

from __future__ import annotations

import csv
import io
import re
import time
from xml.etree import ElementTree

import numpy as np
import orjson
import pytest

from core.catalog.model import METHODS
from core.plan import POLICIES
from core.tokens import create_token
from lms_helpers import bearer, first_quiz
from sidecar.api import create_app
from sidecar.worker import Worker
from skillgap.cli import main

ROLES = ("risk-analyst", "customer-service-agent")


@pytest.fixture
def loaded(app, services, token):
    """Six learners of two roles: four in course-a (one of them at target everywhere through a
    long history), two in course-b; and one of another tenant."""
    catalog = services.catalog
    quiz = first_quiz(catalog).id
    now = time.time()
    events = []
    for i in range(6):
        events.append(
            {
                "learner": f"u-{i}",
                "module": quiz,
                "kind": "graded",
                "score": 0.2 * (i % 3),
                "timestamp": now - 3600 * (i + 1),
                "cohort": "course-a" if i < 4 else "course-b",
                "role": ROLES[i % 2],
            }
        )
    client = app.test_client()
    assert client.post("/v1/events", json=events, headers=bearer(token)).status_code == 202
    other = create_token(services.redis, services.keys, "other")
    stranger = {**events[0], "learner": "u-stranger", "cohort": "course-z"}
    assert client.post("/v1/events", json=stranger, headers=bearer(other)).status_code == 202
    Worker(services).run(burst=True)
    return client


def test_the_plan_covers_every_learner_by_role_and_cohort_with_bands(loaded, token, services):
    answer = loaded.get("/v1/plan", headers=bearer(token))
    assert answer.status_code == 200
    plan = answer.json
    assert plan["tenant"] == "acme"
    assert plan["bounds"]["learners_planned"] == plan["bounds"]["learners_matched"] == 6
    assert plan["bounds"]["truncated"] is False
    assert plan["bounds"]["minutes_per_week"] == services.settings.plan_minutes_per_week
    assert plan["bounds"]["paths_per_learner"] == services.settings.plan_draws + 1
    assert {row["learner"] for row in plan["by_learner"]} == {f"u-{i}" for i in range(6)}  # not u-stranger
    assert [row["role"] for row in plan["by_role"]] == sorted(ROLES)
    assert [(row["cohort"], row["learners"]) for row in plan["by_cohort"]] == [("course-a", 4), ("course-b", 2)]
    total = plan["total"]
    for policy in POLICIES:
        band = total[policy]["minutes"]
        assert band["p10"] <= band["median"] <= band["p90"]
        assert set(total[policy]["cost"]) == set(METHODS)
    # The cost by method adds up to the minutes (on the belief's mean).
    hours = sum(total["adaptive"]["cost"][m]["hours"]["expected"] for m in METHODS)
    assert hours * 60 == pytest.approx(
        total["adaptive"]["minutes"]["expected"], abs=len(METHODS) * 0.01 * 60
    )  # rounded
    assert total["adaptive"]["minutes"]["expected"] <= total["course_order"]["minutes"]["expected"]
    assert total["saved_minutes"]["expected"] > 0
    assert total["adaptive"]["stalled_share"] == 0 and total["adaptive"]["reached_share"] == 1
    for row in plan["by_learner"]:
        assert row["modules"] and all(m in services.catalog.module_index for m in row["modules"])
        expected = sum(services.catalog.modules[services.catalog.module_index[m]].minutes for m in row["modules"])
        assert row["adaptive"]["minutes"]["expected"] == pytest.approx(expected)


def test_a_cohort_filter_and_a_role_filter_filter(loaded, token):
    plan = loaded.get("/v1/plan?cohort=course-b", headers=bearer(token)).json
    assert plan["cohort"] == "course-b"
    assert {row["learner"] for row in plan["by_learner"]} == {"u-4", "u-5"}
    assert [row["cohort"] for row in plan["by_cohort"]] == ["course-b"]
    plan = loaded.get(f"/v1/plan?role={ROLES[0]}&cohort=course-a", headers=bearer(token)).json
    assert {row["learner"] for row in plan["by_learner"]} == {"u-0", "u-2"}
    assert [row["role"] for row in plan["by_role"]] == [ROLES[0]]


def test_filters_that_match_nobody_give_an_empty_plan(loaded, token):
    plan = loaded.get("/v1/plan?cohort=course-b&role=manager", headers=bearer(token)).json
    assert plan["bounds"]["learners_matched"] == 0 and plan["total"] is None
    assert plan["by_role"] == plan["by_cohort"] == plan["by_learner"] == []
    answer = loaded.get("/v1/plan?cohort=course-b&role=manager&format=csv&by=cohort", headers=bearer(token))
    assert answer.status_code == 200 and answer.get_data(as_text=True).startswith("cohort,learners,")


def test_more_minutes_a_week_means_fewer_weeks(loaded, token):
    slow = loaded.get("/v1/plan?minutes_per_week=60", headers=bearer(token)).json["total"]["adaptive"]
    fast = loaded.get("/v1/plan?minutes_per_week=600", headers=bearer(token)).json["total"]["adaptive"]
    assert fast["weeks_until_all"]["expected"] < slow["weeks_until_all"]["expected"]


def test_a_plan_past_its_learner_cap_says_so(services, token, loaded):
    capped = create_app(services=services.with_settings(plan_max_learners=4, plan_max_paths=12)).test_client()
    plan = capped.get("/v1/plan", headers=bearer(token)).json
    assert plan["bounds"] == {
        **plan["bounds"],
        "learners_matched": 6,
        "learners_planned": 4,
        "truncated": True,
        "paths_per_learner": 3,  # 12 paths for 4 learners: the mean and 2 draws
    }
    assert [row["learner"] for row in plan["by_learner"]] == ["u-0", "u-1", "u-2", "u-3"]


def test_a_tenant_with_no_learners_gets_an_empty_plan(app, services):
    empty = create_token(services.redis, services.keys, "empty")
    plan = app.test_client().get("/v1/plan", headers=bearer(empty)).json
    assert plan["total"] is None and plan["by_role"] == [] and plan["by_learner"] == []
    assert plan["bounds"]["learners_matched"] == 0


@pytest.mark.parametrize(
    ("by", "first"),
    [("role", "role"), ("cohort", "cohort"), ("learner", "learner")],
)
def test_the_csv_has_one_breakdown_with_named_columns(loaded, token, by, first):
    answer = loaded.get(f"/v1/plan?format=csv&by={by}", headers=bearer(token))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert f"plan-all-by-{by}.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows and list(rows[0])[0] == first
    for policy in POLICIES:
        assert {f"{policy}_minutes", f"{policy}_minutes_p10", f"{policy}_minutes_p90"} <= set(rows[0])
    if by == "learner":
        assert len(rows) == 6 and rows[0]["modules"]
    else:
        assert {f"adaptive_{m}_hours" for m in METHODS} <= set(rows[0]) and "saved_minutes" in rows[0]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("minutes_per_week=lots", 400, "minutes_per_week"),
        ("minutes_per_week=0", 400, "minutes_per_week"),
        ("minutes_per_week=-300", 400, "minutes_per_week"),
        ("minutes_per_week=1e9", 400, "minutes_per_week"),
        ("minutes_per_week=nan", 400, "minutes_per_week"),
        ("minutes_per_week=60_0", 400, "minutes_per_week"),
        ("minutes_per_week=%D9%A3%D9%A0%D9%A0", 400, "minutes_per_week"),
        ("role=astronaut", 400, "role"),
        ("cohort=" + "x" * 129, 400, "cohort"),
        ("cohort=bad%01cohort", 400, "cohort"),
        ("cohort=course-z", 404, "cohort"),  # another tenant's cohort
        ("format=xml", 400, "format"),
        ("by=department", 400, "by"),
    ],
)
def test_bad_parameters_get_a_json_error_naming_them(loaded, token, query, status, field):
    answer = loaded.get(f"/v1/plan?{query}", headers=bearer(token))
    assert answer.status_code == status
    assert answer.json["error"]["field"] == field and answer.json["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/plan", "/v1/overdue"])
def test_the_documents_role_is_one_of_the_catalogs(loaded, services, path):
    paths = loaded.get("/v1/openapi.json").json["paths"]
    (role,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "role"]
    assert role["schema"]["enum"] == [r.id for r in services.catalog.roles]


def test_the_plan_needs_a_token(loaded):
    assert loaded.get("/v1/plan").status_code == 401
    assert loaded.get("/v1/plan", headers=bearer("sgk_nobody")).status_code == 401


def test_the_dashboard_page_shows_the_plan_per_role_in_both_languages(loaded, token, services):
    page = loaded.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert loaded.post("/sign-in", data={"token": token, "csrf": csrf}).status_code == 303
    overview = loaded.get("/").get_data(as_text=True)
    assert 'href="/plan"' in overview
    english = loaded.get("/plan?lang=en").get_data(as_text=True)
    assert "Cost plan" in english
    chart = ElementTree.fromstring(re.search(r"<svg.*?</svg>", english, re.S).group(0))
    bars = chart.findall(".//{http://www.w3.org/2000/svg}g")
    assert len(bars) == 2 * len(ROLES)  # adaptive and course order per role, each with its band
    names = [services.catalog.roles[services.catalog.role_index[r]].name for r in ROLES]
    assert all(name.en in english for name in names)
    assert "data-define" in english  # exact definitions in tooltips
    chinese = loaded.get("/plan?lang=zh&cohort=course-b&minutes_per_week=120").get_data(as_text=True)
    assert "成本计划" in chinese and all(name.zh in chinese for name in names)
    assert "按培训方式的成本：课程顺序" in chinese and " 小时" in chinese  # both policies' cost by method
    assert loaded.get("/plan?minutes_per_week=nope").status_code == 400
    assert loaded.get("/plan?cohort=course-z").status_code == 404
    assert 'href="/plan.csv?by=learner&amp;cohort=course-b&amp;minutes_per_week=120"' in chinese
    download = loaded.get("/plan.csv?by=learner&cohort=course-b&minutes_per_week=120")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert {row["learner"] for row in csv.DictReader(io.StringIO(download.get_data(as_text=True)))} == {"u-4", "u-5"}
    assert loaded.get("/plan.csv?by=department").status_code == 400
    csrf = re.search(r'name="csrf" value="([^"]+)"', chinese).group(1)  # the signed-in session's
    assert loaded.post("/sign-out", data={"csrf": csrf}).status_code == 303
    assert loaded.get("/plan").status_code == 302 and loaded.get("/plan.csv").status_code == 302  # signed out


def test_the_cli_prints_the_plan_per_role_and_as_csv(loaded, settings, capsys):
    environment = {
        "SKILLGAP_KEY_PREFIX": settings.key_prefix,
        "REDIS_URL": settings.redis_url,
        "SKILLGAP_PARTITIONS": str(settings.partitions),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        assert main(["plan", "--tenant", "acme", "--minutes-per-week", "240"]) == 0
        out = capsys.readouterr().out
        assert "6 learner(s) at 240 training minutes a week" in out
        assert all(f"{role}:" in out for role in ROLES) and "course order" in out
        assert main(["plan", "--tenant", "acme", "--cohort", "course-b", "--format", "csv", "--by", "learner"]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert {row["learner"] for row in rows} == {"u-4", "u-5"}
        assert main(["plan", "--tenant", "acme", "--role", ROLES[1], "--format", "json"]) == 0
        plan = orjson.loads(capsys.readouterr().out)
        assert {row["role"] for row in plan["by_learner"]} == {ROLES[1]}
        for argv, message in (
            (["--role", "astronaut"], "no role 'astronaut'"),
            (["--minutes-per-week", "0"], "minutes_per_week must be between"),
            (["--cohort", "nowhere"], "no cohort 'nowhere'"),
        ):
            assert main(["plan", "--tenant", "acme", *argv]) == 2
            assert message in capsys.readouterr().err


def test_a_learner_already_at_target_needs_no_minutes(app, services, token):
    """Full marks on every module, three times over, put a learner above every target."""
    now = time.time()
    events = [
        {
            "learner": "u-top",
            "module": module.id,
            "kind": "graded",
            "score": 1.0,
            "timestamp": now - 600 + round_ * 100,
            "cohort": "course-top",
            "role": ROLES[1],
        }
        for round_ in range(3)
        for module in services.catalog.modules
    ]
    client = app.test_client()
    assert client.post("/v1/events", json=events, headers=bearer(token)).status_code == 202
    Worker(services).run(burst=True)
    mastery = client.get("/v1/learners/u-top/mastery", headers=bearer(token)).json
    assert all(point["gap"] == 0 for point in mastery["knowledge_points"])
    (row,) = client.get("/v1/plan?cohort=course-top", headers=bearer(token)).json["by_learner"]
    for policy in POLICIES:
        # On the belief's mean: nothing to take. A draw of the belief may fall short on a point
        # whose evidence is thin, and then needs a module or two: the band says so.
        assert row[policy]["minutes"]["expected"] == 0 and row[policy]["minutes"]["p10"] == 0
        assert row[policy]["reached_share"] == 1
    assert row["modules"] == []


@pytest.mark.parametrize(
    "override",
    [
        {"plan_max_learners": 0},
        {"plan_draws": 0},
        {"plan_horizon_minutes": 0.0},
        {"plan_horizon_minutes": 50_000.0},  # the paths' clocks would pass the epoch at 15 minutes a week
        {"plan_minutes_per_week": 5.0},
    ],
)
def test_plan_settings_out_of_range_are_refused_by_name(override):
    from core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=f"SKILLGAP_{next(iter(override)).upper()}"):
        Settings.load(override, environ={})


def test_the_adaptive_path_takes_the_mandatory_modules_as_the_workers_would(loaded, token, services):
    """The default catalog makes m-privacy and m-responsible-ai mandatory within 30 days of
    enrolment for every role: the learners just enrolled take both on the way, once their date
    comes within the workers' window (SKILLGAP_MANDATORY_WINDOW_DAYS) of the path's clock."""
    mandatory = {"m-privacy", "m-responsible-ai"}
    store = services.learners
    records = store.get_many("acme", [f"u-{i}" for i in range(6)], explain=False)
    due = store.due_for(records)
    assert {services.catalog.modules[q].id for q in np.flatnonzero(np.isfinite(due[0]))} == mandatory
    plan = loaded.get("/v1/plan", headers=bearer(token)).json
    per_week = plan["bounds"]["minutes_per_week"]
    minutes = {m.id: m.minutes for m in services.catalog.modules}
    window = services.settings.mandatory_window_days
    for row in plan["by_learner"]:
        modules = row["modules"]
        assert mandatory <= set(modules)
        # At the first choice made once a date is within the window (30 - window days in), the
        # path takes a mandatory module left, and the other one right after.
        days = np.cumsum([0.0] + [minutes[m] / per_week * 7 for m in modules])
        first = int(np.argmax(days >= 30 - window))
        left = [m for m in mandatory if m not in modules[:first]]
        assert set(modules[first : first + len(left)]) == set(left)
