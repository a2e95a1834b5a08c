"""The dashboard's cost plan page: per role, hours and weeks to target by the adaptive path
against course order, and the cost by method (the same plan as GET /v1/plan, core/plan.py),
with a CSV download. A page of the dashboard in its own file, as dashboard_overdue.py."""

from __future__ import annotations

import time

from flask import Blueprint, abort, g, request
from werkzeug.exceptions import HTTPException

from core.catalog.model import METHODS
from core.plan import BREAKDOWNS, CostPlan, PlanRequestError, cost_plan, minutes_per_week_of, plan_table
from sidecar.api import dashboard
from sidecar.api.charts import ACCENT, MUTED, banded_bar_pairs
from sidecar.api.context import services
from sidecar.api.dashboard_texts import text
from sidecar.api.reports import csv_response

blueprint = Blueprint("dashboard_plan", __name__, template_folder="templates")
blueprint.before_request(dashboard.require_session)
blueprint.errorhandler(HTTPException)(dashboard.page_error)


def _plan() -> CostPlan:
    """The plan for the page's cohort and minutes a week; a bad one is the dashboard's 404 or 400 page."""
    svc = services()
    cohort = dashboard._cohort_arg()
    try:
        per_week = minutes_per_week_of(request.args.get("minutes_per_week"), svc.settings.plan_minutes_per_week)
    except PlanRequestError:
        abort(400, text("plan_bad_minutes", dashboard._language()))
    return cost_plan(svc.learners, svc.settings, g.tenant, cohort, None, per_week, time.time())


@blueprint.get("/plan")
def page():
    result = _plan()
    catalog, language = services().catalog, dashboard._language()
    roles = [{**row, "name": dashboard._role_name(row["role"], catalog, language)} for row in result.by_role()]
    series = []
    for policy, colour in (("adaptive", ACCENT), ("course_order", MUTED)):
        bands = [row[policy]["minutes_per_learner"] for row in roles]
        hours = {name: [band[name] / 60 for band in bands] for name in ("median", "p10", "p90")}
        series.append((text(f"plan_series_{policy}", language), colour, hours["median"], hours["p10"], hours["p90"]))
    chart = banded_bar_pairs(
        [row["name"] for row in roles], series, text("plan_bar_title", language), text("plan_chart", language)
    )
    query = {k: v for k, v in (("cohort", result.cohort), ("minutes_per_week", f"{result.minutes_per_week:g}")) if v}
    return dashboard._page(
        "plan.html",
        bounds=result.bounds(),
        total=result.total(),
        roles=roles,
        chart=chart if roles else None,
        cohorts=dashboard._cohorts(),
        cohort=result.cohort,
        per_week=result.minutes_per_week,
        methods=METHODS,
        breakdowns=BREAKDOWNS,
        query=query,
    )


@blueprint.get("/plan.csv")
def download():
    by = request.args.get("by", "role")
    if by not in BREAKDOWNS:
        abort(400, text("plan_bad_by", dashboard._language()))
    result = _plan()
    header, rows = plan_table(result, by)
    return csv_response(header, rows, f"plan-{result.cohort or 'all'}-by-{by}.csv")
