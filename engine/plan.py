"""The cost plan: how many training minutes each learner needs to reach their role's target, on
the model's own expectation, following the recommender or the role's course order.

A path starts from a belief about the learner's mastery as of `now`: its mean (draw 0) or a
draw from it (each point's Beta belief, engine/mastery.py), so the spread of minutes over the
draws is the uncertainty that comes from not knowing the learner's mastery exactly. A path
then takes one module at a time and applies it as a completion without a score through
`engine.apply_events` (the model's expected learning: the module's rate times the learner's
readiness; forgetting while it runs). Each learner trains `minutes_per_week` a week, so a
module of m minutes moves their clock by m / minutes_per_week weeks. A path reaches the target
when its shortfall loss sum max(0, T - K)^2 falls to `reach_share` of the loss it started with
(issue 15's measure), or to `reach_floor` (one point 5 points of mastery short: a path that
starts about at target is not held to 5% of almost nothing; 0 and 0: every point at its target, which forgetting towards 0 can make
unreachable: a role with twenty targeted points loses about as much a week as a few hours of
training give back). It also ends when it has trained `horizon_minutes` or taken `max_steps`
modules, or when the policy offers nothing.

- `adaptive`: the first teaching module (learn, review or mandatory) of `engine.recommend`'s
  plan, ranked as of the learner's latest event as the workers do, with the mandatory modules'
  due times when given (a module a path has taken is due no more). Assessments it would
  interleave measure rather than teach; they are not part of a path's minutes.
- `course_order`: the role's teaching modules (those covering a point the role targets) in
  catalog order, round again until the target is met.

Every path of a batch runs at once; to rank them all with one `now`, a path's clock is kept as
`now` and its past moved back instead (its last-touched times minus the time it has trained),
which is what forgetting sees (the workers' recommend_as_of shifts the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numba import prange

from engine.jit import inline, kernel, parallel_kernel
from engine.kernels.mastery import apply_event_kernel, forget_factor
from engine.kernels.recommend import ASSESS
from engine.mastery import _update_arrays, apply_events, decayed_belief
from engine.model import LAST_SEEN, MASTERY, RANKING_READY_MASTERY, READY_MASTERY, STATE_FIELDS, Kind, Model
from engine.recommend import DUE_WINDOW, recommend

WEEK = 7 * 86_400.0
COMPLETED = int(Kind.COMPLETED)
# A policy's next module per row (-1: none) and the rows' mastery as of now.
Choice = tuple[np.ndarray, np.ndarray]
# A draw's variance is at most this share of the largest a Beta of its mean can have (which
# would put all of it at 0 and 1).
VARIANCE_CAP = 0.9
# Where a path counts as at its target: the share of its starting loss left (issue 15's measure).
REACH_SHARE = 0.05
# ... or this gap score, whichever is larger: one point 0.05 below its target.
REACH_FLOOR = 0.05**2


@dataclass(frozen=True)
class Paths:
    """One path per row of the state it started from."""

    minutes: np.ndarray  # (N,) training minutes taken (to the target where `reached`)
    reached: np.ndarray  # (N,) bool: at target (see the module docstring) within the bounds
    stalled: np.ndarray  # (N,) bool: the policy offered nothing while short of the target
    takes: np.ndarray  # (N, Q) int32: times each module was taken
    order: np.ndarray  # (R, S) int32: the first R rows' modules in order, -1 past the end


def belief_draws(state: np.ndarray, model: Model, now: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws + 1, L, 3, M) states whose mastery as of `now` is the belief's mean (first) and then
    `draws` draws of each point's belief (engine/mastery.py: its mean and uncertainty).

    A draw replaces the stored mastery (before forgetting), so last-touched times and evidence
    stay the learner's own: forgetting and the recommender's view of the latest event are
    unchanged. Forgetting keeps a share f of the stored mastery, so the stored value is drawn
    from a Beta with its own mean and the variance (uncertainty / f)^2 (at most VARIANCE_CAP of
    the largest a Beta of that mean can have): as of `now` the draw has the belief's mean and,
    where the cap does not bind, its uncertainty, and it never passes f."""
    if draws < 0:
        raise ValueError("draws must be at least 0")
    state = np.ascontiguousarray(state, dtype=np.float64)
    out = np.repeat(state[None], draws + 1, axis=0)
    if draws:
        belief = decayed_belief(state, model, now)
        stored = np.clip(state[:, MASTERY, :], 1e-6, 1.0 - 1e-6)
        keep = np.clip(belief.mastery / stored, 1e-6, 1.0)
        widest = stored * (1.0 - stored)
        variance = np.minimum(np.square(belief.uncertainty / keep), VARIANCE_CAP * widest)
        concentration = widest / np.maximum(variance, 1e-12) - 1.0
        out[1:, :, MASTERY, :] = rng.beta(
            stored * concentration, (1.0 - stored) * concentration, (draws, *stored.shape)
        )
    return out


def course_modules(model: Model, targets: np.ndarray) -> np.ndarray:
    """(L, Q) bool: each learner's course: the teaching modules covering a point their role targets."""
    targets = np.asarray(targets, np.float64)
    teaching = ~model.assessment & (model.learn.sum(axis=1) > 0)
    covers = (model.coverage > 0).astype(np.int64) @ (targets > 0).T.astype(np.int64)  # (Q, L)
    return np.ascontiguousarray((covers > 0).T & teaching[None, :])


@dataclass(frozen=True)
class Bounds:
    """How far a path runs and what counts as reaching the target (see the module docstring)."""

    minutes_per_week: float
    horizon_minutes: float
    max_steps: int
    reach_share: float = REACH_SHARE
    reach_floor: float = REACH_FLOOR
    record_rows: int = 0  # the first this many rows keep their modules in order (`Paths.order`)

    def __post_init__(self) -> None:
        if not (self.minutes_per_week > 0 and self.horizon_minutes > 0 and self.max_steps >= 0):
            raise ValueError("minutes_per_week and horizon_minutes must be above 0, max_steps at least 0")
        if not (0.0 <= self.reach_share < 1.0 and self.reach_floor >= 0.0):
            raise ValueError("reach_share must be in [0, 1), reach_floor at least 0")


def adaptive(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    bounds: Bounds,
    k: int = 5,
    prerequisite_threshold: float = RANKING_READY_MASTERY,
    uncertainty_threshold: float = 0.15,
    due: np.ndarray | None = None,
    due_window: float = DUE_WINDOW,
) -> Paths:
    """Paths that follow the recommender (see the module docstring), one per row of `state`.

    due: (N, Q) when each module is due for each row (mandatory modules; np.inf: not due), as
    `engine.recommend` takes it: a path's due modules open its plans as their dates near, and a
    module a path has taken is due no more."""
    options = {
        "prerequisite_threshold": prerequisite_threshold,
        "uncertainty_threshold": uncertainty_threshold,
        "due_window": due_window,
    }
    pending = None if due is None else np.array(due, dtype=np.float64, order="C", copy=True)
    if pending is not None and pending.shape != (np.shape(state)[0], model.n_modules):
        raise ValueError(f"due has shape {pending.shape}, not ({np.shape(state)[0]}, {model.n_modules})")

    def choose(state: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> Choice:
        # The plan's first module is the best on its own (or the earliest due) whatever k is, so
        # a plan of one answers most rows; those it gives an assessment (or nothing) get the
        # workers' plan of k, where the first teaching module may come later.
        state, targets = state[rows], targets[rows]
        rows_due = None if pending is None else pending[rows]
        first = recommend(state, targets, model, now, k=1, due=rows_due, **options)
        chosen = _first_teaching(first.module, first.action.astype(np.int64))
        again = np.flatnonzero(chosen < 0)
        if again.size and k > 1:
            again_due = None if rows_due is None else rows_due[again]
            ranking = recommend(state[again], targets[again], model, now, k=k, due=again_due, **options)
            chosen[again] = _first_teaching(ranking.module, ranking.action.astype(np.int64))
        return chosen, first.mastery

    def taken(rows: np.ndarray, chosen: np.ndarray, seconds: np.ndarray) -> None:
        if pending is not None:  # due dates move back with the path's past; a taken module is done
            pending[rows] -= seconds[:, None]
            pending[rows, chosen] = np.inf

    return _walk(state, targets, model, now, bounds, choose, taken)


def course_order(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    bounds: Bounds,
) -> Paths:
    """Paths that take the role's modules in catalog order (see the module docstring): every
    path walked to its end in one parallel kernel (a path's next module does not depend on the
    others', unlike the recommender's arrays-at-a-time calls)."""
    start = _Start.of(state, targets, model, now, bounds)
    _course_kernel(
        start.state,
        start.targets,
        start.goal,
        course_modules(model, start.targets),
        float(now),
        WEEK / bounds.minutes_per_week,
        model.minutes,
        float(bounds.horizon_minutes),
        bounds.max_steps,
        start.paths.minutes,
        start.paths.reached,
        start.paths.stalled,
        start.paths.takes,
        start.paths.order,
        *_update_arrays(model, READY_MASTERY),
    )
    return start.paths


@dataclass(frozen=True)
class _Start:
    """A batch of paths before their first module: a copy of the state, the goal of each and
    the outputs to fill."""

    state: np.ndarray
    targets: np.ndarray
    goal: np.ndarray  # (N,) the gap score at which a path is at target
    paths: Paths

    @classmethod
    def of(cls, state, targets, model: Model, now: float, bounds: Bounds) -> _Start:
        state = np.array(state, dtype=np.float64, order="C", copy=True)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        n = state.shape[0]
        if state.ndim != 3 or targets.shape != (n, model.n_points) or state.shape[1:] != (STATE_FIELDS, model.n_points):
            raise ValueError(f"state {state.shape} and targets {targets.shape} do not match the model")
        if (bounds.horizon_minutes + model.minutes.max(initial=0.0)) * WEEK / bounds.minutes_per_week >= now:
            raise ValueError("the horizon at that pace reaches back before the epoch (the paths' clocks move back)")
        start = shortfall(decayed_belief(state, model, now).mastery, targets)
        goal = np.maximum(bounds.reach_share * start, bounds.reach_floor)
        paths = Paths(
            np.zeros(n),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
            np.zeros((n, model.n_modules), np.int32),
            np.full((min(bounds.record_rows, n), bounds.max_steps), -1, np.int32),
        )
        return cls(state, targets, goal, paths)


def _walk(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    bounds: Bounds,
    choose: Callable[[np.ndarray, np.ndarray, np.ndarray], Choice],
    taken: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
) -> Paths:
    """Every row's path at once, a step of all at a time; `choose(state, targets, rows)` gives the
    next module of each of `rows` (-1: nothing to offer) and their mastery as of now; then
    `taken(rows, modules, seconds)` hears what each path took and how long it trained."""
    start = _Start.of(state, targets, model, now, bounds)
    state, targets, goal = start.state, start.targets, start.goal
    minutes, reached, stalled = start.paths.minutes, start.paths.reached, start.paths.stalled
    takes, order = start.paths.takes, start.paths.order
    recorded_rows = order.shape[0]
    active = np.arange(state.shape[0])
    seconds_per_minute = WEEK / bounds.minutes_per_week
    for step in range(bounds.max_steps + 1):
        chosen, mastery = choose(state, targets, active)
        done = shortfall(mastery, targets[active]) <= goal[active]
        reached[active[done]] = True
        going = ~done & (minutes[active] < bounds.horizon_minutes)
        active, chosen = active[going], chosen[going]
        if active.size == 0 or step == bounds.max_steps:
            break
        none = chosen < 0
        stalled[active[none]] = True
        active, chosen = active[~none], chosen[~none]
        took = model.minutes[chosen]
        seconds = took * seconds_per_minute
        _age(state, active, seconds)
        taken(active, chosen, seconds)
        _apply_completions(state, model, active, chosen, now)
        minutes[active] += took
        takes[active, chosen] += 1
        recorded = active < recorded_rows
        order[active[recorded], step] = chosen[recorded]
    return start.paths


def _apply_completions(state, model, rows, modules, now) -> None:
    n = rows.shape[0]
    apply_events(
        state,
        model,
        rows,
        modules,
        np.full(n, int(Kind.COMPLETED)),
        np.full(n, np.nan),
        np.full(n, now),
        in_place=True,
    )


def shortfall(mastery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(L,) sum max(0, T - K)^2 per learner."""
    return np.square(np.maximum(targets - mastery, 0.0)).sum(axis=1)


@kernel
def _first_teaching(module, action):
    """(L,) the first module of each plan that teaches (not an assessment); -1 when none."""
    out = np.full(module.shape[0], -1, np.int64)
    for i in range(module.shape[0]):
        for s in range(module.shape[1]):
            if module[i, s] >= 0 and action[i, s] != ASSESS:
                out[i] = module[i, s]
                break
    return out


@inline
def _age_row(state, i, seconds):
    """Move row i's last-touched times back by `seconds` (its clock stays `now`)."""
    for j in range(state.shape[2]):
        if state[i, LAST_SEEN, j] > 0.0:
            state[i, LAST_SEEN, j] -= seconds


@kernel
def _age(state, rows, seconds):
    """Move the last-touched times of `rows` back by `seconds` (their clock stays `now`)."""
    for t in range(rows.shape[0]):
        _age_row(state, rows[t], seconds[t])


@parallel_kernel
def _course_kernel(
    state,
    targets,
    goal,
    course,
    now,
    seconds_per_minute,
    minutes,
    horizon,
    max_steps,
    out_minutes,
    out_reached,
    out_stalled,
    takes,
    order,
    update,
    threshold,
):
    """Walk every row's course-order path (see `course_order`); state changes in place."""
    half_life = update[8]
    n, q = course.shape
    for i in prange(n):
        last = -1
        spent = 0.0
        for step in range(max_steps + 1):
            loss = 0.0
            for j in range(state.shape[2]):
                p = state[i, MASTERY, j]
                if state[i, LAST_SEEN, j] > 0.0:
                    p *= forget_factor(now - state[i, LAST_SEEN, j], half_life[j])
                short = targets[i, j] - p
                if short > 0.0:
                    loss += short * short
            if loss <= goal[i]:
                out_reached[i] = True
                break
            if spent >= horizon or step == max_steps:
                break
            module = -1
            for ahead in range(1, q + 1):  # the next of the course after the last, from the start after its end
                m = (last + ahead) % q
                if course[i, m]:
                    module = m
                    break
            if module < 0:
                out_stalled[i] = True
                break
            _age_row(state, i, minutes[module] * seconds_per_minute)
            apply_event_kernel(
                state,
                i,
                module,
                COMPLETED,
                np.nan,
                now,
                update,
                threshold,
            )
            spent += minutes[module]
            takes[i, module] += 1
            if i < order.shape[0]:
                order[i, step] = module
            last = module
        out_minutes[i] = spent


@dataclass(frozen=True)
class Projection:
    """Both policies' paths from the same starting beliefs; row d * L + i is learner i's path
    from draw d (draw 0: the belief's mean)."""

    adaptive: Paths
    course_order: Paths
    learners: int
    draws: int  # paths per learner: the mean and draws - 1 draws

    def per_learner(self, values: np.ndarray) -> np.ndarray:
        """(draws, L, ...) from a per-row array."""
        return values.reshape(self.draws, self.learners, *values.shape[1:])


def project(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    bounds: Bounds,
    draws: int,
    seed: int = 0,
    k: int = 5,
    prerequisite_threshold: float = RANKING_READY_MASTERY,
    uncertainty_threshold: float = 0.15,
    due: np.ndarray | None = None,
    due_window: float = DUE_WINDOW,
) -> Projection:
    """Each learner's paths to target from the belief's mean and from `draws` draws of it, by the
    recommender and by course order (see the module docstring). The mean's paths keep their
    modules in order (`bounds.record_rows` is set to the learners). `due`: (L, Q) as `adaptive`
    takes it, per learner."""
    start = belief_draws(state, model, now, draws, np.random.default_rng(seed))
    n = start.shape[1]
    start = start.reshape(-1, STATE_FIELDS, model.n_points)
    targets = np.tile(np.asarray(targets, np.float64), (draws + 1, 1))
    bounds = replace(bounds, record_rows=n)
    return Projection(
        adaptive(
            start,
            targets,
            model,
            now,
            bounds,
            k,
            prerequisite_threshold,
            uncertainty_threshold,
            None if due is None else np.tile(np.asarray(due, np.float64), (draws + 1, 1)),
            due_window,
        ),
        course_order(start, targets, model, now, bounds),
        n,
        draws + 1,
    )
