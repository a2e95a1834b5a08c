"""The analysts' dashboard at the API's root: sign in with an analyst token (sent once, in a
form), then a session cookie. Pages: the tenant's overview, the gap heatmap role × knowledge
point with its drill-down to learners, a learner's page, and module effectiveness. Every figure
comes from the same modules the JSON API reads; nothing here computes mastery itself."""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from core.catalog import engine_model
from core.events import COHORT_PATTERN, LEARNER_PATTERN
from core.explain import render
from core.params import module_effectiveness
from core.people import departments
from core.ratelimit import FailureLimit, TooManyFailures
from core.reports import GapReport, gap_report
from core.tokens import hash_token
from sidecar.api.charts import (
    bars_per_day,
    heatmap,
    mastery_bars,
    rates_with_error_bars,
)
from sidecar.api.context import services
from sidecar.api.dashboard_texts import text
from sidecar.eventstats import events_per_day, learner_recent_events
from sidecar.health import pipeline_health

blueprint = Blueprint("dashboard", __name__, template_folder="templates")

DAYS = 30
CELL_LEARNERS = 200  # a heatmap cell's drill-down lists at most this many learners


def _language() -> str:
    wanted = request.args.get("lang")
    if wanted in ("en", "zh"):
        session["lang"] = wanted
    return session.get("lang", "en")


def _csrf() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, text("bad_form", _language()))


def _page(template: str, **values):
    language = _language()
    return render_template(
        f"dashboard/{template}",
        t=lambda key, **v: text(key, language, **v),
        language=language,
        csrf=_csrf(),
        tenant=g.get("tenant"),
        page=request.endpoint,
        **values,
    )


def _signed_in() -> str | None:
    """The session's tenant while its token is still registered (a revoked token ends it)."""
    token_hash, tenant = session.get("token"), session.get("tenant")
    if not token_hash or not tenant:
        return None
    svc = services()
    raw = svc.redis.hget(svc.keys.tokens, token_hash)
    if raw is None or orjson.loads(raw)["tenant"] != tenant:
        session.clear()
        return None
    return tenant


@blueprint.before_request
def require_session():
    if request.endpoint in ("dashboard.overview", "dashboard.sign_in"):
        return None
    tenant = _signed_in()
    if tenant is None:
        return redirect(url_for("dashboard.overview"))
    g.tenant = tenant
    return None


@blueprint.get("/")
def overview():
    tenant = _signed_in()
    if tenant is None:
        return _page("sign_in.html", error=request.args.get("error"))
    g.tenant = tenant
    svc = services()
    now = time.time()
    report = gap_report(svc.learners, tenant, None, now)
    days, counts = events_per_day(svc.redis, svc.keys, svc.settings.partitions, tenant, now, DAYS)
    return _page(
        "overview.html",
        learners=len(report.learners),
        roles=_role_counts(report),
        cohorts=report.by_cohort(),
        departments=[
            row
            for row in report.by_department(departments(svc.redis, svc.keys, tenant, report.learners))
            if row["department"]
        ],
        loss=report.loss.total,
        per_day=bars_per_day(days, counts, text("events_per_day", _language(), days=DAYS)) if sum(counts) else None,
        days=DAYS,
        health=pipeline_health(svc.redis, svc.keys, svc.settings.partitions, now),
    )


@blueprint.post("/sign-in")
def sign_in():
    _check_csrf()
    token = request.form.get("token", "").strip()
    svc = services()
    raw = svc.redis.hget(svc.keys.tokens, hash_token(token)) if token else None
    if raw is None:
        try:
            # The same count as wrong bearer tokens; a right token signs in whatever the count.
            FailureLimit.of(svc, "api").refuse(request.remote_addr, token or None)
        except TooManyFailures as exc:
            return _page("sign_in.html", error="bad_token"), 429, {"Retry-After": str(exc.retry_after_s)}
        return _page("sign_in.html", error="bad_token"), 401
    language = session.get("lang", "en")
    session.clear()  # a new session: nothing of the signed-out one carries over
    session.update(
        token=hash_token(token), tenant=orjson.loads(raw)["tenant"], lang=language, csrf=secrets.token_urlsafe(24)
    )
    return redirect(url_for("dashboard.overview"), code=303)


@blueprint.post("/sign-out")
def sign_out():
    _check_csrf()
    session.clear()
    return redirect(url_for("dashboard.overview"), code=303)


def _role_counts(report: GapReport) -> list[tuple[str, int]]:
    catalog = services().catalog
    language = _language()
    return [(_role_name(row["role"], catalog, language), row["learners"]) for row in report.by_role()]


def _role_name(role: str, catalog, language: str) -> str:
    return catalog.roles[catalog.role_index[role]].name.get(language) if role in catalog.role_index else role


def _cohorts() -> list[str]:
    """The tenant's cohorts, read once a request (the cohort check and the page's list both use them)."""
    if "cohorts" not in g:
        g.cohorts = services().learners.cohorts(g.tenant)
    return g.cohorts


def _cohort_arg() -> str | None:
    cohort = request.args.get("cohort") or None
    if cohort is not None and (not COHORT_PATTERN.match(cohort) or cohort not in _cohorts()):
        abort(404, text("not_found", _language()))
    return cohort


@blueprint.get("/gaps")
def gaps():
    svc = services()
    catalog, language = svc.catalog, _language()
    cohort = _cohort_arg()
    report = gap_report(svc.learners, g.tenant, cohort, time.time())
    heat = report.role_shortfall()
    rows, cells, links = [], [], []
    for j, row_cells in zip(heat.points, heat.cells):
        kp = catalog.knowledge_points[j]
        rows.append(kp.name.get(language))
        cells.append(row_cells)
        links.append(
            [
                url_for("dashboard.gap_cell")
                + "?"
                + urlencode({"role": role, "point": kp.id, **({"cohort": cohort} if cohort else {})})
                if value is not None
                else None
                for role, value in zip(heat.roles, row_cells)
            ]
        )
    columns = [f"{_role_name(r, catalog, language)} ({n})" for r, n in zip(heat.roles, heat.learners)]
    chart = heatmap(rows, columns, cells, links, text("heatmap_cell", language), text("heatmap_title", language))
    return _page(
        "gaps.html",
        chart=chart if rows else None,
        cohorts=_cohorts(),
        cohort=cohort,
        by_cohort=report.by_cohort() if cohort is None else [],
        by_role=[(_role_name(r["role"], catalog, language), r["learners"], r["loss"]) for r in report.by_role()],
        by_department=report.by_department(departments(svc.redis, svc.keys, g.tenant, report.learners)),
        loss=report.loss.total,
        learners=len(report.learners),
    )


@blueprint.get("/gaps/cell")
def gap_cell():
    svc = services()
    catalog, language = svc.catalog, _language()
    role, point = request.args.get("role", ""), request.args.get("point", "")
    if role not in catalog.role_index or point not in catalog.point_index:
        abort(404, text("not_found", language))
    cohort = _cohort_arg()
    report = gap_report(svc.learners, g.tenant, cohort, time.time())
    j = catalog.point_index[point]
    rows = [
        {
            "learner": learner,
            "mastery": float(report.mastery[i, j]),
            "target": float(report.targets[i, j]),
            "shortfall": max(0.0, float(report.targets[i, j] - report.mastery[i, j])),
            "loss": float(report.loss.per_learner[i]),
        }
        for i, learner in enumerate(report.learners)
        if report.roles[i] == role
    ]
    rows.sort(key=lambda r: -r["shortfall"])
    return _page(
        "cell.html",
        title=text(
            "cell_title",
            language,
            role=_role_name(role, catalog, language),
            point=catalog.knowledge_points[j].name.get(language),
        ),
        rows=rows[:CELL_LEARNERS],
        more=max(0, len(rows) - CELL_LEARNERS),
        cohort=cohort,
    )


@blueprint.get("/learners/<learner>")
def learner_page(learner: str):
    svc = services()
    catalog, language = svc.catalog, _language()
    if not LEARNER_PATTERN.match(learner):
        abort(404, text("not_found", language))
    store = svc.learners
    record = store.get(g.tenant, learner)
    if record is None:
        abort(404, text("not_found", language))
    standing = store.standing([record], time.time())
    mastery, uncertainty, targets = standing.mastery[0], standing.uncertainty[0], standing.targets[0]
    shown = [j for j in range(len(catalog.knowledge_points)) if targets[j] > 0]
    names = [catalog.knowledge_points[j].name.get(language) for j in shown]
    chart = mastery_bars(
        names,
        [float(mastery[j]) for j in shown],
        [float(uncertainty[j]) for j in shown],
        [float(targets[j]) for j in shown],
        text("bar_title", language),
        text("mastery_title", language),
    )
    recent = learner_recent_events(svc.redis, svc.keys, svc.settings.partitions, g.tenant, learner)
    modules = {m.id: m.title.get(language) for m in catalog.modules}
    mandatory = [
        {"title": modules[s.module], "due": s.due_day, "state": s.state, "days": s.days}
        for s in store.mandatory(record, time.time())
    ]
    return _page(
        "learner.html",
        learner=learner,
        role=_role_name(store.role_of(record), catalog, language),
        cohorts=record.cohorts,
        loss=standing.loss.total,
        chart=chart,
        recommendations=[render(item, catalog, language) for item in record.recommendations],
        mandatory=mandatory,
        recent=[
            {**e, "when": _when(e["timestamp"]), "title": modules.get(e.get("module"), e.get("module") or "")}
            for e in recent
        ],
    )


@blueprint.get("/modules")
def modules():
    svc = services()
    catalog, language = svc.catalog, _language()
    active = svc.parameters()
    base = engine_model(catalog)
    names, fitted, errors, catalog_rates = [], [], [], []
    for row in module_effectiveness(catalog, active):
        q = catalog.module_index[row["module"]]
        title = catalog.modules[q].title.get(language)
        for point in row["points"]:
            j = catalog.point_index[point["point"]]
            names.append(f"{title} → {catalog.knowledge_points[j].name.get(language)}")
            fitted.append(point["learn_rate"] if point["fitted"] else None)
            errors.append(point["uncertainty"])
            catalog_rates.append(float(base.learn[q, j]))
    chart = rates_with_error_bars(
        names, fitted, errors, catalog_rates, text("dot_title", language), text("modules_title", language)
    )
    return _page("modules.html", chart=chart, version=active.version)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


@blueprint.errorhandler(HTTPException)
def page_error(exc: HTTPException):
    return _page("error.html", status=exc.code, message=exc.description), exc.code
