"""Synthetic learner activity drawn from a Model with known parameters (for demos,
tests and benchmarks). The random generator is passed in; nothing else is read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.model import KIND_LEARN, Kind, Model

GRADED_METHODS_SHARE = 0.5  # share of non-quiz activities that come with a grade


@dataclass(frozen=True)
class SimulatedActivity:
    learner: np.ndarray  # (E,) learner index
    module: np.ndarray  # (E,)
    kind: np.ndarray  # (E,) Kind codes
    score: np.ndarray  # (E,) NaN where the event carries none
    time: np.ndarray  # (E,) seconds since the epoch, increasing per learner
    mastered: np.ndarray  # (L, M) the true (hidden) state after the activity


def simulate_activity(
    model: Model,
    learner_roles: np.ndarray,
    activities_per_learner: int,
    rng: np.random.Generator,
    start: float,
    end: float,
    quiz_modules: np.ndarray | None = None,
    items_per_assessment: int = 10,
) -> SimulatedActivity:
    """Each learner takes `activities_per_learner` modules, mostly ones relevant to their role.

    `quiz_modules` (bool, Q) marks assessments: they are always graded. A grade is the share
    of `items_per_assessment` items answered correctly, each item right with probability
    1 - slip when the point is mastered and guess when not.
    """
    n_learners = learner_roles.shape[0]
    n_modules, n_points = model.learn.shape
    quiz = np.zeros(n_modules, bool) if quiz_modules is None else np.asarray(quiz_modules, bool)
    mastered = rng.random((n_learners, n_points)) < model.prior
    rows = []
    for i in range(n_learners):
        relevant = np.flatnonzero((model.coverage * (model.targets[learner_roles[i]] > 0)).sum(axis=1) > 0)
        times = np.sort(rng.uniform(start, end, activities_per_learner))
        for t in times:
            pool = relevant if relevant.size and rng.random() < 0.8 else np.arange(n_modules)
            q = int(rng.choice(pool))
            if quiz[q] or rng.random() < GRADED_METHODS_SHARE:
                kind = Kind.GRADED
            else:
                kind = Kind.VIEWED if rng.random() < 0.2 else Kind.COMPLETED
            score = np.nan
            covered = np.flatnonzero(model.coverage[q] > 0)
            if kind == Kind.GRADED:
                weights = model.coverage[q, covered]
                p_right = np.where(mastered[i, covered], 1.0 - model.slip[covered], model.guess[covered])
                right = rng.binomial(items_per_assessment, p_right) / items_per_assessment
                score = float(np.round(np.average(right, weights=weights), 4))
            learns = rng.random(covered.size) < model.learn[q, covered] * KIND_LEARN[kind]
            mastered[i, covered] |= learns
            rows.append((i, q, int(kind), score, float(t)))
    if not rows:
        empty = np.empty(0, np.int64)
        return SimulatedActivity(empty, empty, empty, np.empty(0), np.empty(0), mastered)
    learner, module, kind, score, time = (np.array(col) for col in zip(*rows))
    return SimulatedActivity(
        learner.astype(np.int64), module.astype(np.int64), kind.astype(np.int64),
        score.astype(np.float64), time.astype(np.float64), mastered,
    )  # fmt: skip
