"""Synthetic learner activity drawn from a Model with known parameters (for demos,
tests and benchmarks). The random generator is passed in; nothing else is read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.jit import kernel
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
        learner.astype(np.int64),
        module.astype(np.int64),
        kind.astype(np.int64),
        score.astype(np.float64),
        time.astype(np.float64),
        mastered,
    )


@dataclass(frozen=True)
class SimulatedObservations:
    """Rows of pyBKT-style data: one scored attempt each, in the order they happened."""

    learner: np.ndarray  # (N,)
    point: np.ndarray  # (N,)
    resource: np.ndarray  # (N,) the module used at that attempt (drives learning after it)
    correct: np.ndarray  # (N,) 0.0 or 1.0
    order: np.ndarray  # (N,) 0..N-1: rows are already in this order


@kernel
def _bkt_sequences(prior, learn, forget, guess, slip, lengths, seed, point, resource, correct):
    """Fill rows sequence by sequence (learner-major, then point) from the BKT generative model."""
    np.random.seed(seed)
    n_learners, n_points = lengths.shape
    n_resources = learn.shape[1]
    k = 0
    for i in range(n_learners):
        for p in range(n_points):
            mastered = np.random.random() < prior[p]
            for _ in range(lengths[i, p]):
                r = np.random.randint(0, n_resources)
                right_p = 1.0 - slip[p] if mastered else guess[p]
                point[k] = p
                resource[k] = r
                correct[k] = 1.0 if np.random.random() < right_p else 0.0
                if mastered:
                    mastered = np.random.random() >= forget[p]
                else:
                    mastered = np.random.random() < learn[p, r]
                k += 1


def simulate_observations(
    prior: np.ndarray,
    learn: np.ndarray,
    forget: np.ndarray,
    guess: np.ndarray,
    slip: np.ndarray,
    n_learners: int,
    attempts: tuple[int, int],
    rng: np.random.Generator,
) -> SimulatedObservations:
    """Every learner works on every point for between attempts[0] and attempts[1] attempts,
    each with a resource drawn uniformly; a learner's points are interleaved at random."""
    n_points = prior.shape[0]
    lengths = rng.integers(attempts[0], attempts[1] + 1, (n_learners, n_points))
    n = int(lengths.sum())
    point = np.empty(n, np.int64)
    resource = np.empty(n, np.int64)
    correct = np.empty(n)
    _bkt_sequences(
        *(np.ascontiguousarray(a, dtype=np.float64) for a in (prior, learn, forget, guess, slip)),
        lengths,
        int(rng.integers(2**31)),
        point,
        resource,
        correct,
    )
    learner = np.repeat(np.arange(n_learners), lengths.sum(axis=1))
    # Interleave a learner's points: random times, sorted within each sequence to keep its order.
    sequence = np.repeat(np.arange(n_learners * n_points), lengths.ravel())
    # Rows are grouped by sequence in ascending order, so sorting (sequence + u) keeps each
    # sequence's block in place and sorts its times.
    when = np.sort(sequence + rng.random(n)) - sequence
    rows = np.lexsort((when, learner))
    return SimulatedObservations(learner[rows], point[rows], resource[rows], correct[rows], np.arange(n))
