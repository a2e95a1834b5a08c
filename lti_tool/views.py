"""The pages a launch shows: the learner's (next modules with reasons, mastery against target)
and the instructor's (the cohort's gap heatmap, the largest gaps, a CSV export). They read the
learner store and the gap report; nothing here computes mastery itself."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
from flask import Blueprint, Response, render_template

from lti_tool import claims as c
from lti_tool.activity import LaunchActivity
from lti_tool.errors import LaunchExpired, NotAllowed
from lti_tool.i18n import text
from lti_tool.sessions import LaunchSession
from lti_tool.web import tool
from core.explain import render
from core.learner_store import LearnerRecord
from core.reports import GapReport, gap_report

blueprint = Blueprint("views", __name__)


def _texts(language: str):
    return lambda key, **values: text(key, language, **values)


def learner_page(session: LaunchSession, activity: LaunchActivity, record: LearnerRecord) -> str:
    """`record`: the learner's, from `activity.launch_record`."""
    services = tool().services
    catalog, store = services.catalog, services.learners
    language = session.language
    role = catalog.roles[catalog.role_index[store.role_of(record)]]
    standing = store.standing([record], time.time())
    mastery, targets, gap = standing.mastery[0], standing.targets[0], standing.gap[0]
    points = sorted(
        (
            {
                "name": kp.name.get(language),
                "mastery": float(mastery[j]),
                "target": float(targets[j]),
                "gap": float(gap[j]),
            }
            for j, kp in enumerate(catalog.knowledge_points)
            if targets[j] > 0
        ),
        key=lambda p: -p["gap"],
    )
    opened = None
    if activity.module is not None:
        module = catalog.modules[catalog.module_index[activity.module]]
        covered = [catalog.knowledge_points[catalog.point_index[p]].name.get(language) for p in module.coverage]
        opened = {"title": module.title.get(language), "url": module.url, "points": covered}
    return render_template(
        "learner.html",
        t=_texts(language),
        language=language,
        role=role.name.get(language),
        recommendations=[render(item, catalog, language) for item in store.explain(record)],
        points=points,
        opened=opened,
    )


def _heatmap(report: GapReport, point_ids: list[str]) -> tuple[list[str], list[int], list[tuple[int, list[float]]]]:
    """Roles, their learner counts, and per relevant point the mean shortfall of each role."""
    roles = sorted(set(report.roles))
    shortfall = np.maximum(report.targets - report.mastery, 0.0)
    members = {role: [i for i, r in enumerate(report.roles) if r == role] for role in roles}
    rows = []
    for j in range(len(point_ids)):
        if not report.learners or report.targets[:, j].max() <= 0:
            continue
        rows.append((j, [float(shortfall[members[role], j].mean()) for role in roles]))
    return roles, [len(members[role]) for role in roles], rows


def instructor_page(launch_id: str, session: LaunchSession, notices: list) -> str:
    services = tool().services
    catalog, language = services.catalog, session.language
    report = gap_report(services.learners, session.tenant, session.cohort, time.time())
    point_ids = list(catalog.point_index)
    roles, counts, rows = _heatmap(report, point_ids)
    names = [kp.name.get(language) for kp in catalog.knowledge_points]
    largest = sorted(
        (p for p in report.by_point(point_ids) if p["loss"] > 0), key=lambda p: -p["loss"]
    )[:5]
    course = c.section(session.claims, c.CONTEXT)
    return render_template(
        "instructor.html",
        t=_texts(language),
        language=language,
        course=course.get("title") or course.get("label") or session.cohort or "",
        learners=len(report.learners),
        roles=[catalog.roles[catalog.role_index[r]].name.get(language) if r in catalog.role_index else r for r in roles],
        counts=counts,
        rows=[(names[j], cells) for j, cells in rows],
        largest=[{**p, "name": names[catalog.point_index[p["point"]]]} for p in largest],
        csv_url=f"/lti/launches/{launch_id}/gaps.csv",
        notices=notices,
    )


@blueprint.get("/lti/launches/<launch_id>/gaps.csv")
def gaps_csv(launch_id: str):
    session = tool().sessions.launch(launch_id)
    if session is None:
        raise LaunchExpired("this export link has expired; open the activity again")
    if not session.instructor:
        raise NotAllowed("only a course's instructors can export its gaps")
    services = tool().services
    report = gap_report(services.learners, session.tenant, session.cohort, time.time())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["learner", "role", "knowledge_point", "mastery", "target", "gap"])
    for i, learner in enumerate(report.learners):
        for j, point in enumerate(services.catalog.point_index):
            target = float(report.targets[i, j])
            if target <= 0:
                continue
            mastery = float(report.mastery[i, j])
            writer.writerow([learner, report.roles[i], point, f"{mastery:.4f}", f"{target:.4f}", f"{max(0.0, target - mastery):.4f}"])
    filename = f"skillgap-gaps-{(session.cohort or 'all').replace('@', '-').replace(':', '-')}.csv"
    return Response(out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
