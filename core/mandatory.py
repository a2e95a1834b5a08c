"""Mandatory (compliance) modules: when each is due for a learner, and whether it is done.

The catalog says which roles must complete a module and by when (`Module.mandatory`: days after
enrolment, or a fixed date). A learner's enrolment is their start date from HR if any, else
their earliest event (`enrolment_times`); a completed or graded event for the module makes it
done (the workers keep the time, `sidecar/processing.py`). One function per derived value:
`DueRules.due` (the engine's (L, Q) due times), `DueRules.statuses` (what the learner page,
the dashboard and the overdue report show).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np

from core.catalog import Catalog
from core.settings import SECONDS_PER_DAY

DONE, DUE, OVERDUE = "done", "due", "overdue"
STATES = (DONE, DUE, OVERDUE)


def day_end(day) -> float:
    """The Unix time a due date ends (UTC): due by the end of that day."""
    return datetime.combine(day + timedelta(days=1), time(), UTC).timestamp()


def enrolment_times(start: np.ndarray, first_seen: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """(L,) each learner's enrolment: HR's start date where known (finite), else their earliest
    event (finite), else `fallback` (a value stored before enrolments were kept: its latest
    event)."""
    return np.where(np.isfinite(start), start, np.where(np.isfinite(first_seen), first_seen, fallback))


@dataclass(frozen=True)
class Status:
    """One mandatory module for one learner, as of `as_of`."""

    module: str
    due: float  # Unix time it is due (the end of the due date, or enrolment + days)
    completed: float | None  # when first completed
    as_of: float

    @property
    def state(self) -> str:
        if self.completed is not None:
            return DONE
        return OVERDUE if self.as_of >= self.due else DUE

    @property
    def due_day(self) -> str:
        """The day it is due, YYYY-MM-DD (UTC); the calendar's end for a due time past it (a start
        date stored before start dates were checked)."""
        try:
            return datetime.fromtimestamp(self.due, UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):
            return "9999-12-31" if self.due > 0 else "0001-01-01"

    @property
    def days(self) -> int:
        """Whole days (rounded up) until it is due, or since it became overdue; 0 when done."""
        if self.completed is not None:
            return 0
        return math.ceil(abs(self.due - self.as_of) / SECONDS_PER_DAY)

    def due_within(self, days: float) -> bool:
        """Not done and due at most `days` from now (overdue ones included)."""
        return self.completed is None and self.due <= self.as_of + days * SECONDS_PER_DAY


@dataclass(frozen=True)
class DueRules:
    """The catalog's mandatory rules as arrays over R roles and the D modules mandatory for
    some role."""

    modules: np.ndarray  # (D,) catalog index of each such module
    ids: tuple[str, ...]  # (D,) their ids
    after: np.ndarray  # (R, D) seconds after enrolment the module is due; inf: no such rule
    fixed: np.ndarray  # (R, D) Unix time the module is due; inf: no such rule
    column: np.ndarray  # (Q,) each module's index in D, -1 for modules mandatory for no role

    @classmethod
    def of(cls, catalog: Catalog) -> DueRules:
        mandatory = [q for q, module in enumerate(catalog.modules) if module.mandatory]
        after = np.full((len(catalog.roles), len(mandatory)), np.inf)
        fixed = np.full_like(after, np.inf)
        for d, q in enumerate(mandatory):
            for rule in catalog.modules[q].mandatory:  # several rules for a role: the earliest wins
                for r, role in enumerate(catalog.roles):
                    if not rule.applies_to(role.id):
                        continue
                    if rule.within_days is not None:
                        after[r, d] = min(after[r, d], rule.within_days * SECONDS_PER_DAY)
                    else:
                        fixed[r, d] = min(fixed[r, d], day_end(rule.due_date))
        column = np.full(len(catalog.modules), -1, np.int64)
        column[mandatory] = np.arange(len(mandatory))
        ids = tuple(catalog.modules[q].id for q in mandatory)
        return cls(np.array(mandatory, np.int64), ids, after, fixed, column)

    def due_by_column(self, roles: np.ndarray, enrolled: np.ndarray) -> np.ndarray:
        """(L, D) when each mandatory module is due for learners of `roles` (catalog indexes)
        enrolled at `enrolled`; inf where it is not mandatory for the role."""
        return np.minimum(enrolled[:, None] + self.after[roles], self.fixed[roles])

    def due(self, roles: np.ndarray, enrolled: np.ndarray, done: np.ndarray, n_modules: int) -> np.ndarray:
        """(L, Q) the engine's `due`: the Unix time each module is due, inf where it is not
        mandatory for the learner's role or is done (`done`: (L, D) completion times, inf:
        not done)."""
        out = np.full((len(roles), n_modules), np.inf)
        if len(self.modules):
            due = self.due_by_column(roles, enrolled)
            out[:, self.modules] = np.where(np.isfinite(done), np.inf, due)
        return out

    def statuses(self, role: int, enrolled: float, done: dict[str, float], as_of: float) -> list[Status]:
        """The modules mandatory for a learner of `role`, soonest due first."""
        due = self.due_by_column(np.array([role]), np.array([enrolled]))[0]
        found = [Status(module, float(due[d]), done.get(module), as_of) for d, module in enumerate(self.ids)]
        return sorted((s for s in found if math.isfinite(s.due)), key=lambda s: (s.due, s.module))
