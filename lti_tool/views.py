"""The pages a launch shows: the learner's (next modules with reasons, mastery against target)
and the instructor's (the cohort's gap heatmap, the largest gaps, a CSV export). They read the
learner store and the gap report; nothing here computes mastery itself."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, Response, render_template, request

from core.csv_export import attachment, csv_text
from core.explain import render
from core.learner_store import LearnerRecord
from core.reports import course_report
from lti_tool import claims as c
from lti_tool.activity import LaunchActivity
from lti_tool.course_binding import CourseItem, item_id, item_type, item_url
from lti_tool.errors import BadBinding, LaunchExpired, NotAllowed
from lti_tool.i18n import text
from lti_tool.sessions import BROWSER_COOKIE, LaunchSession
from lti_tool.web import tool

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
    in_course = tool().binding.by_module(session.tenant, session.cohort)
    opened = None
    if activity.module is not None:
        module = catalog.modules[catalog.module_index[activity.module]]
        opened = {"title": module.title.get(language), "points": _covered(module, language)}
    mandatory = []
    for status in store.mandatory(record, time.time()):
        module = catalog.modules[catalog.module_index[status.module]]
        mandatory.append(
            {
                "title": module.title.get(language),
                "state": status.state,
                "status": text(f"mandatory_{status.state}", language, date=status.due_day, n=status.days),
                **_where(status.module, session.cohort, in_course, language),
            }
        )
    recommendations = []
    for item in store.explain(record):
        rec = render(item, catalog, language)
        rec.update(_where(item["module"], session.cohort, in_course, language))
        recommendations.append(rec)
    return render_template(
        "learner.html",
        t=_texts(language),
        language=language,
        role=role.name.get(language),
        recommendations=recommendations,
        mandatory=mandatory,
        points=points,
        opened=opened,
    )


def _covered(module, language: str) -> list[str]:
    catalog = tool().services.catalog
    return [catalog.knowledge_points[catalog.point_index[p]].name.get(language) for p in module.coverage]


def _where(module_id: str, cohort: str | None, in_course: dict, language: str) -> dict:
    """Where a learner opens a recommended module: the item bound to it in their own course;
    without a course (a launch with no context), the catalog's URL. A course that lacks it says
    so, with what the module is."""
    item = in_course.get(module_id)
    if item is not None:
        return {"url": item.url or None, "missing": False}
    catalog = tool().services.catalog
    module = catalog.modules[catalog.module_index[module_id]] if module_id in catalog.module_index else None
    if cohort is None or module is None:
        return {}
    about = (
        module.description.get(language)
        if module.description
        else text("module_covers", language, points=", ".join(_covered(module, language)))
    )
    return {"url": None, "missing": True, "about": about}


def instructor_page(launch_id: str, session: LaunchSession, notices: list) -> str:
    services = tool().services
    catalog, language = services.catalog, session.language
    report = course_report(services.learners, session.tenant, session.cohort, time.time())
    point_ids = list(catalog.point_index)
    heat = report.role_shortfall()
    names = [kp.name.get(language) for kp in catalog.knowledge_points]
    largest = sorted((p for p in report.by_point(point_ids) if p["loss"] > 0), key=lambda p: -p["loss"])[:5]
    course = c.section(session.claims, c.CONTEXT)
    items = tool().binding.items(session.tenant, session.cohort)
    modules = [(m.id, m.title.get(language)) for m in catalog.modules]
    return render_template(
        "instructor.html",
        items=[
            {
                "item": i.item,
                "url": i.url,
                "title": i.title,
                "module": catalog.modules[catalog.module_index[i.module]].title.get(language)
                if i.module in catalog.module_index
                else i.module,
            }
            for i in items
        ],
        missing=_missing_modules([p["point"] for p in largest], {i.module for i in items}, language),
        modules=modules,
        binding_url=f"/lti/launches/{launch_id}/binding",
        has_course=session.cohort is not None,
        t=_texts(language),
        language=language,
        course=course.get("title") or course.get("label") or session.cohort or "",
        learners=len(report.learners),
        roles=[
            catalog.roles[catalog.role_index[r]].name.get(language) if r in catalog.role_index else r
            for r in heat.roles
        ],
        counts=heat.learners,
        rows=[(names[j], cells) for j, cells in zip(heat.points, heat.cells)],
        largest=[{**p, "name": names[catalog.point_index[p["point"]]]} for p in largest],
        csv_url=f"/lti/launches/{launch_id}/gaps.csv",
        notices=notices,
    )


def _missing_modules(points: list[str], bound: set[str], language: str, limit: int = 5) -> list[dict]:
    """Modules that train the largest gaps' points and that the course has no item of, the
    ones covering a point most first."""
    catalog = tool().services.catalog
    found: dict[str, dict] = {}
    for point in points:
        covering = sorted(
            (m for m in catalog.modules if m.coverage.get(point, 0) > 0 and m.id not in bound),
            key=lambda m: -m.coverage[point],
        )
        for module in covering[:2]:
            found.setdefault(
                module.id,
                {
                    "id": module.id,
                    "title": module.title.get(language),
                    "point": catalog.knowledge_points[catalog.point_index[point]].name.get(language),
                },
            )
    return list(found.values())[:limit]


def _instructor_session(launch_id: str) -> LaunchSession:
    session = tool().sessions.launch(launch_id, request.cookies.get(BROWSER_COOKIE))
    if session is None:
        raise LaunchExpired("this page has expired; open the activity again")
    if not session.instructor:
        raise NotAllowed("only a course's instructors can do this")
    return session


@blueprint.post("/lti/launches/<launch_id>/binding")
def change_binding(launch_id: str):
    """The teacher binds a course item to a module, or unbinds one (the instructor page's forms)."""
    session = _instructor_session(launch_id)
    if session.cohort is None:
        raise BadBinding("this launch names no course")
    binding = tool().binding
    item = item_id(request.form.get("item", "").strip())
    if request.form.get("action") == "unbind":
        if not binding.unbind(session.tenant, session.cohort, item):
            raise BadBinding(f"{item} is not bound in this course")
        notice = ("unbound", {"item": item})
    else:
        module = request.form.get("module", "")
        catalog = tool().services.catalog
        if module not in catalog.module_index:
            raise BadBinding(f"{module!r} is not a module of the catalog")
        if urlsplit(item).scheme not in ("http", "https") or urlsplit(item).netloc != urlsplit(session.issuer).netloc:
            raise BadBinding(f"{item!r} is not a link into this course's LMS ({urlsplit(session.issuer).netloc})")
        binding.bind(
            session.tenant, session.cohort, CourseItem(item, module, item_url(item), "", item_type(item), "teacher")
        )
        notice = (
            "bound",
            {"item": item, "module": catalog.modules[catalog.module_index[module]].title.get(session.language)},
        )
    return instructor_page(launch_id, session, [notice])


@blueprint.get("/lti/launches/<launch_id>/gaps.csv")
def gaps_csv(launch_id: str):
    session = _instructor_session(launch_id)
    services = tool().services
    report = course_report(services.learners, session.tenant, session.cohort, time.time())
    rows = []
    for i, learner in enumerate(report.learners):
        for j, point in enumerate(services.catalog.point_index):
            target = float(report.targets[i, j])
            if target <= 0:
                continue
            mastery = float(report.mastery[i, j])
            rows.append(
                [
                    learner,
                    report.roles[i],
                    point,
                    f"{mastery:.4f}",
                    f"{target:.4f}",
                    f"{max(0.0, target - mastery):.4f}",
                ]
            )
    text = csv_text(["learner", "role", "knowledge_point", "mastery", "target", "gap"], rows)
    filename = f"skillgap-gaps-{session.cohort or 'none'}.csv"
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": attachment(filename)})
