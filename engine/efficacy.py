"""Efficacy simulator: how many training minutes each policy needs to bring learners to
their role's target, in a world whose true parameters differ from the model's.

The world (`draw_world`) perturbs the model: per module and point, and per learner, the
learning rates; starting mastery by role with individual spread; guess, slip and forgetting;
and prerequisites that slow learning (a module teaches at a share of its rate that grows with
the learner's true mastery of the prerequisites of every point it covers). True mastery is a probability that learning
moves as K + (1 - K) rate and forgetting pulls back towards the learner's starting mastery.

A policy picks each learner's next module from what it may know: the model and the events it
has seen (SkillGap, to-target, random eligible, course order) or the true state (oracle). A
learner trains `minutes_per_day` a day; a module of m minutes takes m / minutes_per_day days
(forgetting runs meanwhile). After each module the world emits the event the LMS would send
(graded with a score drawn item by item from the true mastery, or completed without one),
which policies that read events apply with `engine.apply_events`. A learner is done when the
true loss sum max(0, T - K)^2 falls to `reach_share` of its start; the minutes it took count,
capped at `cap_minutes`. A learner for whom the policy offers nothing stops there (and counts
as not reached): `stopped` while truly short of the goal, a `stall` when even the engine's
estimate from the events still shows a gap to target.

Mandatory modules (`due`: when each is due for each learner, as the workers pass them) bind
every policy alike: SkillGap passes them to `engine.recommend_as_of` as the workers do, and the
other policies follow the engine's rule (`honouring_due`: a module due within the window, or
overdue, comes first), so the figures compare the recommenders, not compliance. A module
taken is due no more.

SkillGap runs a second time told the world's true learning rates (`told_rates`: per module and
point, as a perfect fit of the catalog from the cohort's log would give them; not the learner's
pace nor their mastery), in its updates and its ranking: `skillgap_told_rates`, what better
rates alone are worth in this world.

No I/O: `run_efficacy` returns figures; the launcher's `bench/efficacy.py` prints them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.mastery import apply_events, decayed_belief, shifted_to
from engine.model import Kind, Model, new_state
from engine.recommend import DUE_WINDOW, recommend_as_of

DAY = 86_400.0
START = 1.7e9


@dataclass(frozen=True)
class Spread:
    """How far the true world strays from the model (log-normal sigmas and absolute shifts)."""

    module_rate: float = 0.4  # per module and point
    learner_rate: float = 0.3  # per learner, on every rate
    prior: float = 0.3  # per point, on the starting mastery's mean
    role_head_start: float = 0.2  # starting mastery's mean rises by this x the role's target
    start_concentration: float = 6.0  # Beta concentration of a learner's starting mastery
    guess_slip: float = 0.05  # uniform shift of guess and slip
    half_life: float = 0.3
    prerequisite_floor: float = 0.25  # share of the rate learnt with no mastery of a prerequisite
    prerequisite_full: float = 0.7  # true mastery of a prerequisite at which the rate is whole
    assessment_learning: float = 0.2  # share of its rate an assessment truly teaches (it mostly measures)


@dataclass(frozen=True)
class World:
    """The hidden truth for L learners."""

    learn: np.ndarray  # (Q, M) true rate per module and point
    speed: np.ndarray  # (L,) learner's factor on every rate
    start: np.ndarray  # (L, M) true starting mastery
    guess: np.ndarray  # (M,)
    slip: np.ndarray  # (M,)
    half_life: np.ndarray  # (M,) seconds
    requires: np.ndarray  # (Q, M) bool: the points whose true mastery a module's learning depends on
    targets: np.ndarray  # (L, M) the learner's role targets
    roles: np.ndarray  # (L,) role index
    prerequisite_floor: float
    prerequisite_full: float


def draw_world(model: Model, roles: np.ndarray, rng: np.random.Generator, spread: Spread = Spread()) -> World:
    roles = np.asarray(roles, np.int64)
    n, (q, m) = roles.shape[0], model.learn.shape
    learn = np.clip(model.learn * rng.lognormal(0.0, spread.module_rate, (q, m)), 0.0, 0.95)
    learn[model.assessment] *= spread.assessment_learning
    targets = model.targets[roles]
    mean = np.clip(model.prior * rng.lognormal(0.0, spread.prior, m) + spread.role_head_start * targets, 0.02, 0.9)
    start = rng.beta(mean * spread.start_concentration, (1.0 - mean) * spread.start_concentration)
    shift = spread.guess_slip
    return World(
        learn=learn,
        speed=rng.lognormal(0.0, spread.learner_rate, n),
        start=start,
        guess=np.clip(model.guess + rng.uniform(-shift, shift, m), 0.01, 0.49),
        slip=np.clip(model.slip + rng.uniform(-shift, shift, m), 0.01, 0.49),
        half_life=model.half_life * rng.lognormal(0.0, spread.half_life, m),
        requires=true_requirements(model),
        targets=targets,
        roles=roles,
        prerequisite_floor=spread.prerequisite_floor,
        prerequisite_full=spread.prerequisite_full,
    )


def true_requirements(model: Model) -> np.ndarray:
    """(Q, M) the prerequisites of every point a module covers, the module's own points aside
    (the catalog's graph, not the engine's rule of the points a module mainly trains); the
    model's requirements when it has no graph."""
    if not model.prerequisites.any():
        return model.requires
    covered = model.coverage > 0
    return ((covered.astype(np.int64) @ model.prerequisites.astype(np.int64)) > 0) & ~covered


def told_rates(model: Model, world: World) -> Model:
    """`model` with the world's true learning rate per module and point in place of the catalog's."""
    return dataclasses.replace(model, learn=world.learn)


def true_loss(mastery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return (np.maximum(targets - mastery, 0.0) ** 2).sum(axis=-1)


def prerequisite_factor(world: World, model: Model, mastery: np.ndarray, module: np.ndarray) -> np.ndarray:
    """(n,) share of its rate module[i] teaches learner i: the weakest required point's true
    mastery, from `prerequisite_floor` at 0 to whole at `prerequisite_full` and above."""
    ready = world.prerequisite_floor + (1.0 - world.prerequisite_floor) * np.minimum(
        mastery / world.prerequisite_full, 1.0
    )
    return np.where(world.requires[module], ready, 1.0).min(axis=1)


@dataclass
class Learners:
    """What a policy may read about the learners still training (rows of the full run)."""

    rows: np.ndarray  # (n,) learner indexes
    state: np.ndarray  # (n, 3, M) the engine's state from the events seen so far
    now: np.ndarray  # (n,) seconds
    mastery: np.ndarray  # (n, M) true mastery (only the oracle may read it)
    last: np.ndarray  # (n,) module each took last, -1 before the first
    due: np.ndarray  # (n, Q) when each module is due for each (seconds), inf: not mandatory or taken


Policy = Callable[[Model, World, Learners, np.random.Generator], np.ndarray]


def teaching(model: Model) -> np.ndarray:
    return ~model.assessment & (model.learn.sum(axis=1) > 0)


def course_order(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
    """The role's modules (every module covering a point of its targets) in catalog order, round again."""
    relevant = (model.coverage > 0) @ (world.targets[learners.rows] > 0).T.astype(np.int64)  # (Q, n)
    out = np.empty(learners.rows.shape[0], np.int64)
    for i in range(out.shape[0]):
        modules = np.flatnonzero(relevant[:, i])
        if modules.size == 0:
            out[i] = -1
            continue
        later = modules[modules > learners.last[i]]
        out[i] = later[0] if later.size else modules[0]
    return out


def point_order(model: Model) -> np.ndarray:
    """Points in prerequisite order (each after the points it builds on); ties by index."""
    prerequisites = model.prerequisites
    m = model.n_points
    placed = np.zeros(m, bool)
    order = []
    while len(order) < m:
        ready = [j for j in range(m) if not placed[j] and placed[prerequisites[j]].all()]
        if not ready:  # a cycle: place the rest by index
            ready = [j for j in range(m) if not placed[j]]
        for j in ready:
            placed[j] = True
            order.append(j)
    return np.array(order, np.int64)


def estimated(model: Model, learners: Learners) -> np.ndarray:
    """The engine's estimate of each learner's mastery as of its own time."""
    now = float(learners.now.max()) if learners.now.size else 0.0
    return decayed_belief(shifted_to(learners.state, learners.now, now), model, now).mastery


def to_target(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
    """The first point in prerequisite order whose estimate is below target, by the teaching
    module with the highest rate per minute on it."""
    mastery = estimated(model, learners)
    targets = world.targets[learners.rows]
    order = point_order(model)
    per_minute = np.where(teaching(model)[:, None], model.learn, 0.0) / model.minutes[:, None]
    out = np.full(learners.rows.shape[0], -1, np.int64)
    short = mastery[:, order] < targets[:, order]
    for i in np.flatnonzero(short.any(axis=1)):
        j = order[np.argmax(short[i])]
        out[i] = int(np.argmax(per_minute[:, j]))
    return out


def random_eligible(
    model: Model, world: World, learners: Learners, rng: np.random.Generator, threshold: float = 0.6
) -> np.ndarray:
    """A random teaching module that raises a point below target, among those whose required
    points are estimated at `threshold` or above."""
    mastery = estimated(model, learners)
    below = mastery < world.targets[learners.rows]
    useful = (below[:, None, :] & (model.learn[None] > 0)).any(axis=2) & teaching(model)[None]
    blocked = (model.requires[None] & (mastery[:, None, :] < threshold)).any(axis=2)
    out = np.full(learners.rows.shape[0], -1, np.int64)
    for i, row in enumerate(useful & ~blocked):
        choices = np.flatnonzero(row)
        if choices.size:
            out[i] = rng.choice(choices)
    return out


def oracle(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
    """Knows the true mastery, rates and prerequisite effect: the module that cuts the true
    loss most per minute."""
    mastery = learners.mastery
    n, q = mastery.shape[0], model.n_modules
    targets = world.targets[learners.rows]
    before = true_loss(mastery, targets)
    best = np.full(n, -1, np.int64)
    best_value = np.zeros(n)
    speed = world.speed[learners.rows]
    for module in range(q):
        factor = prerequisite_factor(world, model, mastery, np.full(n, module))
        rate = np.minimum(world.learn[module][None, :] * (speed * factor)[:, None], 1.0)
        value = (before - true_loss(mastery + (1.0 - mastery) * rate, targets)) / model.minutes[module]
        better = value > best_value
        best[better], best_value[better] = module, value[better]
    return best


def never_trains(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
    """Takes the first assessment over and over (for tests: learns next to nothing)."""
    return np.full(learners.rows.shape[0], int(np.argmax(model.assessment)), np.int64)


def honouring_due(policy: Policy, window: float = DUE_WINDOW) -> Policy:
    """`policy`, except that a module due within `window` seconds of the learner's time, or
    overdue, comes first, the earliest due first (module order among equals): the rule
    `engine.recommend` applies to mandatory modules, for the policies that do not rank
    through it."""

    def choose(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
        chosen = np.asarray(policy(model, world, learners, rng), np.int64).copy()
        soon = learners.due <= (learners.now + window)[:, None]
        first = np.argmin(np.where(soon, learners.due, np.inf), axis=1)
        bound = soon.any(axis=1)
        chosen[bound] = first[bound]
        return chosen

    return choose


def skillgap(**options) -> Policy:
    """The engine's top recommendation, through the call the workers make
    (`engine.recommend_as_of` with the workers' options and the learners' due times)."""

    def choose(model: Model, world: World, learners: Learners, rng: np.random.Generator) -> np.ndarray:
        targets = world.targets[learners.rows]
        ranking = recommend_as_of(learners.state, targets, model, learners.now, learners.due, **options)
        return ranking.module[:, 0].copy()

    return choose


@dataclass(frozen=True)
class Outcome:
    """Per learner, one policy's run."""

    minutes: np.ndarray  # (L,) minutes to reach, cap_minutes where not reached
    reached: np.ndarray  # (L,) bool
    stalled: np.ndarray  # (L,) bool: the policy offered nothing while the estimated gap was above 0
    stopped: np.ndarray  # (L,) bool: the policy offered nothing while truly short of the goal
    loss_at: dict[int, np.ndarray]  # checkpoint minutes -> (L,) true loss then
    start_loss: np.ndarray  # (L,)
    picks: np.ndarray  # (L,) modules taken
    assessments: np.ndarray  # (L,) of which assessments
    late: np.ndarray  # (L,) mandatory modules finished after their due time, or due while training and never taken


def run_policy(
    model: Model,
    world: World,
    policy: Policy,
    rng: np.random.Generator,
    cap_minutes: float = 6000.0,
    minutes_per_day: float = 60.0,
    reach_share: float = 0.05,
    checkpoints: tuple[int, ...] = (300, 600, 1200),
    graded_share: float = 0.5,
    items: int = 10,
    due: np.ndarray | None = None,
) -> Outcome:
    """`due`: (L, Q) when each module is due for each learner (seconds since the epoch; learners
    start at START), inf where it is not mandatory; None: no module is."""
    n = world.speed.shape[0]
    mastery = world.start.copy()
    due = np.full((n, model.n_modules), np.inf) if due is None else np.array(due, np.float64)
    state = new_state(model, n)
    minutes = np.zeros(n)
    start_loss = true_loss(mastery, world.targets)
    goal = reach_share * start_loss
    reached = start_loss <= goal
    stalled = np.zeros(n, bool)
    stopped = np.zeros(n, bool)
    last = np.full(n, -1, np.int64)
    picks = np.zeros(n, np.int64)
    assessments = np.zeros(n, np.int64)
    late = np.zeros(n, np.int64)
    loss_at = {c: start_loss.copy() for c in checkpoints}
    active = ~reached
    while active.any():
        rows = np.flatnonzero(active)
        now = START + minutes[rows] / minutes_per_day * DAY
        learners = Learners(rows, state[rows], now, mastery[rows], last[rows], due[rows])
        chosen = np.asarray(policy(model, world, learners, rng), np.int64)
        none = chosen < 0
        if none.any():
            stopped[rows[none]] = True
            shown = Learners(
                rows[none], state[rows[none]], now[none], mastery[rows[none]], last[rows[none]], due[rows[none]]
            )
            stalled[rows[none]] = true_loss(estimated(model, shown), world.targets[rows[none]]) > 0
        rows, chosen, now = rows[~none], chosen[~none], now[~none]
        if rows.size == 0:
            break
        took = model.minutes[chosen]
        # Forgetting while the module runs (towards the starting mastery), then its learning.
        keep = 2.0 ** (-(took / minutes_per_day * DAY)[:, None] / world.half_life[None, :])
        k = world.start[rows] + (mastery[rows] - world.start[rows]) * keep
        factor = prerequisite_factor(world, model, k, chosen)
        rate = np.minimum(world.learn[chosen] * (world.speed[rows] * factor)[:, None], 1.0)
        score = observed_score(model, world, k, chosen, items, rng)
        k = k + (1.0 - k) * rate
        mastery[rows] = k
        graded = model.assessment[chosen] | (rng.random(rows.size) < graded_share)
        finished = now + took / minutes_per_day * DAY
        apply_events(
            state,
            model,
            rows,
            chosen,
            np.where(graded, Kind.GRADED, Kind.COMPLETED),
            np.where(graded, score, np.nan),
            finished,
            in_place=True,
        )
        late[rows] += due[rows, chosen] < finished
        minutes[rows] += took
        last[rows] = chosen
        due[rows, chosen] = np.inf
        picks[rows] += 1
        assessments[rows] += model.assessment[chosen]
        loss = true_loss(k, world.targets[rows])
        for c in checkpoints:
            not_yet = minutes[rows] <= c
            loss_at[c][rows[not_yet]] = loss[not_yet]
        done = (loss <= goal[rows]) & (minutes[rows] <= cap_minutes)
        reached[rows[done]] = True
        active = ~reached & ~stopped & (minutes < cap_minutes)
    late += (due < (START + minutes / minutes_per_day * DAY)[:, None]).sum(axis=1)
    final = true_loss(mastery, world.targets)
    for c in checkpoints:  # learners that stopped before c stay where they stopped
        early = minutes < c
        loss_at[c][early] = final[early]
    return Outcome(
        np.where(reached, minutes, cap_minutes),
        reached,
        stalled,
        stopped,
        loss_at,
        start_loss,
        picks,
        assessments,
        late,
    )


def observed_score(
    model: Model, world: World, mastery: np.ndarray, module: np.ndarray, items: int, rng: np.random.Generator
) -> np.ndarray:
    """The share of `items` answered right on each module, items spread over its points by
    coverage. At each module the learner shows a point mastered with its true probability;
    items are then right with the true 1 - slip when it is, guess when not."""
    coverage = model.coverage[module]
    shows = rng.random(mastery.shape) < mastery
    right = np.where(shows, 1.0 - world.slip, world.guess)
    share = rng.binomial(items, right) / items
    return np.round((coverage * share).sum(axis=1) / coverage.sum(axis=1), 4)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


def mean_interval(x: np.ndarray) -> Interval:
    """Mean with a normal 95% interval."""
    x = np.asarray(x, np.float64)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else 0.0
    return Interval(float(x.mean()), float(x.mean() - half), float(x.mean() + half))


def ratio_interval(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, rounds: int = 1000) -> Interval:
    """mean(a) / mean(b) over the same learners, with a paired bootstrap 95% interval."""
    n = a.shape[0]
    draws = rng.integers(0, n, (rounds, n))
    ratios = a[draws].mean(axis=1) / np.maximum(b[draws].mean(axis=1), 1e-12)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return Interval(float(a.mean() / max(b.mean(), 1e-12)), float(low), float(high))


POLICIES: Mapping[str, Policy] = {
    "course_order": course_order,
    "to_target": to_target,
    "random_eligible": random_eligible,
    "oracle": oracle,
}


@dataclass(frozen=True)
class Report:
    outcomes: dict[str, Outcome]
    roles: np.ndarray  # (L,)
    cap_minutes: float
    lines: list[tuple[str, object]] = field(default_factory=list)


def run_efficacy(
    model: Model,
    roles: np.ndarray,
    seed: int,
    recommend_options: Mapping[str, object],
    role_names: list[str] | None = None,
    spread: Spread = Spread(),
    **run_options,
) -> Report:
    """Every policy on the same world and learners (`roles` (L,): each learner's role); the
    figures as (name, value) lines. `run_options` go to `run_policy` (`due`: the learners'
    mandatory modules, which every policy meets within the ranking's `due_window`)."""
    world = draw_world(model, roles, np.random.default_rng(seed), spread)
    window = float(recommend_options.get("due_window", DUE_WINDOW))
    policies = {name: honouring_due(policy, window) for name, policy in POLICIES.items()}
    policies["skillgap"] = skillgap(**recommend_options)
    outcomes = {
        name: run_policy(model, world, policy, np.random.default_rng([seed, index]), **run_options)
        for index, (name, policy) in enumerate(policies.items())
    }
    outcomes["skillgap_told_rates"] = run_policy(
        told_rates(model, world),
        world,
        policies["skillgap"],
        np.random.default_rng([seed, len(policies)]),
        **run_options,
    )
    cap = float(run_options.get("cap_minutes", 6000.0))
    report = Report(outcomes, world.roles, cap)
    lines = report.lines
    rng = np.random.default_rng([seed, 99])
    lines.append(("learners", int(roles.shape[0])))
    for name, outcome in outcomes.items():
        minutes = mean_interval(outcome.minutes)
        reach = mean_interval(outcome.reached.astype(np.float64))
        lines += [
            (f"{name}_minutes_mean", minutes.value),
            (f"{name}_minutes_ci95", (minutes.low, minutes.high)),
            (f"{name}_minutes_median", float(np.median(outcome.minutes))),
            (f"{name}_reach_rate", reach.value),
            (f"{name}_reach_rate_ci95", (reach.low, reach.high)),
            (f"{name}_stalls", int(outcome.stalled.sum())),
            (f"{name}_stopped_short", int(outcome.stopped.sum())),
            (f"{name}_assessment_share", float(outcome.assessments.sum() / max(outcome.picks.sum(), 1))),
            (f"{name}_mandatory_late", int(outcome.late.sum())),
        ]
        for c, loss in outcome.loss_at.items():
            lines.append((f"{name}_loss_share_after_{c}_min", float(loss.sum() / max(outcome.start_loss.sum(), 1e-12))))
    reach_below = outcomes["oracle"].reached.mean() - outcomes["skillgap"].reached.mean()
    lines.append(("skillgap_reach_below_oracle", float(reach_below)))
    ours = outcomes["skillgap"].minutes
    for other in ("course_order", "to_target", "oracle"):
        r = ratio_interval(ours, outcomes[other].minutes, rng)
        lines += [(f"skillgap_over_{other}", r.value), (f"skillgap_over_{other}_ci95", (r.low, r.high))]
    told = outcomes["skillgap_told_rates"].minutes
    for other in ("to_target", "oracle"):
        lines.append((f"skillgap_told_rates_over_{other}", float(told.mean() / outcomes[other].minutes.mean())))
    names = role_names or [str(r) for r in range(int(roles.max()) + 1)]
    for r, role in enumerate(names):
        mine = world.roles == r
        if not mine.any():
            continue
        for name, outcome in outcomes.items():
            lines.append((f"role.{role}.{name}_minutes_mean", float(outcome.minutes[mine].mean())))
            lines.append((f"role.{role}.{name}_reach_rate", float(outcome.reached[mine].mean())))
        for other in ("course_order", "to_target", "oracle"):
            ratio = ours[mine].mean() / outcomes[other].minutes[mine].mean()
            lines.append((f"role.{role}.skillgap_over_{other}", float(ratio)))
        told_ratio = told[mine].mean() / outcomes["to_target"].minutes[mine].mean()
        lines.append((f"role.{role}.skillgap_told_rates_over_to_target", float(told_ratio)))
        lines.append((f"role.{role}.skillgap_stalls", int(outcomes["skillgap"].stalled[mine].sum())))
    return report


if __name__ == "__main__":
    # `python -m engine.efficacy` (issue 15's name for it) runs bench.efficacy: the engine
    # prints nothing and the default catalog and settings it needs live above it.
    import runpy

    runpy.run_module("bench.efficacy", run_name="__main__", alter_sys=True)
