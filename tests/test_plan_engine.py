"""The cost plan's projection (engine/plan.py) against the slow real-time walk in tests/naive.py,
and what a manager reads from it: a learner at target needs nothing, the adaptive path needs no
more minutes than course order on the model's own expectation, the draws follow the belief."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import naive
from core.catalog import engine_model, load_catalog
from core.settings import Settings
from engine import EVIDENCE, LAST_SEEN, MASTERY, RANKING_READY_MASTERY, READY_MASTERY, Model, decayed_belief, new_state
from engine.plan import Bounds, adaptive, belief_draws, course_modules, course_order, project
from engine.recommend import DUE_WINDOW

DAY = 86_400.0
NOW = 1.8e9


def random_model(seed: int, m: int = 5, q: int = 7) -> Model:
    rng = np.random.default_rng(seed)
    coverage = np.where(rng.random((q, m)) < 0.4, rng.uniform(0.1, 1.0, (q, m)), 0.0)
    coverage[np.arange(q), rng.integers(0, m, q)] = rng.uniform(0.5, 1.0, q)
    first = np.argmax(coverage > 0, axis=1)
    half_life = rng.uniform(60, 400, m) * DAY
    half_life[0] = math.inf
    return Model(
        prior=rng.uniform(0.05, 0.3, m),
        guess=rng.uniform(0.1, 0.3, m),
        slip=rng.uniform(0.05, 0.2, m),
        half_life=half_life,
        learn=coverage * rng.uniform(0.1, 0.5, (q, 1)),
        coverage=coverage,
        minutes=rng.uniform(20, 200, q),
        requires=(rng.random((q, m)) < 0.3) & (coverage == 0) & (np.arange(m)[None, :] < first[:, None]),
        targets=rng.uniform(0.3, 0.9, (3, m)),
        assessment=np.arange(q) == q - 1,
    )


def random_state(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    state = new_state(model, n)
    state[:, MASTERY] = rng.uniform(0.0, 0.8, (n, model.n_points))
    state[:, EVIDENCE] = rng.uniform(0.0, 4.0, (n, model.n_points))
    state[:, LAST_SEEN] = np.where(rng.random((n, model.n_points)) < 0.6, NOW - rng.uniform(0, 90, (n, 1)) * DAY, 0.0)
    return state


def naive_recommender(
    model: Model, targets: np.ndarray, threshold: float, spread_threshold: float, k: int = 5, due=None
):
    pending = None if due is None else list(due)

    def choose(cells, peak, last_seen, t, last):
        if pending is not None and last >= 0:
            pending[last] = math.inf  # taken: done
        plan = naive.rank_for_model(
            model,
            cells,
            targets,
            peak,
            last_seen,
            threshold,
            spread_threshold,
            k,
            min(2 * k, max(model.n_modules, k)),
            t,
            pending,
            None if pending is None else t + DUE_WINDOW,
        )
        return next((q for q, *_rest, action, _points in plan if action != 2), -1)

    return choose


def naive_course(model: Model, targets: np.ndarray):
    teaching = [q for q in range(model.n_modules) if not model.assessment[q] and model.learn[q].sum() > 0]
    course = [q for q in teaching if any(model.coverage[q][j] > 0 and targets[j] > 0 for j in range(model.n_points))]

    def choose(cells, peak, last_seen, t, last):
        if not course:
            return -1
        later = [q for q in course if q > last]
        return later[0] if later else course[0]

    return choose


@pytest.mark.parametrize(("seed", "mandatory"), [(seed, seed % 2 == 1) for seed in range(10)])
def test_paths_match_the_slow_real_time_walk(seed, mandatory):
    model = random_model(seed)
    rng = np.random.default_rng(seed)
    n = 4
    state = random_state(model, n, rng)
    targets = model.targets[rng.integers(0, 3, n)]
    due = None
    if mandatory:  # some modules due: overdue, within the window, or falling into it on the way
        due = np.where(rng.random((n, model.n_modules)) < 0.4, NOW + rng.uniform(-10, 120, (n, 1)) * DAY, np.inf)
    bounds = Bounds(240.0, 3000.0, 40, reach_share=0.05, reach_floor=0.01, record_rows=n)
    threshold, spread = RANKING_READY_MASTERY, 0.15  # the ranking's; the paths update as the workers do
    got = {
        "adaptive": adaptive(state, targets, model, NOW, bounds, 5, threshold, spread, due),
        "course": course_order(state, targets, model, NOW, bounds),
    }
    for i in range(n):
        learner = [state[i, MASTERY].tolist(), state[i, EVIDENCE].tolist(), state[i, LAST_SEEN].tolist()]
        policies = {
            "adaptive": naive_recommender(model, targets[i], threshold, spread, due=None if due is None else due[i]),
            "course": naive_course(model, targets[i]),
        }
        for name, choose in policies.items():
            minutes, reached, stalled, modules = naive.plan_path(
                learner, targets[i], model, NOW, 240.0, 3000.0, 40, 0.05, 0.01, READY_MASTERY, choose
            )
            paths = got[name]
            assert [int(q) for q in paths.order[i] if q >= 0] == modules, name
            assert_allclose(paths.minutes[i], minutes, rtol=1e-12)
            assert (paths.reached[i], paths.stalled[i]) == (reached, stalled), name
            assert paths.takes[i].sum() == len(modules)


@pytest.fixture(scope="module")
def catalog_model():
    return engine_model(load_catalog(Settings().catalog_path))


def test_a_learner_already_at_target_needs_no_minutes(catalog_model):
    model = catalog_model
    state = new_state(model, 2)
    state[0, MASTERY] = np.maximum(model.targets[0], model.prior)  # at target everywhere
    bounds = Bounds(300.0, 5000.0, 200, record_rows=2)
    for policy in (adaptive, course_order):
        paths = policy(state, model.targets[[0, 0]], model, NOW, bounds)
        assert paths.minutes[0] == 0 and paths.reached[0] and paths.takes[0].sum() == 0
        assert paths.minutes[1] > 0 and paths.takes[1].sum() > 0


def test_the_adaptive_path_needs_no_more_than_course_order_on_the_models_expectation(catalog_model):
    model = catalog_model
    roles = np.arange(model.targets.shape[0])
    rng = np.random.default_rng(3)
    state = np.concatenate([new_state(model, roles.size), random_state(model, roles.size, rng)])
    targets = model.targets[np.concatenate([roles, roles])]
    projection = project(state, targets, model, NOW, Bounds(300.0, 20_000.0, 1000), draws=0)
    assert projection.draws == 1
    a, c = projection.adaptive, projection.course_order
    assert a.reached.all() and not a.stalled.any()
    # Per role (a fresh learner and one part-trained) and per learner.
    assert (a.minutes <= c.minutes).all()
    assert a.minutes.sum() < 0.5 * c.minutes.sum()


def test_a_path_stops_at_its_horizon_and_its_step_limit(catalog_model):
    model = catalog_model
    state = new_state(model, 3)
    targets = model.targets[[1, 2, 3]]
    short = course_order(state, targets, model, NOW, Bounds(300.0, 500.0, 1000))
    assert not short.reached.any()
    assert (short.minutes >= 500).all() and (short.minutes < 500 + model.minutes.max()).all()
    few = adaptive(state, targets, model, NOW, Bounds(300.0, 50_000.0, 3, record_rows=3))
    assert (few.takes.sum(axis=1) == 3).all() and not few.reached.any()


def test_course_order_takes_the_roles_modules_in_catalog_order_and_starts_again(catalog_model):
    model = catalog_model
    targets = model.targets[[0]]
    course = np.flatnonzero(course_modules(model, targets)[0])
    assert not model.assessment[course].any()
    paths = course_order(new_state(model, 1), targets, model, NOW, Bounds(60.0, 1e5, course.size + 2, record_rows=1))
    taken = paths.order[0][paths.order[0] >= 0]
    assert taken.tolist() == [*course.tolist(), *course[:2].tolist()]


def test_the_first_path_starts_at_the_beliefs_mean_and_the_draws_follow_the_belief(catalog_model):
    model = catalog_model
    rng = np.random.default_rng(5)
    state = random_state(model, 2, rng)
    draws = belief_draws(state, model, NOW, 4000, np.random.default_rng(1))
    assert draws.shape == (4001, 2, 3, model.n_points)
    assert_allclose(draws[0], state)
    assert (draws[:, :, LAST_SEEN] == state[None, :, LAST_SEEN]).all()
    belief = decayed_belief(state, model, NOW)
    drawn = np.stack([decayed_belief(d, model, NOW).mastery for d in draws[1:]])
    assert ((drawn >= 0) & (drawn <= 1)).all()
    assert_allclose(drawn.mean(axis=0), belief.mastery, atol=0.02)
    assert_allclose(drawn.std(axis=0), belief.uncertainty, rtol=0.15, atol=0.01)


def test_the_band_from_uncertain_beliefs_is_wider_than_from_sure_ones(catalog_model):
    model = catalog_model
    sure = new_state(model, 1)
    sure[0, MASTERY] = 0.3
    sure[0, EVIDENCE] = 200.0
    sure[0, LAST_SEEN] = NOW
    unsure = sure.copy()
    unsure[0, EVIDENCE] = 0.0
    bounds = Bounds(300.0, 20_000.0, 1000)
    spread = []
    for state in (sure, unsure):
        p = project(state, model.targets[[4]], model, NOW, bounds, draws=24, seed=2)
        low, high = np.quantile(p.adaptive.minutes, [0.1, 0.9])
        spread.append(high - low)
    assert spread[1] > spread[0]


def test_bad_bounds_and_shapes_are_refused(catalog_model):
    with pytest.raises(ValueError):
        Bounds(0.0, 100.0, 10)
    with pytest.raises(ValueError):
        Bounds(300.0, 100.0, 10, reach_share=1.0)
    with pytest.raises(ValueError):
        adaptive(new_state(catalog_model, 2), catalog_model.targets[[0]], catalog_model, NOW, Bounds(300.0, 100.0, 10))
    with pytest.raises(ValueError, match="before the epoch"):  # last-touched times would pass 0
        course_order(new_state(catalog_model, 1), catalog_model.targets[[0]], catalog_model, NOW, Bounds(15.0, 1e7, 10))


def test_a_mandatory_module_opens_the_path_when_its_due_date_nears(catalog_model):
    model = catalog_model
    catalog = load_catalog(Settings().catalog_path)
    privacy = catalog.module_index["m-privacy"]
    state = new_state(model, 1)
    targets = model.targets[[catalog.role_index["data-scientist"]]]
    bounds = Bounds(300.0, 20_000.0, 1000, record_rows=1)
    free = adaptive(state, targets, model, NOW, bounds)
    assert free.order[0][0] != privacy
    due = np.full((1, model.n_modules), np.inf)
    due[0, privacy] = NOW + 7 * DAY
    bound = adaptive(state, targets, model, NOW, bounds, due=due)
    assert bound.order[0][0] == privacy
    later = due.copy()
    later[0, privacy] = NOW + 60 * DAY  # outside the 14-day window now, inside it on the way
    path = adaptive(state, targets, model, NOW, bounds, due=later).order[0]
    first = int(np.argmax(path == privacy))
    assert path[first] == privacy and 0 < first
    elapsed = model.minutes[path[:first]].sum() / 300.0 * 7 * DAY
    assert NOW + elapsed >= later[0, privacy] - 14 * DAY  # taken once its date came within the window
    with pytest.raises(ValueError, match="due has shape"):
        adaptive(state, targets, model, NOW, bounds, due=due[:, :3])
