"""The recommender: which modules cut each learner's expected gap to target fastest.

A point's expected shortfall loss is max(0, T - K)^2 plus, where the role needs the point,
the variance of the belief about K (engine/mastery.py). Teaching modules are ranked by the
drop of the first term per minute (LEARN, or REVIEW when forgetting pulled the point below a
target it had reached); assessment modules by the drop of the second (ASSESS), counted only
on points whose uncertainty is at least `uncertainty_threshold`, so a quiz is offered to
measure what is unknown and never for its small learning effect.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from engine.kernels.recommend import ASSESS, LEARN, REVIEW, recommend_kernel
from engine.mastery import decayed_belief
from engine.model import MASTERY, Model


class Action(enum.IntEnum):
    LEARN = LEARN  # close a gap never closed
    REVIEW = REVIEW  # win back what forgetting took
    ASSESS = ASSESS  # measure mastery that is uncertain


@dataclass(frozen=True)
class Recommendations:
    """Top-k per learner; slots past the useful modules hold module -1."""

    module: np.ndarray  # (L, k) module index
    gain: np.ndarray  # (L, k) expected reduction of the shortfall loss (from learning)
    gain_per_minute: np.ndarray  # (L, k) the ranking value: gain, or information for ASSESS, per minute
    action: np.ndarray  # (L, k) Action codes
    mastery: np.ndarray  # (L, M) mastery as of `now` the ranking used
    information: np.ndarray  # (L, k) expected reduction of the belief's variance (assessments)
    uncertainty: np.ndarray  # (L, M) uncertainty as of `now`


def recommend(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    k: int = 5,
    prerequisite_threshold: float = 0.6,
    uncertainty_threshold: float = 0.15,
) -> Recommendations:
    """Rank modules for every learner in `state` against per-learner `targets` (L, M), in parallel."""
    belief = decayed_belief(state, model, now)
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    if targets.shape != belief.mastery.shape:
        raise ValueError(f"targets has shape {targets.shape}, not {belief.mastery.shape}")
    if k < 1:
        raise ValueError("k must be at least 1")
    peak = np.ascontiguousarray(np.asarray(state)[:, MASTERY, :])
    n = belief.mastery.shape[0]
    module = np.empty((n, k), dtype=np.int64)
    gain = np.empty((n, k))
    information = np.empty((n, k))
    per_minute = np.empty((n, k))
    action = np.empty((n, k), dtype=np.int8)
    recommend_kernel(
        belief.mastery, belief.evidence, belief.uncertainty, peak, targets, model.learn, model.coverage,
        model.minutes, model.assessment, *model.covered, *model.required, float(prerequisite_threshold),
        float(uncertainty_threshold), module, gain, information, per_minute, action,
    )  # fmt: skip
    return Recommendations(module, gain, per_minute, action, belief.mastery, information, belief.uncertainty)
