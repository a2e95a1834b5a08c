"""Compile every kernel the services run, once, before they are needed.

Numba compiles a kernel at its first call and keeps the machine code in its cache
(engine/jit.py), so only a machine's first run pays. That first call is slow: the recommender's
plan alone takes a minute or more to compile, which a worker's first batch or a first request of
the cost plan would otherwise wait for (and an HTTP worker's timeout would not). Kernels are
compiled per argument type, not size, so a model of two points and two modules compiles (or
loads) the same code the default catalog runs.
"""

from __future__ import annotations

import numpy as np

from engine.fit import fit, observations, predict
from engine.mastery import apply_event, apply_events, decayed_belief
from engine.model import Kind, Model, new_state
from engine.plan import Bounds, project
from engine.recommend import needed_targets, recommend


def tiny_model() -> Model:
    """Two points, the second building on the first; a module teaching each and a quiz."""
    return Model(
        prior=np.array([0.2, 0.1]),
        guess=np.array([0.2, 0.2]),
        slip=np.array([0.1, 0.1]),
        half_life=np.array([np.inf, 90 * 86_400.0]),
        learn=np.array([[0.3, 0.0], [0.0, 0.3], [0.0, 0.0]]),
        coverage=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        minutes=np.array([30.0, 60.0, 10.0]),
        requires=np.array([[False, False], [True, False], [False, False]]),
        targets=np.array([[0.8, 0.8]]),
        assessment=np.array([False, False, True]),
        prerequisites=np.array([[False, False], [True, False]]),
    )


def warm_up() -> None:
    """Call each public path that runs a kernel, on `tiny_model`, as the services call it:
    the workers' updates and ranking (with and without mandatory modules and own points), the
    readers' beliefs and raised targets, the cost plan, and fitting and prediction."""
    model = tiny_model()
    now = 1.7e9
    state = new_state(model, 2)
    apply_events(state, model, [0, 1], [0, 2], [Kind.COMPLETED, Kind.GRADED], [np.nan, 0.5], [now, now], in_place=True)
    apply_event(state, model, 0, 1, int(Kind.GRADED), 0.5, now)
    targets = model.targets[[0, 0]]
    due = np.array([[now, np.inf, np.inf], [np.inf, np.inf, np.inf]])
    own = np.array([[False, True], [False, True]])
    for options in ({}, {"due": due}, {"own_points": own}, {"due": due, "own_points": own}):
        recommend(state, targets, model, now=now, **options)
    belief = decayed_belief(state, model, now)
    needed_targets(belief.mastery, targets, model)
    project(state, targets, model, now, Bounds(300.0, 600.0, 5), draws=1, due=due)
    data = observations([0, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1], [0.0, 1.0, 1.0, 1.0], [1.0, 2.0, 1.0, 2.0])
    for forgets in (False, True):
        predict(data, fit(data, forgets=forgets, max_iter=2))
