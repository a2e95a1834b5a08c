"""GET /v1/plan: the cost plan (core/plan.py) as JSON, or one breakdown as CSV."""

from __future__ import annotations

import time

from flask import Blueprint, request

from core.plan import BREAKDOWNS, CostPlan, PlanRequestError, cost_plan, minutes_per_week_of, plan_table
from sidecar.api.context import authenticate, known_cohort, learner_store, query_choice, services, tenant
from sidecar.api.errors import InvalidRequest
from sidecar.api.learners import iso_time
from sidecar.api.reports import FORMATS, csv_response

blueprint = Blueprint("plan", __name__)
blueprint.before_request(authenticate)


def plan_of_request(tenant_id: str) -> CostPlan:
    """The plan the query asks for (cohort, role, minutes_per_week), checked: InvalidRequest or
    NotFound name the parameter (the dashboard reads the same query)."""
    svc = services()
    cohort = request.args.get("cohort") or None
    if cohort is not None:
        known_cohort(cohort)
    try:
        minutes_per_week = minutes_per_week_of(request.args.get("minutes_per_week"), svc.settings.plan_minutes_per_week)
        role = request.args.get("role") or None
        return cost_plan(learner_store(), svc.settings, tenant_id, cohort, role, minutes_per_week, time.time())
    except PlanRequestError as exc:
        raise InvalidRequest(exc.message, field=exc.field) from None


@blueprint.get("/plan")
def plan():
    output = query_choice("format", "json", FORMATS)
    breakdown = query_choice("by", "role", BREAKDOWNS)
    result = plan_of_request(tenant())
    if output == "csv":
        header, rows = plan_table(result, breakdown)
        return csv_response(header, rows, f"plan-{result.cohort or 'all'}-by-{breakdown}.csv")
    return plan_json(result)


def plan_json(result: CostPlan) -> dict:
    return {
        "tenant": result.tenant,
        "cohort": result.cohort,
        "role": result.role,
        "as_of": iso_time(result.as_of),
        "bounds": result.bounds(),
        "total": result.total(),
        "by_role": result.by_role(),
        "by_cohort": result.by_cohort(),
        "by_learner": result.by_learner(),
    }
