"""The recommender: which modules cut each learner's gap to target fastest."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from engine.kernels.recommend import LEARN, REVIEW, recommend_kernel
from engine.mastery import decayed_mastery
from engine.model import MASTERY, Model


class Action(enum.IntEnum):
    LEARN = LEARN  # close a gap never closed
    REVIEW = REVIEW  # win back what forgetting took


@dataclass(frozen=True)
class Recommendations:
    """Top-k per learner; slots past the useful modules hold module -1."""

    module: np.ndarray  # (L, k) module index
    gain: np.ndarray  # (L, k) expected reduction of the shortfall loss
    gain_per_minute: np.ndarray  # (L, k)
    action: np.ndarray  # (L, k) Action codes
    mastery: np.ndarray  # (L, M) mastery as of `now` the ranking used


def recommend(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    now: float,
    k: int = 5,
    prerequisite_threshold: float = 0.6,
) -> Recommendations:
    """Rank modules for every learner in `state` against per-learner `targets` (L, M)."""
    mastery, _ = decayed_mastery(state, model, now)
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    if targets.shape != mastery.shape:
        raise ValueError(f"targets has shape {targets.shape}, not {mastery.shape}")
    if k < 1:
        raise ValueError("k must be at least 1")
    peak = np.ascontiguousarray(np.asarray(state)[:, MASTERY, :])
    n = mastery.shape[0]
    module = np.empty((n, k), dtype=np.int64)
    gain = np.empty((n, k))
    per_minute = np.empty((n, k))
    action = np.empty((n, k), dtype=np.int8)
    recommend_kernel(
        mastery, peak, targets, model.learn, model.minutes, model.requires,
        float(prerequisite_threshold), module, gain, per_minute, action,
    )  # fmt: skip
    return Recommendations(module, gain, per_minute, action, mastery)
