"""The engine's view of a catalog and of learner state, as plain arrays.

M knowledge points, Q modules, R roles. Learner state is a float64 array of shape
(L, 3, M): for each learner and point the mastery probability, the evidence seen
(an effective number of assessments, which forgetting erodes like mastery; see
engine/mastery.py for the uncertainty it gives) and the time the point was last
touched (seconds since the epoch, 0 for never).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property

import numpy as np

MASTERY, EVIDENCE, LAST_SEEN = 0, 1, 2
STATE_FIELDS = 3


class Kind(enum.IntEnum):
    """What an event says happened; codes index KIND_LEARN and KIND_EVIDENCE."""

    VIEWED = 0
    COMPLETED = 1
    GRADED = 2
    ASSESSED = 3
    SELF_RATED = 4


# Mastery of its required points at which a module teaches at its full rate; below it, at the
# share mastery / READY_MASTERY: the mastery update's threshold (engine.apply_events takes another).
READY_MASTERY = 0.6

# The same threshold as the recommender reads it, in its valuation and its raised targets
# (engine.recommend's default, the workers' setting). Higher than the update's: a plan looks a
# few modules ahead, while a prerequisite raised now speeds every later module that needs it,
# which valuing modules with weak prerequisites lower makes up for (docs/model.md, readiness).
RANKING_READY_MASTERY = 0.75

# A module mainly trains the points it covers at this share of its largest coverage or more:
# its requirements come from those points (a point it touches in passing adds none).
MAIN_COVERAGE = 0.75


def main_points(coverage: np.ndarray) -> np.ndarray:
    """(Q, M) bool: the points each module mainly trains."""
    coverage = np.asarray(coverage, np.float64)
    return (coverage > 0) & (coverage >= MAIN_COVERAGE * coverage.max(axis=1, keepdims=True))


# Share of the module's learning rate an event of each kind earns (a view is a partial pass).
KIND_LEARN = np.array([0.25, 1.0, 1.0, 0.0, 0.0])
# Weight of the event's score as evidence about mastery (a self-rating is weak evidence).
KIND_EVIDENCE = np.array([0.0, 0.0, 1.0, 1.0, 0.3])
KINDS_WITH_SCORE = frozenset({Kind.GRADED, Kind.ASSESSED, Kind.SELF_RATED})


@dataclass(frozen=True)
class Model:
    """Model parameters over M knowledge points, Q modules and R roles."""

    prior: np.ndarray  # (M,) mastery before any evidence
    guess: np.ndarray  # (M,) P(correct | not mastered)
    slip: np.ndarray  # (M,) P(incorrect | mastered)
    half_life: np.ndarray  # (M,) seconds for mastery to halve unused; inf: no forgetting
    learn: np.ndarray  # (Q, M) P(not mastered -> mastered) on completing module q
    coverage: np.ndarray  # (Q, M) in [0, 1]: how much of point j module q teaches or tests
    minutes: np.ndarray  # (Q,)
    requires: np.ndarray  # (Q, M) bool: points that must be mastered before module q
    targets: np.ndarray  # (R, M) target mastery per role
    # (Q,) bool: modules that measure rather than teach (quizzes); ranked by information value
    assessment: np.ndarray | None = None
    # (M, M) bool: prerequisites[j, r] when point j builds on point r (the catalog's graph)
    prerequisites: np.ndarray | None = None

    def __post_init__(self) -> None:
        m = self.prior.shape[0]
        q = self.minutes.shape[0]
        if self.assessment is None:
            object.__setattr__(self, "assessment", np.zeros(q, np.bool_))
        if self.prerequisites is None:
            object.__setattr__(self, "prerequisites", np.zeros((m, m), np.bool_))
        expected = {
            "prior": (m,),
            "guess": (m,),
            "slip": (m,),
            "half_life": (m,),
            "learn": (q, m),
            "coverage": (q, m),
            "minutes": (q,),
            "requires": (q, m),
            "assessment": (q,),
            "prerequisites": (m, m),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"Model.{name} has shape {getattr(self, name).shape}, not {shape}")
        if self.targets.ndim != 2 or self.targets.shape[1] != m:
            raise ValueError(f"Model.targets has shape {self.targets.shape}, not (R, {m})")
        for name in ("prior", "guess", "slip", "half_life", "learn", "coverage", "minutes", "targets"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), np.float64))
        for name in ("requires", "assessment", "prerequisites"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), np.bool_))

    @property
    def n_points(self) -> int:
        return self.prior.shape[0]

    @cached_property
    def covered(self) -> tuple[np.ndarray, np.ndarray]:
        """The points each module covers, sparse (modules cover a few of many points):
        module q's are points[starts[q]:starts[q + 1]]."""
        return _rows_of(self.coverage > 0)

    @cached_property
    def covered_masks(self) -> np.ndarray:
        """(Q, words) uint64: the points each module covers as a bit set (point j is bit j % 64
        of word j // 64); every bit for a module of no positive minutes (its value is no number)."""
        masks = point_masks(self.coverage > 0)
        masks[~(self.minutes > 0)] = np.iinfo(np.uint64).max
        return masks

    @cached_property
    def trains_mainly(self) -> np.ndarray:
        """(Q, M) bool: the points each teaching module mainly trains (`main_points` it teaches
        at a positive rate); none for an assessment."""
        return main_points(self.coverage) & (self.learn > 0) & ~self.assessment[:, None]

    @cached_property
    def main_masks(self) -> np.ndarray:
        """(Q, words) uint64: `trains_mainly` as bit sets like `covered_masks`."""
        return point_masks(self.trains_mainly)

    @cached_property
    def required(self) -> tuple[np.ndarray, np.ndarray]:
        """The points each module requires, in the same sparse form as `covered`."""
        return _rows_of(self.requires)

    @cached_property
    def moves(self) -> np.ndarray:
        """(Q, Q) bool: moves[q, c] when the learning module q teaches can change module c's
        value (q teaches a point c covers or requires); assessments move nothing."""
        teaches = (self.learn > 0) & ~self.assessment[:, None]
        reads = (self.coverage > 0) | self.requires
        return np.ascontiguousarray((teaches.astype(np.int64) @ reads.T.astype(np.int64)) > 0)

    @property
    def n_modules(self) -> int:
        return self.minutes.shape[0]

    @cached_property
    def dependents(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, starts, points): point r's dependents are points[starts[r]:starts[r + 1]], the
        points whose every teaching module that mainly trains them requires r (a point that
        some module teaches without r does not need it: m-ws-leadership requiring LLM APIs
        made every role that targets LLM limits train LLM APIs to 0.6); `order` lists every
        point after all its dependents (a cycle is broken at its lowest index), so a need found
        on a point can be passed on to what that point requires in one walk."""
        main = self.trains_mainly
        # depends[r, j]: the modules mainly training j (at least one) all require r
        missing = (~self.requires).T.astype(np.int64) @ main.astype(np.int64)  # (M, M) such modules without r
        depends = (missing == 0) & main.any(axis=0)[None, :] & ~np.eye(self.n_points, dtype=bool)
        starts, points = _rows_of(depends)
        m = self.n_points
        placed = np.zeros(m, bool)
        order: list[int] = []
        while len(order) < m:
            ready = [r for r in range(m) if not placed[r] and placed[depends[r]].all()]
            for r in ready or [int(np.flatnonzero(~placed)[0])]:
                placed[r] = True
                order.append(r)
        return np.array(order, np.int64), starts, points


def point_masks(points: np.ndarray) -> np.ndarray:
    """(rows, words) uint64: each row of the bool (rows, M) `points` as a bit set (point j is bit
    j % 64 of word j // 64), as the recommender's kernel reads sets of points."""
    rows, m = points.shape
    words = -(-m // 64) or 1
    bits = np.zeros((rows, words * 64), np.uint64)
    bits[:, :m] = points
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    return np.ascontiguousarray((bits.reshape(rows, words, 64) * weights).sum(axis=2, dtype=np.uint64))


def _rows_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.zeros(mask.shape[0] + 1, np.int64)
    np.cumsum(mask.sum(axis=1), out=starts[1:])
    return starts, np.ascontiguousarray(np.nonzero(mask)[1], np.int64)


def new_state(model: Model, n_learners: int) -> np.ndarray:
    """State of learners never seen: mastery at the prior, no evidence, never touched."""
    state = np.zeros((n_learners, STATE_FIELDS, model.n_points))
    state[:, MASTERY, :] = model.prior
    return state
