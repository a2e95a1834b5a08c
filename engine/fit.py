"""Fitting the mastery model to history: EM per knowledge point (engine/kernels/fit.py).

Input is plain arrays, one row per observation or activity: learner, knowledge point,
resource (the module, or 0 for all when rates are not per module), score in [0, 1] (NaN for
an activity without a score) and an order key (a time or a sequence number). The same call
serves pyBKT-format CSVs (bkt_csv/files.py) and the event log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.jit import dynamic_schedule
from engine.kernels.fit import (
    check_rows,
    em_kernel,
    group_rows,
    is_sorted,
    predict_kernel,
    resource_learners,
    sort_by_learner,
)

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
    iterations: np.ndarray  # (P,) E-steps run

    @classmethod
    def initial(cls, prior, learn, forget, guess, slip) -> FittedParameters:
        """Parameters to start EM from (a warm start), with no fit statistics."""
        prior, forget, guess, slip = (np.asarray(a, dtype=np.float64) for a in (prior, forget, guess, slip))
        learn = np.asarray(learn, dtype=np.float64)
        zeros = np.zeros(prior.shape[0])
        return cls(
            prior,
            learn,
            forget,
            guess,
            slip,
            np.zeros_like(learn),
            np.zeros(learn.shape, np.int64),
            zeros.astype(np.int64),
            zeros,
            zeros.astype(np.int64),
        )

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
    partial: np.ndarray  # (P,) rows with a partial score (neither 0 nor 1) per point
    longest: int  # rows of the longest sequence: the kernels' per-thread buffers
    n_points: int
    n_resources: int


def _codes(name: str, values: object, n: int) -> np.ndarray:
    """Integer codes as a contiguous int32 array (the kernels' type)."""
    values = np.ascontiguousarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} has shape {values.shape}, not ({n},)")
    if values.dtype == np.int32:
        return values
    if n and values.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer codes, not {values.dtype}")
    if n and (values.min() < 0 or values.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} codes must be non-negative and below 2**31")
    return values.astype(np.int32)


def _count(name: str, low: int, high: int, size: int | None) -> int:
    """The number of codes: `size` when given (checked), else the largest code + 1."""
    if low < 0:
        raise ValueError(f"{name} codes must be non-negative")
    if size is not None and high >= size:
        raise ValueError(f"{name} code {high} is outside 0..{size - 1}")
    return high + 1 if size is None else size


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
    if score.ndim != 1:
        raise ValueError("score must be one-dimensional")
    n = score.shape[0]
    learner = _codes("learner", learner, n)
    point = _codes("point", point, n)
    resource = np.zeros(0, np.int32) if resource is None else _codes("resource", resource, n)
    low, high, ascending, scores_ok = check_rows(learner, point, resource, score)
    if not scores_ok:
        raise ValueError("score outside [0, 1]")
    n_learners = _count("learner", low[0], high[0], None)
    n_points = _count("point", low[1], high[1], n_points)
    n_resources = max(_count("resource", low[2], high[2], n_resources), 1)
    rows = np.zeros(0, np.int64)  # visit rows in their given order...
    if order_key is not None:
        order_key = np.ascontiguousarray(order_key)
        if order_key.shape != (n,):
            raise ValueError(f"order has shape {order_key.shape}, not ({n},)")
        if not is_sorted(order_key):  # ...or in order-key order
            rows = np.argsort(order_key, kind="stable")
            ascending = False
    if not ascending:  # a learner's rows must be contiguous to be grouped by point alone
        rows = sort_by_learner(learner, rows, n_learners)
    order, resource, score, starts, first, scored, partial, longest = group_rows(
        learner, point, resource, score, rows, n_points
    )
    return Observations(order, resource, score, starts, first, scored, partial, int(longest), n_points, n_resources)


def fit(
    data: Observations,
    forgets: bool = True,
    max_iter: int = 200,
    tol: float = 1e-6,
    start: FittedParameters | None = None,
) -> FittedParameters:
    """Maximum-likelihood BKT parameters per point by EM (accelerated by SQUAREM: the same
    fixed point in fewer E-steps, engine/kernels/fit.py), points in parallel.

    Iterates until an E-step improves a point's log-likelihood by less than `tol` times its
    magnitude (1e-6: held-out AUC and recovered parameters no longer move), or `max_iter`
    E-steps (max_iter=1: one plain EM step). Starts from DEFAULT_START or from `start` (a
    previous fit: warm start).
    """
    n_points, n_resources = data.n_points, data.n_resources
    if start is not None:
        params = np.nan_to_num(start.packed(), nan=DEFAULT_START["learn"])
        if params.shape != (n_points, 4 + n_resources):
            raise ValueError(
                f"start has {params.shape[1] - 4} resources and {params.shape[0]} points, not {n_resources} and {n_points}"
            )
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
            data.starts,
            data.first,
            data.longest,
            data.resource,
            data.score,
            data.partial,
            params,
            bool(forgets),
            int(max_iter),
            float(tol),
            loglike,
            iterations,
            counts,
        )
    learn = params[:, 4:].copy()
    learners = resource_learners(data.starts, data.first, data.resource, n_resources)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(learn * (1.0 - learn) / counts[:, :, 0])
    learn[learners == 0] = np.nan
    se[learners == 0] = np.nan
    return FittedParameters(
        prior=params[:, 0].copy(),
        learn=learn,
        forget=params[:, 1].copy(),
        guess=params[:, 2].copy(),
        slip=params[:, 3].copy(),
        learn_se=se,
        learners=learners,
        observations=data.scored,
        log_likelihood=loglike,
        iterations=iterations,
    )


@dataclass(frozen=True)
class Predictions:
    """Per row, in the rows' own order, before that row is seen (pyBKT's `predict` columns)."""

    correct: np.ndarray  # P(correct): correct_predictions
    mastery: np.ndarray  # P(mastered): state_predictions


def predict(data: Observations, params: FittedParameters) -> Predictions:
    """P(correct) and P(mastered) of every row before that row is seen.

    Rates not identified by the fit (NaN) count as no learning.
    """
    packed = params.packed()
    if packed.shape[0] < data.n_points or packed.shape[1] - 4 < data.n_resources:
        raise ValueError("data has points or resources the parameters do not know")
    packed = np.nan_to_num(packed, nan=0.0)
    correct = np.empty(data.score.shape[0])
    mastery = np.empty(data.score.shape[0])
    with dynamic_schedule():
        predict_kernel(
            data.order, data.starts, data.first, data.longest, data.resource, data.score, packed, correct, mastery
        )
    return Predictions(correct, mastery)
