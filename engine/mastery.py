"""Mastery updates: the public, validating wrappers around engine/kernels/mastery.py.

Uncertainty. A cell's belief is read as a Beta distribution over the learner's mastery with
mean `mastery` and PRIOR_STRENGTH + `evidence` observations: the prior counts as two
pseudo-observations and every assessment adds its evidence weight (coverage x the kind's
evidence weight; a full quiz on a point adds 1). The uncertainty is that Beta's standard
deviation, sqrt(p (1 - p) / (PRIOR_STRENGTH + evidence + 1)): at most 0.29 (p = 0.5, never
assessed), shrinking like 1/sqrt(n) with evidence. Forgetting multiplies the evidence by
the same factor 2^(-elapsed / half-life) as the mastery, so old evidence counts less and the
uncertainty of a point left unused grows back towards the never-assessed level. Learning at
rate r maps every mastery K to K + (1 - K) r: the variance shrinks by (1 - r)^2 and gains the
step's own spread (RATE_SPREAD of it), and the evidence becomes the Beta's that has the new
mean and variance (engine/kernels/mastery.py's `learnt`; docs/model.md says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.kernels.mastery import PRIOR_STRENGTH, apply_events_kernel, apply_one_kernel, decay_kernel
from engine.model import KIND_EVIDENCE, KIND_LEARN, LAST_SEEN, READY_MASTERY, STATE_FIELDS, Kind, Model

MAX_KIND = max(Kind)

__all__ = [
    "PRIOR_STRENGTH",
    "Belief",
    "apply_event",
    "apply_events",
    "decayed_belief",
    "decayed_mastery",
    "shifted_to",
]


@dataclass(frozen=True)
class Belief:
    """Every learner's belief per knowledge point as of one time, each (L, M)."""

    mastery: np.ndarray
    evidence: np.ndarray  # effective number of assessments, eroded by forgetting
    uncertainty: np.ndarray  # standard deviation of the belief (see the module docstring)


def check_state(state: np.ndarray, model: Model) -> np.ndarray:
    """`state` as float64, or ValueError unless it is (L, STATE_FIELDS, M) for `model`."""
    state = np.asarray(state, dtype=np.float64)
    if state.ndim != 3 or state.shape[1:] != (STATE_FIELDS, model.n_points):
        raise ValueError(f"state has shape {state.shape}, not (L, {STATE_FIELDS}, {model.n_points})")
    return state


# The model the update's arrays were last made for, and the arrays as _update_arrays and
# _one_event_arrays give them: the streaming path asks per event, with the same model, and
# building them took about a quarter of an event.
_last_update: tuple = (None, (), ())


def _arrays_of(model: Model) -> tuple:
    global _last_update
    if _last_update[0] is not model:
        arrays = (
            KIND_LEARN,
            KIND_EVIDENCE,
            model.learn,
            model.coverage,
            *model.covered,
            model.guess,
            model.slip,
            model.half_life,
            *model.required,
        )
        packed = (
            np.array([KIND_LEARN, KIND_EVIDENCE]),
            np.array([model.guess, model.slip, model.half_life]),
            model.learn,
            model.coverage,
            np.concatenate(model.covered),
            np.concatenate(model.required),
        )
        _last_update = (model, arrays, packed)
    return _last_update


def _update_arrays(model: Model, prerequisite_threshold: float) -> tuple:
    """The kernels' trailing arguments: one tuple of the read-only arrays (what each kind earns,
    then the model's parameters), then the threshold. Only read-only arrays go in the tuple:
    Numba has lost writes made through a tuple's arrays inside a prange loop."""
    return _arrays_of(model)[1], float(prerequisite_threshold)


def _one_event_arrays(model: Model) -> tuple:
    """apply_one_kernel's arrays: what each kind earns (2, kinds), guess, slip and half-life
    (3, M), learn, coverage, then the covered and the required points' starts and points,
    each pair in one array."""
    return _arrays_of(model)[2]


def apply_events(
    state: np.ndarray,
    model: Model,
    learner: np.ndarray,
    module: np.ndarray,
    kind: np.ndarray,
    score: np.ndarray,
    time: np.ndarray,
    in_place: bool = False,
    prerequisite_threshold: float = READY_MASTERY,
) -> np.ndarray:
    """Return a copy of `state` with the events applied in the order given (`in_place`:
    apply them to `state` itself, a C-contiguous float64 array, and return it).

    learner: row of `state` per event; module: module index; kind: `Kind` codes;
    score: in [0, 1], NaN where the event carries none; time: seconds since the epoch.
    A module teaches at its rate times the learner's readiness: the weakest required point's
    mastery over `prerequisite_threshold`, at most 1 (0: prerequisites never slow learning).
    """
    out = check_state(state, model)
    if not in_place:
        out = np.array(out, order="C", copy=True)
    elif out is not state or not state.flags.c_contiguous:
        raise ValueError("in_place needs a C-contiguous float64 state")
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
    if kind.min() < 0 or kind.max() > MAX_KIND:
        raise ValueError("unknown event kind code")
    scored = ~np.isnan(score)
    if np.any((score[scored] < 0.0) | (score[scored] > 1.0)):
        raise ValueError("score outside [0, 1]")
    apply_events_kernel(out, learner, module, kind, score, time, *_update_arrays(model, prerequisite_threshold))
    return out


def apply_event(
    state: np.ndarray,
    model: Model,
    learner: int,
    module: int,
    kind: int,
    score: float,
    time: float,
    prerequisite_threshold: float = READY_MASTERY,
) -> None:
    """Apply one event to `state` in place (the streaming path: no copy, scalar checks only).

    `state` must be a C-contiguous float64 (L, 3, M) array, as `new_state` makes.
    """
    if not (0 <= learner < state.shape[0] and 0 <= module < model.n_modules and 0 <= kind <= MAX_KIND):
        raise ValueError("learner, module or kind code out of range")
    if not (math.isnan(score) or 0.0 <= score <= 1.0):
        raise ValueError("score outside [0, 1]")
    apply_one_kernel(
        state, learner, module, kind, score, time, *_one_event_arrays(model), float(prerequisite_threshold)
    )


def shifted_to(state: np.ndarray, own_now: np.ndarray, now: float) -> np.ndarray:
    """`state` with each learner's last-touched times moved by now - own_now[i] (never-touched
    points stay 0): forgetting depends only on now - last touched, so one `now` then evaluates
    every learner at its own time."""
    shifted = state.copy()
    last = shifted[:, LAST_SEEN, :]
    shifted[:, LAST_SEEN, :] = np.where(last > 0, last + (now - own_now)[:, None], 0.0)
    return shifted


def decayed_belief(state: np.ndarray, model: Model, now: float) -> Belief:
    """Mastery, evidence and uncertainty (L, M) as of `now`, after forgetting since each point was last touched."""
    state = np.ascontiguousarray(check_state(state, model))
    mastery = np.empty((state.shape[0], model.n_points))
    evidence = np.empty_like(mastery)
    spread = np.empty_like(mastery)
    decay_kernel(state, float(now), model.half_life, mastery, evidence, spread)
    return Belief(mastery, evidence, spread)


def decayed_mastery(state: np.ndarray, model: Model, now: float) -> tuple[np.ndarray, np.ndarray]:
    """Mastery and evidence (L, M) as of `now`, after forgetting since each point was last touched."""
    belief = decayed_belief(state, model, now)
    return belief.mastery, belief.evidence
