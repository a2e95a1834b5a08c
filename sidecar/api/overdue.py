"""GET /v1/overdue: who is overdue or due soon on a mandatory module, per cohort and role
(core/overdue.py), as JSON or CSV."""

from __future__ import annotations

import time

from flask import Blueprint, request

from core.overdue import CSV_COLUMNS, DEFAULT_WITHIN_DAYS, FilterError, csv_rows, overdue_report
from sidecar.api.context import authenticate, learner_store, query_choice, tenant
from sidecar.api.errors import InvalidRequest, NotFound
from sidecar.api.learners import iso_time, language
from sidecar.api.reports import FORMATS, csv_response

blueprint = Blueprint("overdue", __name__)
blueprint.before_request(authenticate)


@blueprint.get("/overdue")
def overdue():
    output = query_choice("format", "json", FORMATS)
    lang = language()
    try:
        report = overdue_report(
            learner_store(),
            tenant(),
            request.args.get("cohort"),
            request.args.get("role"),
            request.args.get("within_days", str(DEFAULT_WITHIN_DAYS)),
            time.time(),
            lang,
        )
    except FilterError as exc:
        raise (NotFound if exc.missing else InvalidRequest)(exc.message, field=exc.field) from None
    if output == "csv":
        name = "-".join(["overdue", report.cohort or "all", report.role or "all-roles", f"{report.within_days}d"])
        return csv_response(list(CSV_COLUMNS), csv_rows(report), f"{name}.csv")
    return {
        "tenant": report.tenant,
        "cohort": report.cohort,
        "role": report.role,
        "within_days": report.within_days,
        "as_of": iso_time(report.as_of),
        "learners": report.learners,
        "overdue": report.overdue,
        "due_soon": report.due_soon,
        "by_role": report.by_role,
        "by_cohort": report.by_cohort,
        "rows": report.rows,
    }
