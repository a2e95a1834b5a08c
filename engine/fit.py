"""Fitting the mastery model to history: EM per knowledge point (engine/kernels/fit.py).

Input is plain arrays, one row per observation or activity: learner, knowledge point,
resource (the module, or 0 for all when rates are not per module), score in [0, 1] (NaN for
an activity without a score) and an order key (a time or a sequence number). The same call
serves pyBKT-format CSVs (skillgap/bkt_csv.py) and the event log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.jit import dynamic_schedule
from engine.kernels.fit import em_kernel, group_rows, predict_kernel, resource_learners

DEFAULT_START = {"prior": 0.3, "forget": 0.02, "guess": 0.2, "slip": 0.1, "learn": 0.1}


@dataclass(frozen=True)
class FittedParameters:
    """Per knowledge point p and resource r; rates are per observation (pyBKT's convention)."""

    prior: np.ndarray  # (P,) P(mastered) before the first observation
    learn: np.ndarray  # (P, R) P(U -> M) after using resource r: the module's effectiveness
    forget: np.ndarray  # (P,) P(M -> U) between two observations (0 unless fitted)
    guess: np.ndarray  # (P,)
    slip: np.ndarray  # (P,)
    learn_se: np.ndarray  # (P, R) standard error of learn (binomial, on the expected transitions)
    learners: np.ndarray  # (P, R) learners whose data carry each rate; 0: rate not identified
    observations: np.ndarray  # (P,) scored rows
    log_likelihood: np.ndarray  # (P,)
    iterations: np.ndarray  # (P,) EM iterations run

    @classmethod
    def initial(cls, prior, learn, forget, guess, slip) -> FittedParameters:
        """Parameters to start EM from (a warm start), with no fit statistics."""
        prior, forget, guess, slip = (np.asarray(a, dtype=np.float64) for a in (prior, forget, guess, slip))
        learn = np.asarray(learn, dtype=np.float64)
        zeros = np.zeros(prior.shape[0])
        return cls(prior, learn, forget, guess, slip, np.zeros_like(learn), np.zeros(learn.shape, np.int64),
                   zeros.astype(np.int64), zeros, zeros.astype(np.int64))  # fmt: skip

    @property
    def n_points(self) -> int:
        return self.prior.shape[0]

    def half_life(self, seconds_between_observations: float) -> np.ndarray:
        """(P,) the online model's half-life (seconds) for this per-observation forget rate,
        for observations that far apart; inf where nothing is forgotten."""
        with np.errstate(divide="ignore"):
            return np.where(
                self.forget > 0.0, seconds_between_observations * np.log(2.0) / -np.log1p(-self.forget), np.inf
            )

    def packed(self) -> np.ndarray:
        """(P, 4 + R): prior, forget, guess, slip, learn per resource (the kernels' layout)."""
        return np.ascontiguousarray(
            np.column_stack([self.prior, self.forget, self.guess, self.slip, self.learn]), dtype=np.float64
        )


@dataclass(frozen=True)
class Observations:
    """Validated rows grouped into (point, learner) sequences: the kernels read resource and
    score in sequence order, contiguously."""

    order: np.ndarray  # row numbers sorted by (point, learner, order key)
    resource: np.ndarray  # resource[order], int32
    score: np.ndarray  # score[order]
    starts: np.ndarray  # sequence s is positions starts[s]:starts[s + 1]
    first: np.ndarray  # sequences of point p are first[p]:first[p + 1]
    scored: np.ndarray  # (P,) rows with a score per point
    n_points: int
    n_resources: int


def _codes(name: str, values: np.ndarray, n: int, size: int | None) -> tuple[np.ndarray, int]:
    values = np.ascontiguousarray(values, dtype=np.int64)
    if values.shape != (n,):
        raise ValueError(f"{name} has shape {values.shape}, not ({n},)")
    if n and values.min() < 0:
        raise ValueError(f"{name} codes must be non-negative")
    top = int(values.max()) + 1 if n else 0
    if size is None:
        size = top
    elif top > size:
        raise ValueError(f"{name} code {top - 1} is outside 0..{size - 1}")
    return values, size


def observations(
    learner: np.ndarray,
    point: np.ndarray,
    resource: np.ndarray | None,
    score: np.ndarray,
    order_key: np.ndarray | None = None,
    n_points: int | None = None,
    n_resources: int | None = None,
) -> Observations:
    """Check and group rows. Rows with equal order keys keep their given order."""
    score = np.ascontiguousarray(score, dtype=np.float64)
    n = score.shape[0]
    if score.ndim != 1:
        raise ValueError("score must be one-dimensional")
    scored = ~np.isnan(score)
    if np.any((score[scored] < 0.0) | (score[scored] > 1.0)):
        raise ValueError("score outside [0, 1]")
    learner, n_learners = _codes("learner", learner, n, None)
    point, n_points = _codes("point", point, n, n_points)
    if resource is None:
        resource = np.zeros(n, np.int64)
    resource, n_resources = _codes("resource", resource, n, n_resources)
    n_resources = max(n_resources, 1)
    order_key = None if order_key is None else np.asarray(order_key)
    if order_key is not None and order_key.shape != (n,):
        raise ValueError(f"order has shape {order_key.shape}, not ({n},)")
    if order_key is not None and n > 1 and np.any(order_key[1:] < order_key[:-1]):
        by_key = np.argsort(order_key, kind="stable")
        # Group the key-sorted rows, then map positions back to the caller's row numbers.
        order, starts, first = group_rows(learner[by_key], point[by_key], n_learners, n_points)
        order = by_key[order]
    else:
        order, starts, first = group_rows(learner, point, n_learners, n_points)
    return Observations(
        order, resource.astype(np.int32)[order], score[order], starts, first,
        np.bincount(point[scored], minlength=n_points), n_points, n_resources,
    )  # fmt: skip


def fit(
    data: Observations,
    forgets: bool = True,
    max_iter: int = 200,
    tol: float = 1e-6,
    start: FittedParameters | None = None,
) -> FittedParameters:
    """Maximum-likelihood BKT parameters per point by EM, points in parallel.

    Iterates until an iteration improves a point's log-likelihood by less than `tol` times
    its magnitude (1e-6: held-out AUC and recovered parameters no longer move), or `max_iter`. Starts from DEFAULT_START or from `start` (a previous fit: warm start).
    """
    n_points, n_resources = data.n_points, data.n_resources
    if start is not None:
        params = np.nan_to_num(start.packed(), nan=DEFAULT_START["learn"])
        if params.shape != (n_points, 4 + n_resources):
            raise ValueError(f"start has {params.shape[1] - 4} resources and {params.shape[0]} points, not {n_resources} and {n_points}")
        if not forgets:
            params[:, 1] = 0.0
    else:
        params = np.empty((n_points, 4 + n_resources))
        params[:, 0] = DEFAULT_START["prior"]
        params[:, 1] = DEFAULT_START["forget"] if forgets else 0.0
        params[:, 2] = DEFAULT_START["guess"]
        params[:, 3] = DEFAULT_START["slip"]
        params[:, 4:] = DEFAULT_START["learn"]
    loglike = np.zeros(n_points)
    iterations = np.zeros(n_points, np.int64)
    counts = np.zeros((n_points, n_resources, 2))
    with dynamic_schedule():
        em_kernel(
            data.starts, data.first, data.resource, data.score, params, bool(forgets),
            int(max_iter), float(tol), loglike, iterations, counts,
        )  # fmt: skip
    learn = params[:, 4:].copy()
    learners = resource_learners(data.starts, data.first, data.resource, n_resources)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(learn * (1.0 - learn) / counts[:, :, 0])
    learn[learners == 0] = np.nan
    se[learners == 0] = np.nan
    return FittedParameters(
        prior=params[:, 0].copy(), learn=learn, forget=params[:, 1].copy(), guess=params[:, 2].copy(),
        slip=params[:, 3].copy(), learn_se=se, learners=learners, observations=data.scored,
        log_likelihood=loglike, iterations=iterations,
    )  # fmt: skip


def predict(data: Observations, params: FittedParameters) -> np.ndarray:
    """P(correct) of every row before that row is seen, in the rows' own order.

    Rates not identified by the fit (NaN) count as no learning.
    """
    packed = params.packed()
    if packed.shape[0] < data.n_points or packed.shape[1] - 4 < data.n_resources:
        raise ValueError("data has points or resources the parameters do not know")
    packed = np.nan_to_num(packed, nan=0.0)
    out = np.empty(data.score.shape[0])
    with dynamic_schedule():
        predict_kernel(data.order, data.starts, data.first, data.resource, data.score, packed, out)
    return out
