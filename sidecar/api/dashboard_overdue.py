"""The dashboard's overdue page: who is overdue or due soon on a mandatory module, per cohort
and role, with a CSV download (the same report as GET /v1/overdue, core/overdue.py). A page of
the dashboard kept in its own file: its session, language and page frame are the dashboard's."""

from __future__ import annotations

import time

from flask import Blueprint, abort, g, request
from werkzeug.exceptions import HTTPException

from core.overdue import CSV_COLUMNS, DEFAULT_WITHIN_DAYS, FilterError, OverdueReport, csv_rows, overdue_report
from sidecar.api import dashboard
from sidecar.api.context import services
from sidecar.api.dashboard_texts import text
from sidecar.api.reports import csv_response

blueprint = Blueprint("dashboard_overdue", __name__, template_folder="templates")
blueprint.before_request(dashboard.require_session)
blueprint.errorhandler(HTTPException)(dashboard.page_error)


def _report() -> OverdueReport:
    """The report for the page's filters; a bad one is the dashboard's 404 or 400 page."""
    args = request.args
    language = dashboard._language()
    try:
        return overdue_report(
            services().learners,
            g.tenant,
            args.get("cohort") or None,
            args.get("role") or None,
            args.get("within_days") or DEFAULT_WITHIN_DAYS,
            time.time(),
            language,
        )
    except FilterError as exc:
        abort(404 if exc.missing else 400, text("not_found" if exc.missing else "bad_filter", language))


@blueprint.get("/overdue")
def page():
    report = _report()
    catalog, language = services().catalog, dashboard._language()
    role_name = {r.id: r.name.get(language) for r in catalog.roles}
    rows = [
        {
            **row,
            "role_name": role_name.get(row["role"], row["role"]),
            "status_text": text(f"status_{row['status']}", language, n=row["days"]),
        }
        for row in report.rows
    ]
    query = {k: v for k, v in (("cohort", report.cohort), ("role", report.role)) if v}
    return dashboard._page(
        "overdue.html",
        report=report,
        rows=rows,
        by_role=[{**group, "name": role_name.get(group["role"], group["role"])} for group in report.by_role],
        cohorts=dashboard._cohorts(),
        roles=[(r.id, r.name.get(language)) for r in catalog.roles],
        query={**query, "within_days": report.within_days},
    )


@blueprint.get("/overdue.csv")
def download():
    report = _report()
    name = "-".join(["overdue", report.cohort or "all", report.role or "all-roles", f"{report.within_days}d"])
    return csv_response(list(CSV_COLUMNS), csv_rows(report), f"{name}.csv")
