"""The cohort gap report: the source document's loss L = sum max(0, T - K)^2, broken down
by knowledge point, role and learner, as of a given time. Read by the analyst API and by
the tool's instructor view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.learner_store import LearnerStore
from engine.objective import ShortfallLoss


@dataclass(frozen=True)
class RoleShortfall:
    roles: list[str]  # sorted
    learners: list[int]  # per role
    points: list[int]  # knowledge point indices (columns of the report), those with a target
    cells: list[list[float | None]]  # per point, per role: mean shortfall; None: the role has no target there


@dataclass(frozen=True)
class GapReport:
    tenant: str
    cohort: str | None  # None: every learner of the tenant
    learners: list[str]
    roles: list[str]
    cohorts: list[tuple[str, ...]]  # each learner's cohorts
    mastery: np.ndarray  # (L, M) as of the report's time
    targets: np.ndarray  # (L, M)
    loss: ShortfallLoss

    def by_point(self, point_ids: list[str]) -> list[dict]:
        below = (self.targets - self.mastery) > 0
        return [
            {
                "point": point,
                "loss": float(self.loss.per_point[j]) if self.learners else 0.0,
                "mean_mastery": float(self.mastery[:, j].mean()) if self.learners else 0.0,
                "mean_target": float(self.targets[:, j].mean()) if self.learners else 0.0,
                "learners_below_target": int(below[:, j].sum()),
            }
            for j, point in enumerate(point_ids)
        ]

    def by_role(self) -> list[dict]:
        return self._grouped("role", self.roles)

    def by_department(self, departments: list[str]) -> list[dict]:
        """`departments`: each learner's, from HR (core/people.py); "" for those HR has not named."""
        return self._grouped("department", departments)

    def _grouped(self, name: str, labels: list[str]) -> list[dict]:
        rows = []
        for label in sorted(set(labels)):
            members = [i for i, other in enumerate(labels) if other == label]
            rows.append({name: label, "learners": len(members), "loss": float(self.loss.per_learner[members].sum())})
        return rows

    def by_cohort(self) -> list[dict]:
        """A learner in several cohorts counts in each (the rows need not add up to the total)."""
        members: dict[str, list[int]] = {}
        for i, cohorts in enumerate(self.cohorts):
            for cohort in cohorts if self.cohort is None else (self.cohort,):
                members.setdefault(cohort, []).append(i)
        return [
            {"cohort": cohort, "learners": len(rows), "loss": float(self.loss.per_learner[rows].sum())}
            for cohort, rows in sorted(members.items())
        ]

    def role_shortfall(self) -> RoleShortfall:
        """The heatmap: per knowledge point some learner has a target on, each role's mean shortfall
        max(0, T - K) over its learners; None where the role has no target on that point."""
        roles = sorted(set(self.roles))
        members = {role: [i for i, r in enumerate(self.roles) if r == role] for role in roles}
        shortfall = np.maximum(self.targets - self.mastery, 0.0)
        points, cells = [], []
        for j in range(self.targets.shape[1] if self.learners else 0):
            if self.targets[:, j].max() <= 0:
                continue
            points.append(j)
            cells.append(
                [
                    float(shortfall[members[role], j].mean()) if self.targets[members[role], j].max() > 0 else None
                    for role in roles
                ]
            )
        return RoleShortfall(roles, [len(members[role]) for role in roles], points, cells)

    def by_learner(self) -> list[dict]:
        return [
            {"learner": learner, "role": role, "loss": float(loss)}
            for learner, role, loss in zip(self.learners, self.roles, self.loss.per_learner)
        ]


def gap_report(store: LearnerStore, tenant: str, cohort: str | None, now: float) -> GapReport:
    """The analyst's report: a cohort's, or with None every learner of the tenant."""
    return _report(store, tenant, cohort, report_learners(store, tenant, cohort), now)


def course_report(store: LearnerStore, tenant: str, cohort: str | None, now: float) -> GapReport:
    """What one LTI launch may see: its own course's learners; a launch without a course sees none
    (never the whole tenant)."""
    return _report(store, tenant, cohort, store.cohort_learners(tenant, cohort) if cohort else [], now)


def _report(store: LearnerStore, tenant: str, cohort: str | None, learners: list[str], now: float) -> GapReport:
    records = store.get_many(tenant, learners, explain=False)
    standing = store.standing(records, now)
    return GapReport(
        tenant=tenant,
        cohort=cohort,
        learners=[r.learner for r in records],
        roles=[store.role_of(r) for r in records],
        cohorts=[r.cohorts for r in records],
        mastery=standing.mastery,
        targets=standing.targets,
        loss=standing.loss,
    )


def report_learners(store: LearnerStore, tenant: str, cohort: str | None) -> list[str]:
    """The learner ids an analyst's report covers: a cohort's, or with None the tenant's (id order)."""
    return store.cohort_learners(tenant, cohort) if cohort is not None else all_learners(store, tenant)


def all_learners(store: LearnerStore, tenant: str) -> list[str]:
    learners: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list(tenant, cursor, 1000)
        learners.extend(page)
        if cursor is None:
            return learners
