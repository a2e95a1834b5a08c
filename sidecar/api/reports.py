"""Cohort gap reports: the loss L = sum max(0, T - K)^2 by knowledge point, role, cohort and
learner, as JSON or as CSV (one breakdown per CSV)."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from core.csv_export import attachment, csv_text
from core.people import departments
from core.reports import GapReport, gap_report
from sidecar.api.context import authenticate, known_cohort, learner_store, query_choice, services, tenant
from sidecar.api.learners import iso_time, language

BREAKDOWNS = ("point", "role", "department", "cohort", "learner")
FORMATS = ("json", "csv")

blueprint = Blueprint("reports", __name__)
blueprint.before_request(authenticate)


@blueprint.get("/cohorts")
def list_cohorts():
    return {"cohorts": learner_store().cohorts(tenant())}


@blueprint.get("/cohorts/<cohort>/gaps")
def cohort_gaps(cohort: str):
    return _respond(known_cohort(cohort))


@blueprint.get("/gaps")
def tenant_gaps():
    return _respond(None)


def _respond(cohort: str | None):
    output = query_choice("format", "json", FORMATS)
    breakdown = query_choice("by", "point", BREAKDOWNS)
    lang = language()
    now = time.time()
    report = gap_report(learner_store(), tenant(), cohort, now)
    tables = _tables(report, lang)
    if output == "csv":
        return _csv(tables[breakdown], f"gaps-{cohort or 'all'}-by-{breakdown}.csv")
    return {
        "tenant": report.tenant,
        "cohort": cohort,
        "as_of": iso_time(now),
        "learners": len(report.learners),
        "loss": round(report.loss.total, 6),
        "by_point": tables["point"],
        "by_role": tables["role"],
        "by_department": tables["department"],
        "by_cohort": tables["cohort"],
        "by_learner": tables["learner"],
    }


def _tables(report: GapReport, lang: str) -> dict[str, list[dict]]:
    catalog = services().catalog
    points = []
    for row in report.by_point(list(catalog.point_index)):
        kp = catalog.knowledge_points[catalog.point_index[row["point"]]]
        points.append({"point": row["point"], "name": kp.name.get(lang), **_rounded(row, skip=("point",))})
    return {
        "point": points,
        "role": [_rounded(row) for row in report.by_role()],
        "department": [_rounded(row) for row in report.by_department(report_departments(report))],
        "cohort": [_rounded(row) for row in report.by_cohort()],
        "learner": [_rounded(row) for row in report.by_learner()],
    }


def report_departments(report: GapReport) -> list[str]:
    """The report's learners' departments from HR (the dashboard shows the same breakdown)."""
    svc = services()
    return departments(svc.redis, svc.keys, report.tenant, report.learners)


def _rounded(row: dict, skip: tuple[str, ...] = ()) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items() if k not in skip}


def _csv(rows: list[dict], filename: str) -> Response:
    return csv_response(list(rows[0]) if rows else [], [list(row.values()) for row in rows], filename)


def csv_response(header: list[str], rows: list[list], filename: str) -> Response:
    """A CSV download (no header row when `header` is empty)."""
    response = Response(csv_text(header, rows) if header else "", mimetype="text/csv")
    response.headers["Content-Disposition"] = attachment(filename)
    return response
