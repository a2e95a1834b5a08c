"""Who is overdue or due soon on a mandatory module, per cohort and role: what the analyst API
(`GET /v1/overdue`), `skillgap overdue` and the dashboard's overdue page show. The due times
and states come from core/mandatory.py (`LearnerStore.mandatory`); this module only selects,
groups and checks the filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import UserError
from core.events import COHORT_PATTERN
from core.learner_store import LearnerStore
from core.mandatory import DUE, OVERDUE
from core.people import departments
from core.reports import report_learners

DEFAULT_WITHIN_DAYS = 7
MAX_WITHIN_DAYS = 3650
CSV_COLUMNS = ("learner", "role", "department", "cohorts", "module", "title", "due", "status", "days")


class FilterError(UserError):
    """A filter the report cannot use; `field` names it, `missing`: it names nothing in this tenant."""

    def __init__(self, field: str, message: str, missing: bool = False):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.missing = missing


def within_days_of(value: object) -> int:
    """The look-ahead in whole days, from a query string or a number."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) > MAX_WITHIN_DAYS:
        raise FilterError("within_days", f"must be a whole number of days from 0 to {MAX_WITHIN_DAYS}")
    return int(text)


@dataclass(frozen=True)
class OverdueReport:
    tenant: str
    cohort: str | None
    role: str | None
    within_days: int
    as_of: float
    learners: int  # learners checked (those of the cohort and role)
    rows: list[dict]  # one per learner and module overdue or due within the window, soonest due first
    by_role: list[dict]  # per role: learners, how many have a module overdue, how many only due soon
    by_cohort: list[dict]  # the same per cohort (a learner in several cohorts counts in each)

    @property
    def overdue(self) -> int:
        return sum(row["status"] == OVERDUE for row in self.rows)

    @property
    def due_soon(self) -> int:
        return sum(row["status"] == DUE for row in self.rows)


def overdue_report(
    store: LearnerStore,
    tenant: str,
    cohort: str | None,
    role: str | None,
    within_days: int,
    now: float,
    language: str = "en",
) -> OverdueReport:
    """Mandatory modules not done that are overdue or due within `within_days` of `now`, for
    the tenant's learners (of `cohort` and `role` when given). Raises FilterError."""
    catalog = store.catalog
    if cohort is not None:
        if not COHORT_PATTERN.match(cohort):
            raise FilterError("cohort", "not a valid cohort id")
        if cohort not in store.cohorts(tenant):
            raise FilterError("cohort", f"no cohort {cohort!r} in this tenant", missing=True)
    if role is not None and role not in catalog.role_index:
        raise FilterError("role", f"unknown role {role!r} (the catalog's: {', '.join(catalog.role_index)})")
    within_days = within_days_of(within_days)
    learners = report_learners(store, tenant, cohort)
    records = [r for r in store.get_many(tenant, learners, explain=False) if role in (None, store.role_of(r))]
    found = [(record, status) for record in records for status in store.mandatory(record, now)]
    found = [(record, status) for record, status in found if status.due_within(within_days)]
    found.sort(key=lambda pair: (pair[1].due, pair[0].learner, pair[1].module))
    department = dict(zip(learners, departments(store.client, store.keys, tenant, learners)))
    rows = [
        {
            "learner": record.learner,
            "role": store.role_of(record),
            "department": department.get(record.learner, ""),
            "cohorts": list(record.cohorts),
            "module": status.module,
            "title": catalog.modules[catalog.module_index[status.module]].title.get(language),
            "due": datetime.fromtimestamp(status.due, UTC).isoformat().replace("+00:00", "Z"),
            "status": status.state,
            "days": status.days,
        }
        for record, status in found
    ]
    by_role = _grouped("role", rows, [(store.role_of(r), r.learner) for r in records], lambda row: [row["role"]])
    by_cohort = _grouped(
        "cohort",
        rows,
        [(c, r.learner) for r in records for c in (r.cohorts if cohort is None else (cohort,))],
        lambda row: row["cohorts"] if cohort is None else [cohort],
    )
    return OverdueReport(tenant, cohort, role, within_days, now, len(records), rows, by_role, by_cohort)


def _grouped(name: str, rows: list[dict], members: list[tuple[str, str]], labels_of) -> list[dict]:
    """Per group: its learners, and how many of them have a module overdue / only due soon."""
    learners: dict[str, set[str]] = {}
    for label, learner in members:
        learners.setdefault(label, set()).add(learner)
    overdue: dict[str, set[str]] = {}
    due: dict[str, set[str]] = {}
    for row in rows:
        for label in labels_of(row):
            (overdue if row["status"] == OVERDUE else due).setdefault(label, set()).add(row["learner"])
    return [
        {
            name: label,
            "learners": len(learners[label]),
            "overdue": len(overdue.get(label, set())),
            "due_soon": len(due.get(label, set()) - overdue.get(label, set())),
        }
        for label in sorted(learners)
    ]


def csv_rows(report: OverdueReport) -> list[list[object]]:
    """The report's rows for CSV_COLUMNS (cohorts joined with ';')."""
    return [[";".join(row[c]) if c == "cohorts" else row[c] for c in CSV_COLUMNS] for row in report.rows]
