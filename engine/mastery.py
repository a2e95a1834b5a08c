"""Mastery updates: the public, validating wrappers around engine/kernels/mastery.py."""

from __future__ import annotations

import numpy as np

from engine.kernels.mastery import apply_events_kernel, decay_kernel
from engine.model import KIND_EVIDENCE, KIND_LEARN, STATE_FIELDS, Kind, Model


def _check_state(state: np.ndarray, model: Model) -> np.ndarray:
    state = np.asarray(state, dtype=np.float64)
    if state.ndim != 3 or state.shape[1:] != (STATE_FIELDS, model.n_points):
        raise ValueError(f"state has shape {state.shape}, not (L, {STATE_FIELDS}, {model.n_points})")
    return state


def apply_events(
    state: np.ndarray,
    model: Model,
    learner: np.ndarray,
    module: np.ndarray,
    kind: np.ndarray,
    score: np.ndarray,
    time: np.ndarray,
) -> np.ndarray:
    """Return a copy of `state` with the events applied in the order given.

    learner: row of `state` per event; module: module index; kind: `Kind` codes;
    score: in [0, 1], NaN where the event carries none; time: seconds since the epoch.
    """
    out = np.array(_check_state(state, model), dtype=np.float64, order="C", copy=True)
    learner = np.ascontiguousarray(learner, dtype=np.int64)
    module = np.ascontiguousarray(module, dtype=np.int64)
    kind = np.ascontiguousarray(kind, dtype=np.int64)
    score = np.ascontiguousarray(score, dtype=np.float64)
    time = np.ascontiguousarray(time, dtype=np.float64)
    n = learner.shape[0]
    for name, arr in (("module", module), ("kind", kind), ("score", score), ("time", time)):
        if arr.shape != (n,):
            raise ValueError(f"{name} has shape {arr.shape}, not ({n},) like learner")
    if n == 0:
        return out
    if learner.min() < 0 or learner.max() >= out.shape[0]:
        raise ValueError("learner index outside state")
    if module.min() < 0 or module.max() >= model.n_modules:
        raise ValueError("module index outside model")
    if kind.min() < 0 or kind.max() > max(Kind):
        raise ValueError("unknown event kind code")
    scored = ~np.isnan(score)
    if np.any((score[scored] < 0.0) | (score[scored] > 1.0)):
        raise ValueError("score outside [0, 1]")
    apply_events_kernel(
        out, learner, module, kind, score, time,
        KIND_LEARN, KIND_EVIDENCE, model.learn, model.coverage, model.guess, model.slip,
        model.half_life,
    )  # fmt: skip
    return out


def decayed_mastery(state: np.ndarray, model: Model, now: float) -> tuple[np.ndarray, np.ndarray]:
    """Mastery and evidence (L, M) as of `now`, after forgetting since each point was last touched."""
    state = np.ascontiguousarray(_check_state(state, model))
    mastery = np.empty((state.shape[0], model.n_points))
    evidence = np.empty_like(mastery)
    decay_kernel(state, float(now), model.half_life, mastery, evidence)
    return mastery, evidence
