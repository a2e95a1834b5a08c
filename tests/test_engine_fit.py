"""EM fitting and prediction against tests/naive.py, and parameter recovery on data
simulated from known parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import naive
from engine.fit import FittedParameters, fit, observations, predict
from engine.simulate import simulate_observations


@st.composite
def bkt_data(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_points = draw(st.integers(1, 3))
    n_resources = draw(st.integers(1, 3))
    n = draw(st.integers(1, 60))
    # Learners in runs (as pyBKT files come) or interleaved; all kinds of score, or no partial
    # ones (the EM's binary path).
    learner = np.sort(rng.integers(0, 4, n)) if draw(st.booleans()) else rng.integers(0, 4, n)
    point = rng.integers(0, n_points, n)
    resource = rng.integers(0, n_resources, n)
    kinds = [0, 1, 2, 3] if draw(st.booleans()) else [0, 1, 3]  # right, wrong, partial, no score
    kind = rng.choice(kinds, n)
    score = np.where(kind == 0, 1.0, np.where(kind == 1, 0.0, np.where(kind == 2, rng.random(n), np.nan)))
    order = rng.permutation(n) if draw(st.booleans()) else np.arange(n)
    start = FittedParameters.initial(
        prior=rng.uniform(0.05, 0.9, n_points),
        learn=rng.uniform(0.01, 0.5, (n_points, n_resources)),
        forget=rng.uniform(0.0, 0.2, n_points),
        guess=rng.uniform(0.05, 0.4, n_points),
        slip=rng.uniform(0.05, 0.4, n_points),
    )
    return learner, point, resource, score, order, start


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bkt_data(), st.booleans())
def test_one_em_step_matches_reference(data, forgets):
    learner, point, resource, score, order, start = data
    n_points, n_resources = start.learn.shape
    obs = observations(learner, point, resource, score, order, n_points=n_points, n_resources=n_resources)
    if not forgets:
        start = FittedParameters.initial(start.prior, start.learn, np.zeros(n_points), start.guess, start.slip)
    got = fit(obs, forgets=forgets, max_iter=1, start=start)
    sequences = naive.bkt_sequences(learner, point, resource, score, order)
    for p in range(n_points):
        if p not in sequences:
            assert got.iterations[p] == 0
            continue
        loglike, (prior, learn, forget, guess, slip) = naive.bkt_em_step(
            sequences[p], start.prior[p], list(start.learn[p]), start.forget[p], start.guess[p], start.slip[p], forgets
        )
        assert_allclose(got.log_likelihood[p], loglike, rtol=1e-9)
        assert_allclose(
            [got.prior[p], got.forget[p], got.guess[p], got.slip[p]], [prior, forget, guess, slip], atol=1e-6
        )
        identified = got.learners[p] > 0
        assert_allclose(got.learn[p][identified], np.array(learn)[identified], atol=1e-6)
        assert np.all(np.isnan(got.learn[p][~identified]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bkt_data())
def test_predict_matches_reference_in_row_order(data):
    learner, point, resource, score, order, params = data
    n_points, n_resources = params.learn.shape
    obs = observations(learner, point, resource, score, order, n_points=n_points, n_resources=n_resources)
    # the kernels' per-thread buffers hold the longest (point, learner) sequence
    assert obs.longest == np.unique(np.stack([point, learner]), axis=1, return_counts=True)[1].max()
    got = predict(obs, params)
    expected = np.empty((len(learner), 2))
    by_order = sorted(range(len(learner)), key=lambda e: (order[e], e))
    for p, _sequences in naive.bkt_sequences(learner, point, resource, score, order).items():
        for i in dict.fromkeys(learner[e] for e in by_order if point[e] == p):
            rows = [e for e in by_order if point[e] == p and learner[e] == i]
            expected[rows] = naive.bkt_predict(
                [(resource[e], None if np.isnan(score[e]) else score[e]) for e in rows],
                params.prior[p],
                params.learn[p],
                params.forget[p],
                params.guess[p],
                params.slip[p],
            )
    assert_allclose(got.correct, expected[:, 0], atol=1e-12)
    assert_allclose(got.mastery, expected[:, 1], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_accelerated_em_reaches_the_maximum_of_plain_em(seed):
    # SQUAREM's jumps change the path, not the fixed point: plain EM steps of the reference,
    # iterated until they no longer move, end where fit() stops.
    rng = np.random.default_rng(seed)
    truth = {"prior": [0.3], "learn": [[0.1, 0.25]], "forget": [0.04], "guess": [0.2], "slip": [0.1]}
    sim = simulate_observations(**{k: np.array(v) for k, v in truth.items()}, n_learners=40, attempts=(5, 12), rng=rng)
    got = fit(
        observations(sim.learner, sim.point, sim.resource, sim.correct, sim.order),
        forgets=True,
        tol=1e-13,
        max_iter=1000,
    )
    sequences = naive.bkt_sequences(sim.learner, sim.point, sim.resource, sim.correct, sim.order)[0]
    plain = [0.3, 0.1, 0.1, 0.02, 0.2, 0.1]  # prior, learn (2), forget, guess, slip: DEFAULT_START
    for steps in range(1, 1000):  # noqa: B007 (read after the loop: how many steps it took)
        _, (prior, learn, forget, guess, slip) = naive.bkt_em_step(sequences, plain[0], plain[1:3], *plain[3:])
        moved = max(abs(a - b) for a, b in zip([prior, *learn, forget, guess, slip], plain))
        plain = [prior, *learn, forget, guess, slip]
        if moved < 1e-10:
            break
    assert got.iterations[0] < steps / 2
    assert_allclose([got.prior[0], *got.learn[0], got.forget[0], got.guess[0], got.slip[0]], plain, atol=1e-6)


def test_long_sequences_do_not_underflow():
    # Thousands of rows: P(the scores) is far below the smallest double, so the forward pass
    # rescales its messages; the log-likelihood is still exact.
    rng = np.random.default_rng(11)
    n = 4000
    learner = np.repeat([0, 1], n // 2)
    resource = rng.integers(0, 2, n)
    score = np.where(rng.random(n) < 0.2, rng.random(n), (rng.random(n) < 0.6).astype(float))
    start = FittedParameters.initial([0.3], [[0.05, 0.2]], [0.03], [0.25], [0.1])
    got = fit(observations(learner, np.zeros(n, np.int64), resource, score), forgets=True, max_iter=1, start=start)
    expected = sum(
        naive.bkt_log_likelihood(
            [(resource[e], score[e]) for e in range(i * n // 2, (i + 1) * n // 2)], 0.3, [0.05, 0.2], 0.03, 0.25, 0.1
        )
        for i in range(2)
    )
    assert expected < -800  # e**-800 underflows
    assert_allclose(got.log_likelihood[0], expected, rtol=1e-9)
    assert all(np.isfinite(v).all() for v in (got.prior, got.learn, got.forget, got.guess, got.slip))


TRUTH = {
    "prior": np.array([0.2, 0.4, 0.1]),
    "learn": np.array([[0.05, 0.15, 0.3], [0.1, 0.2, 0.05], [0.25, 0.1, 0.15]]),
    "forget": np.array([0.02, 0.0, 0.05]),
    "guess": np.array([0.2, 0.25, 0.15]),
    "slip": np.array([0.1, 0.05, 0.12]),
}


@pytest.mark.slow
def test_fit_recovers_known_parameters_and_module_rates():
    rng = np.random.default_rng(7)
    sim = simulate_observations(**TRUTH, n_learners=4000, attempts=(10, 30), rng=rng)
    got = fit(observations(sim.learner, sim.point, sim.resource, sim.correct, sim.order), forgets=True)
    for name, truth in TRUTH.items():
        assert_allclose(getattr(got, name), truth, atol=0.03, err_msg=name)
    errors = np.concatenate([np.abs(getattr(got, name) - truth).ravel() for name, truth in TRUTH.items()])
    assert errors.mean() < 0.01
    # The effectiveness report: every module's rate is carried by (nearly) every learner,
    # and the stated uncertainty covers the error.
    assert np.all(got.learners > 3900)
    assert np.all(np.abs(got.learn - TRUTH["learn"]) < 4 * got.learn_se + 0.005)


def test_fit_without_forgets_keeps_forget_at_zero():
    rng = np.random.default_rng(3)
    truth = {**TRUTH, "forget": np.zeros(3)}
    sim = simulate_observations(**truth, n_learners=300, attempts=(5, 10), rng=rng)
    got = fit(observations(sim.learner, sim.point, sim.resource, sim.correct), forgets=False)
    assert np.all(got.forget == 0.0)
    assert np.all(got.iterations >= 2) and np.all(np.isfinite(got.log_likelihood))


def test_observations_reject_bad_input():
    with pytest.raises(ValueError, match="score outside"):
        observations([0], [0], None, [1.5])
    with pytest.raises(ValueError, match="shape"):
        observations([0, 1], [0], None, [1.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        observations([0], [-1], None, [1.0])
    with pytest.raises(ValueError, match="outside"):
        observations([0], [3], None, [1.0], n_points=2)


def test_half_life_halves_mastery_at_the_fitted_forget_rate():
    params = FittedParameters.initial([0.3, 0.3], [[0.1], [0.1]], [0.05, 0.0], [0.2, 0.2], [0.1, 0.1])
    half_life = params.half_life(3600.0)
    # After n observations an hour apart, (1 - forget)^n of the mastery is left.
    assert_allclose(0.5 ** (10 * 3600.0 / half_life[0]), 0.95**10)
    assert half_life[1] == np.inf
