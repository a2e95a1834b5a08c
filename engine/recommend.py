"""The recommender: a plan of the modules that cut each learner's expected gap to target fastest.

A point's shortfall loss is max(0, T - K)^2, and the engine knows K only as a belief (mean p,
standard deviation its uncertainty): teaching modules are valued by the drop per minute of the
expected shortfall E[max(0, T - K)^2] as the belief's mean moves by the module's learning
(LEARN, or REVIEW when forgetting pulled the point below a target it had reached). Far below
the target that is the drop of max(0, T - p)^2; at the target, half the belief still lies
below it, so training pays until the belief is surely above (3 standard deviations). Assessment modules (ASSESS) are valued by the shortfall they are expected to reveal
(value of information): on a point estimated at or just above its target, with uncertainty at
least `uncertainty_threshold`, the estimate after the result is spread around today's by the
variance the assessment removes (engine/mastery.py), and E[max(0, T - estimate after)^2] is
the shortfall training would then close; estimated at the target, about half that variance.

Prerequisites are part of the objective, not a wall (docs/architecture.md, "Recommendation"):
- a module teaches at its rate times the learner's readiness, the weakest required point's
  mastery over `prerequisite_threshold` (at most 1);
- a point that a module of a still-short point requires gets a target of its own, that
  threshold (or the dependent's target when lower): the gap that unlocks the role's modules.

The k recommendations are a plan: each is valued given the mastery the ones before it are
expected to bring, so two modules that train the same thing both appear only when both pay.
The module just taken comes last (as a repeat) and an assessment is never offered right
after itself.

A role's own points (`own_points`: for the workers, the points the role targets and the
catalog's default role does not) show within the first `own_within` items: when none of the
items before that place mainly trains one, it holds the module mainly training one that is
worth most per minute given the plan so far (readiness included: a module its prerequisites
hold back is valued at its slower rate, and the reason says what it waits for). Ranked by
value per minute alone, the first items of a fresh learner are the short foundation modules
every role shares, and the learner does not see where their role's path leads.

Mandatory modules (`due`: per learner and module the time it is due) that are due within
`due_window` of `now`, or overdue, open the plan, earliest due first, as MANDATORY; the rest
of the plan is valued given the mastery they are expected to bring.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from engine.kernels.recommend import ASSESS, LEARN, MANDATORY, REVIEW, needs_kernel, recommend_kernel
from engine.mastery import check_state, shifted_to
from engine.model import RANKING_READY_MASTERY, Model, point_masks

# The plan is drawn from this many times k modules best on their own.
POOL_PER_SLOT = 2
# A module of the learner's own points is among the first this many items of the plan.
OWN_WITHIN = 3
# Mandatory modules due within this many seconds of the ranking's time (or overdue) come first.
DUE_WINDOW = 14 * 86_400.0


class Action(enum.IntEnum):
    LEARN = LEARN  # close a gap never closed
    REVIEW = REVIEW  # win back what forgetting took
    ASSESS = ASSESS  # measure mastery that is uncertain
    MANDATORY = MANDATORY  # required of the learner's role and due soon (or overdue)


@dataclass(frozen=True)
class Recommendations:
    """Top-k per learner; slots past the useful modules hold module -1."""

    module: np.ndarray  # (L, k) module index
    gain: np.ndarray  # (L, k) expected reduction of the shortfall loss (from learning)
    gain_per_minute: np.ndarray  # (L, k) the ranking value: gain, or information for ASSESS, per minute
    action: np.ndarray  # (L, k) Action codes
    mastery: np.ndarray  # (L, M) mastery as of `now` the ranking used
    information: np.ndarray  # (L, k) expected shortfall an assessment would reveal (value of information)
    uncertainty: np.ndarray  # (L, M) uncertainty as of `now`
    # (L, M) the targets ranked against: the role's, raised where a prerequisite is needed
    target: np.ndarray | None = None


def recommend(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    k: int = 5,
    prerequisite_threshold: float = RANKING_READY_MASTERY,
    uncertainty_threshold: float = 0.15,
    due: np.ndarray | None = None,
    due_window: float = DUE_WINDOW,
    own_points: np.ndarray | None = None,
    own_within: int = OWN_WITHIN,
) -> Recommendations:
    """Plan modules for every learner in `state` against per-learner `targets` (L, M), in parallel.

    due: (L, Q) the time (seconds since the epoch) each module is due for each learner, np.inf
    where it is not mandatory or already completed (the caller decides completion). Modules
    due by `now + due_window` open the plan, earliest first, with action MANDATORY (at most k).

    own_points: (L, M) bool, the points that set each learner's role apart, or None. Unless an
    earlier item mainly trains one, item `own_within` (1-based; after the modules due) is the
    module mainly training one of them that is worth most given the plan before it, if any pays.
    """
    state = np.ascontiguousarray(check_state(state, model))
    n = state.shape[0]
    mastery = np.empty((n, model.n_points))
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    if targets.shape != mastery.shape:
        raise ValueError(f"targets has shape {targets.shape}, not {mastery.shape}")
    if k < 1:
        raise ValueError("k must be at least 1")
    if due is None:
        due = np.empty((0, 0))
    else:
        due = np.ascontiguousarray(due, dtype=np.float64)
        if due.shape != (n, model.n_modules):
            raise ValueError(f"due has shape {due.shape}, not ({n}, {model.n_modules})")
        if np.isnan(due).any():
            raise ValueError("due holds NaN (use np.inf for a module not due)")
    if not due_window >= 0.0:
        raise ValueError("due_window must be at least 0 seconds")
    own = None  # the kernel compiled without own points
    if own_points is not None:
        own_points = np.asarray(own_points)
        if own_points.shape != mastery.shape:
            raise ValueError(f"own_points has shape {own_points.shape}, not {mastery.shape}")
        own = point_masks(own_points.astype(bool))
    if own_within < 1:
        raise ValueError("own_within must be at least 1")
    module = np.empty((n, k), dtype=np.int64)
    gain = np.empty((n, k))
    information = np.empty((n, k))
    per_minute = np.empty((n, k))
    action = np.empty((n, k), dtype=np.int8)
    uncertainty = np.empty_like(mastery)
    target = np.empty_like(mastery)
    recommend_kernel(
        state,
        targets,
        model.half_life,
        catalog_arrays(model),
        *model.dependents,
        model.moves,
        model.covered_masks,
        due,
        float(now) + float(due_window),
        model.main_masks,
        own,
        int(own_within) - 1,
        float(prerequisite_threshold),
        float(uncertainty_threshold),
        float(now),
        min(POOL_PER_SLOT * k, max(model.n_modules, k)),
        mastery,
        uncertainty,
        target,
        module,
        gain,
        information,
        per_minute,
        action,
    )
    return Recommendations(module, gain, per_minute, action, mastery, information, uncertainty, target)


def recommend_as_of(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    as_of: np.ndarray,
    due: np.ndarray | None = None,
    **options,
) -> Recommendations:
    """`recommend` with each learner evaluated at its own time `as_of[i]`, as the workers rank
    (each learner as of its latest event): `recommend` takes one `now`, and forgetting depends
    only on now - last touched and what is due soon only on due - now, so each learner's
    last-touched and due times move by now - as_of[i]. `options` are `recommend`'s."""
    now = float(as_of.max()) if as_of.size else 0.0
    if due is not None:
        # inf stays inf (not due); none due at all: the plain path, which ranks faster
        due = due + (now - as_of)[:, None] if np.isfinite(due).any() else None
    return recommend(shifted_to(state, as_of, now), targets, model, now=now, due=due, **options)


def catalog_arrays(model: Model) -> tuple:
    """The catalog as the recommender's kernels take it (engine/kernels/recommend.py)."""
    return (model.learn, model.coverage, model.minutes, model.assessment, *model.covered, *model.required)


def needed_targets(
    mastery: np.ndarray, targets: np.ndarray, model: Model, prerequisite_threshold: float = RANKING_READY_MASTERY
) -> np.ndarray:
    """(L, M) the targets `recommend` ranks against: the role's `targets`, raised on points that
    a module of a point still short of its target requires (see the module docstring)."""
    mastery = np.ascontiguousarray(mastery, dtype=np.float64)
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    if mastery.shape != targets.shape or mastery.ndim != 2 or mastery.shape[1] != model.n_points:
        raise ValueError(f"mastery {mastery.shape} and targets {targets.shape} must both be (L, {model.n_points})")
    out = np.empty_like(mastery)
    needs_kernel(mastery, targets, *model.dependents, float(prerequisite_threshold), out)
    return out
