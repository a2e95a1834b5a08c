"""The cost plan (issue 15): training minutes, weeks and cost by method until a tenant's learners
reach their role's target, by the recommender's path (mandatory modules first as their date
nears, as the workers rank) and by course order, per learner, role and cohort, with the band
that the uncertainty about each learner's mastery gives. Read by the analyst API, the dashboard
and `skillgap plan`; the projection itself is engine/plan.py.

Figures per group are over its learners' paths from the same draw: `expected` from the
belief's mean, `median`, `p10` and `p90` over all draws (the mean included). A path that has
not reached the target within the horizon counts the minutes it took (then `reached` is below 1
and the figure is a lower bound)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.catalog.model import METHODS
from core.errors import FieldError, UserError
from core.learner_store import LearnerStore
from core.reports import report_learners
from core.settings import PLAN_MINUTES_PER_WEEK_RANGE, Settings
from engine.plan import Bounds, Projection, project

QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9}
POLICIES = ("adaptive", "course_order")


class PlanRequestError(UserError, FieldError):
    """A plan asked with values it cannot take; `field` names which."""


@dataclass(frozen=True)
class PlanLimits:
    """The bounds a plan runs within (from the settings), said in every answer."""

    max_learners: int
    max_paths: int
    draws: int
    horizon_minutes: float
    max_steps: int

    @classmethod
    def of(cls, settings: Settings) -> PlanLimits:
        return cls(
            settings.plan_max_learners,
            settings.plan_max_paths,
            settings.plan_draws,
            settings.plan_horizon_minutes,
            settings.plan_max_steps,
        )

    def draws_for(self, learners: int) -> int:
        """Draws a learner: plan_draws, fewer when the paths would pass max_paths (at least 2)."""
        return max(2, min(self.draws, self.max_paths // max(learners, 1) - 1))


MIN_MINUTES_PER_WEEK, MAX_MINUTES_PER_WEEK = PLAN_MINUTES_PER_WEEK_RANGE
NUMBER_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)?")


def minutes_per_week_of(text: str | None, default: float) -> float:
    """The training minutes a week a request asks for, checked (PlanRequestError)."""
    if text is None or text == "":
        return default
    if not NUMBER_PATTERN.fullmatch(text):  # float() would take "6_0", " 60", "inf"
        raise PlanRequestError("minutes_per_week", "minutes_per_week must be a number")
    value = float(text)
    if not MIN_MINUTES_PER_WEEK <= value <= MAX_MINUTES_PER_WEEK:
        raise PlanRequestError(
            "minutes_per_week",
            f"minutes_per_week must be between {MIN_MINUTES_PER_WEEK:g} and {MAX_MINUTES_PER_WEEK:g}",
        )
    return value


@dataclass(frozen=True)
class CostPlan:
    tenant: str
    cohort: str | None
    role: str | None
    minutes_per_week: float
    as_of: float
    matched: int  # learners the filters matched; the plan covers the first `limits.max_learners`
    learners: list[str]
    roles: list[str]
    cohorts: list[tuple[str, ...]]
    limits: PlanLimits
    projection: Projection | None  # None: no learner matched
    module_ids: list[str]
    module_minutes: np.ndarray  # (Q,)
    module_method: np.ndarray  # (Q, len(METHODS)) one-hot

    @property
    def truncated(self) -> bool:
        return self.matched > len(self.learners)

    @property
    def draws(self) -> int:
        return self.projection.draws if self.projection else 0

    def bounds(self) -> dict:
        """What the plan was computed within, for the answer."""
        return {
            "learners_matched": self.matched,
            "learners_planned": len(self.learners),
            "max_learners": self.limits.max_learners,
            "truncated": self.truncated,
            "paths_per_learner": self.draws,
            "horizon_minutes": self.limits.horizon_minutes,
            "max_modules_per_path": self.limits.max_steps,
            "minutes_per_week": self.minutes_per_week,
        }

    def _paths(self, policy: str):
        return getattr(self.projection, policy)

    def _minutes(self, policy: str) -> np.ndarray:
        """(draws, L) minutes per path."""
        return self.projection.per_learner(self._paths(policy).minutes)

    def _method_takes_and_minutes(self, policy: str) -> tuple[np.ndarray, np.ndarray]:
        """(draws, L, methods): modules taken and minutes trained by method."""
        takes = self.projection.per_learner(self._paths(policy).takes).astype(np.float64)
        return takes @ self.module_method, (takes * self.module_minutes) @ self.module_method

    def summary(self, members: np.ndarray) -> dict:
        """One group's figures; `members` (L,) bool."""
        out: dict = {"learners": int(members.sum())}
        for policy in POLICIES:
            minutes = self._minutes(policy)[:, members]
            reached = self.projection.per_learner(self._paths(policy).reached)[:, members]
            stalled = self.projection.per_learner(self._paths(policy).stalled)[:, members]
            takes, by_method = self._method_takes_and_minutes(policy)
            out[policy] = {
                "reached_share": round(float(reached.mean()), 4) if members.any() else 1.0,
                "stalled_share": round(float(stalled.mean()), 4) if members.any() else 0.0,
                "minutes": _band(minutes.sum(axis=1)),
                "minutes_per_learner": _band(minutes.mean(axis=1)) if members.any() else _band(np.zeros(1)),
                # all of the group train side by side: the group is done when its slowest learner is
                "weeks_until_all": _band(_max(minutes) / self.minutes_per_week),
                "cost": {
                    method: {
                        "takes": _band(takes[:, members, m].sum(axis=1)),
                        "hours": _band(by_method[:, members, m].sum(axis=1) / 60.0),
                    }
                    for m, method in enumerate(METHODS)
                },
            }
        saved = self._minutes("course_order")[:, members].sum(axis=1) - self._minutes("adaptive")[:, members].sum(
            axis=1
        )
        out["saved_minutes"] = _band(saved)
        return out

    def total(self) -> dict | None:
        """Every planned learner's figures (None when the plan has none)."""
        return self.summary(np.ones(len(self.learners), bool)) if self.learners else None

    def by_role(self) -> list[dict]:
        roles = np.array(self.roles)
        return [{"role": role, **self.summary(roles == role)} for role in sorted(set(self.roles))]

    def by_cohort(self) -> list[dict]:
        """A learner in several cohorts counts in each (as in the gap report)."""
        if not self.learners:
            return []
        names = sorted({c for cohorts in self.cohorts for c in cohorts} if self.cohort is None else {self.cohort})
        return [
            {"cohort": name, **self.summary(np.array([name in cohorts for cohorts in self.cohorts], bool))}
            for name in names
        ]

    def by_learner(self) -> list[dict]:
        if not self.learners:
            return []
        minutes = {policy: self._minutes(policy) for policy in POLICIES}
        reached = {policy: self.projection.per_learner(self._paths(policy).reached) for policy in POLICIES}
        order = self.projection.adaptive.order
        rows = []
        for i, (learner, role) in enumerate(zip(self.learners, self.roles)):
            row = {"learner": learner, "role": role}
            for policy in POLICIES:
                row[policy] = {
                    "reached_share": round(float(reached[policy][:, i].mean()), 4),
                    "minutes": _band(minutes[policy][:, i]),
                    "weeks": _band(minutes[policy][:, i] / self.minutes_per_week),
                }
            row["modules"] = [self.module_ids[q] for q in order[i] if q >= 0]
            rows.append(row)
        return rows


def _max(minutes: np.ndarray) -> np.ndarray:
    return minutes.max(axis=1) if minutes.shape[1] else np.zeros(minutes.shape[0])


def _band(per_draw: np.ndarray) -> dict:
    """The first draw (the belief's mean) as `expected`, and quantiles over all draws."""
    per_draw = np.asarray(per_draw, np.float64)
    band = {"expected": round(float(per_draw[0]), 2)}
    for name, q in QUANTILES.items():
        band[name] = round(float(np.quantile(per_draw, q)), 2)
    return band


def cost_plan(
    store: LearnerStore,
    settings: Settings,
    tenant: str,
    cohort: str | None,
    role: str | None,
    minutes_per_week: float,
    now: float,
) -> CostPlan:
    """The plan for a cohort's learners (None: the tenant's), of one role or all."""
    catalog = store.catalog
    if role is not None and role not in catalog.role_index:
        raise PlanRequestError("role", f"no role {role!r} in the catalog")
    limits = PlanLimits.of(settings)
    records = store.get_many(tenant, report_learners(store, tenant, cohort), explain=False)
    if role is not None:
        records = [r for r in records if store.role_of(r) == role]
    matched = len(records)
    records = records[: limits.max_learners]
    methods = np.array([[m.method == method for method in METHODS] for m in catalog.modules], np.float64)
    projection = None
    if records:
        projection = project(
            np.stack([r.state for r in records]),
            store.targets_for(records),
            store.model,
            now,
            Bounds(minutes_per_week, limits.horizon_minutes, limits.max_steps),
            draws=limits.draws_for(len(records)),
            due=store.due_for(records),
            **settings.ranking_options(),
        )
    return CostPlan(
        tenant=tenant,
        cohort=cohort,
        role=role,
        minutes_per_week=minutes_per_week,
        as_of=now,
        matched=matched,
        learners=[r.learner for r in records],
        roles=[store.role_of(r) for r in records],
        cohorts=[r.cohorts for r in records],
        limits=limits,
        projection=projection,
        module_ids=[m.id for m in catalog.modules],
        module_minutes=store.model.minutes,
        module_method=methods,
    )


BREAKDOWNS = ("role", "cohort", "learner")

# A CSV's columns for each policy: the name after "<policy>_" and where its value is in the JSON row
_BAND_COLUMNS = (
    ("reached_share", ("reached_share",)),
    ("minutes", ("minutes", "median")),
    ("minutes_p10", ("minutes", "p10")),
    ("minutes_p90", ("minutes", "p90")),
)
_LEARNER_COLUMNS = (*_BAND_COLUMNS, ("weeks", ("weeks", "median")))
_GROUP_COLUMNS = (
    *_BAND_COLUMNS,
    ("minutes_per_learner", ("minutes_per_learner", "median")),
    ("weeks_until_all", ("weeks_until_all", "median")),
    *((f"{method}_{what}", ("cost", method, what, "median")) for method in METHODS for what in ("takes", "hours")),
)


def _cells(row: dict, columns: tuple) -> list:
    """Each policy's `columns` of a JSON row, policy after policy."""
    cells = []
    for policy in POLICIES:
        for _, path in columns:
            value = row[policy]
            for key in path:
                value = value[key]
            cells.append(value)
    return cells


def plan_table(plan: CostPlan, by: str) -> tuple[list[str], list[list]]:
    """One breakdown as a CSV's header and rows: the medians, the band of the minutes, and the
    cost by method (takes: modules taken, seats for a workshop; hours: learner-hours)."""
    columns = _LEARNER_COLUMNS if by == "learner" else _GROUP_COLUMNS
    policy_header = [f"{policy}_{name}" for policy in POLICIES for name, _ in columns]
    if by == "learner":
        header = ["learner", "role", *policy_header, "modules"]
        rows = [
            [row["learner"], row["role"], *_cells(row, columns), " ".join(row["modules"])] for row in plan.by_learner()
        ]
        return header, rows
    header = [by, "learners", *policy_header, "saved_minutes", "saved_minutes_p10", "saved_minutes_p90"]
    rows = []
    for group in plan.by_role() if by == "role" else plan.by_cohort():
        saved = group["saved_minutes"]
        rows.append(
            [group[by], group["learners"], *_cells(group, columns), saved["median"], saved["p10"], saved["p90"]]
        )
    return header, rows
