"""The engine's kernels against the slow references in tests/naive.py."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import naive
from engine import (
    EVIDENCE,
    LAST_SEEN,
    MASTERY,
    Action,
    Kind,
    Model,
    apply_event,
    apply_events,
    decayed_belief,
    new_state,
    recommend,
    shortfall_loss,
)
from engine.kernels.mastery import RATE_SPREAD

DAY = 86_400.0


@st.composite
def models(draw, max_points=6, max_modules=8):
    m = draw(st.integers(1, max_points))
    q = draw(st.integers(1, max_modules))
    unit = st.floats(0.01, 0.45)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    coverage = np.where(rng.random((q, m)) < 0.5, rng.uniform(0.1, 1.0, (q, m)), 0.0)
    coverage[np.arange(q), rng.integers(0, m, q)] = rng.uniform(0.2, 1.0, q)  # every module covers a point
    half_life = rng.uniform(5, 400, m) * DAY
    half_life[rng.random(m) < 0.2] = math.inf
    # Acyclic: a module requires only points below the first it covers.
    first = np.argmax(coverage > 0, axis=1)
    requires = (rng.random((q, m)) < 0.3) & (coverage == 0) & (np.arange(m)[None, :] < first[:, None])
    return Model(
        prior=np.array([draw(unit) for _ in range(m)]),
        guess=np.array([draw(unit) for _ in range(m)]),
        slip=np.array([draw(unit) for _ in range(m)]),
        half_life=half_life,
        learn=coverage * rng.uniform(0.0, 0.6, (q, 1)),
        coverage=coverage,
        minutes=rng.uniform(10, 600, q),
        requires=requires,
        targets=rng.uniform(0, 1, (3, m)),
    )


@st.composite
def histories(draw):
    model = draw(models())
    n_learners = draw(st.integers(1, 4))
    n_events = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    learner = rng.integers(0, n_learners, n_events)
    module = rng.integers(0, model.n_modules, n_events)
    kind = rng.integers(0, len(Kind), n_events)
    score = np.where(np.isin(kind, [Kind.GRADED, Kind.ASSESSED, Kind.SELF_RATED]), rng.random(n_events), np.nan)
    time = 1.7e9 + np.sort(rng.uniform(0, 300 * DAY, n_events))
    if n_events and draw(st.booleans()):
        time = time[rng.permutation(n_events)]  # out-of-order arrivals
    return model, n_learners, learner, module, kind, score, time


def _naive_state(state):
    return [[list(row) for row in learner] for learner in state]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from([0.0, 0.6]))
def test_apply_events_matches_reference(history, threshold):
    model, n_learners, learner, module, kind, score, time = history
    state = new_state(model, n_learners)
    got = apply_events(state, model, learner, module, kind, score, time, prerequisite_threshold=threshold)
    events = [
        (int(i), int(q), int(k), None if np.isnan(s) else float(s), float(t))
        for i, q, k, s, t in zip(learner, module, kind, score, time)
    ]
    expected = naive.apply_events(
        _naive_state(state),
        model.prior,
        model.guess,
        model.slip,
        model.half_life,
        model.learn.tolist(),
        model.coverage.tolist(),
        events,
        model.requires.tolist(),
        threshold,
    )
    assert_allclose(got, np.array(expected), rtol=0, atol=1e-9)
    assert np.all((got[:, MASTERY] >= 0) & (got[:, MASTERY] <= 1))

    one_by_one = new_state(model, n_learners)
    for event in zip(learner, module, kind, score, time):
        apply_event(one_by_one, model, *(int(v) for v in event[:3]), float(event[3]), float(event[4]), threshold)
    assert_allclose(one_by_one, got, rtol=0, atol=1e-12)

    now = float(time.max()) + 40 * DAY if time.size else 1.7e9
    belief = decayed_belief(got, model, now)
    for i in range(n_learners):
        cells = naive.belief(*(expected[i][f] for f in range(3)), model.half_life, now)
        assert_allclose(np.array(cells).T, [belief.mastery[i], belief.evidence[i], belief.uncertainty[i]], atol=1e-9)


def one_point_model(prior=0.3, half_life=math.inf, learn=0.0) -> Model:
    return Model(
        prior=np.array([prior]),
        guess=np.array([0.2]),
        slip=np.array([0.1]),
        half_life=np.array([half_life]),
        learn=np.array([[learn]]),
        coverage=np.array([[1.0]]),
        minutes=np.array([20.0]),
        requires=np.zeros((1, 1), bool),
        targets=np.array([[0.8]]),
    )


def test_apply_events_returns_a_copy():
    model = one_point_model(learn=0.3)
    state = new_state(model, 1)
    before = state.copy()
    apply_events(state, model, [0], [0], [Kind.COMPLETED], [np.nan], [1.7e9])
    assert np.array_equal(state, before)


def test_a_good_grade_raises_mastery_and_a_bad_one_lowers_it():
    model = one_point_model()
    state = new_state(model, 2)
    after = apply_events(state, model, [0, 1], [0, 0], [Kind.ASSESSED] * 2, [1.0, 0.0], [1.7e9] * 2)
    assert after[0, MASTERY, 0] > 0.3 > after[1, MASTERY, 0]
    assert after[0, EVIDENCE, 0] == 1.0 and after[0, LAST_SEEN, 0] == 1.7e9


@pytest.mark.parametrize("truth", [0.3, 0.6, 0.85])
def test_repeated_partial_scores_settle_at_the_mastery_that_explains_them(truth):
    """A learner who shows mastery on a share `truth` of attempts scores guess + (1 - guess -
    slip) truth on average; the estimate settles there instead of running to 1 (the two-state
    likelihood took any score above 0.5 as a sign of mastery, however often it came)."""
    model = one_point_model(prior=0.3)
    score = 0.2 + (1 - 0.2 - 0.1) * truth
    state = new_state(model, 1)
    n = 3000  # the steps shrink with the evidence: the estimate closes in like 1 / sqrt(n)
    state = apply_events(state, model, [0] * n, [0] * n, [Kind.ASSESSED] * n, [score] * n, 1.7e9 + np.arange(n))
    assert state[0, MASTERY, 0] == pytest.approx(truth, abs=0.03)


def test_one_right_or_wrong_item_gives_the_exact_posterior_mean():
    """Beta(a, b) belief, P(right | K) = g + (1 - g - s) K: E[K | right] = E[K (g + d K)] / E[g + d K]."""
    model = one_point_model(prior=0.3)
    state = new_state(model, 2)
    after = apply_events(state, model, [0, 1], [0, 0], [Kind.ASSESSED] * 2, [1.0, 0.0], [1.7e9] * 2)
    a, b = 0.3 * 2, 0.7 * 2  # mean 0.3, PRIOR_STRENGTH 2 observations
    second = a * (a + 1) / ((a + b) * (a + b + 1))  # E[K^2]
    d = 1 - 0.2 - 0.1
    right = (0.2 * 0.3 + d * second) / (0.2 + d * 0.3)
    wrong = (0.8 * 0.3 - d * second) / (0.8 - d * 0.3)
    assert_allclose(after[:, MASTERY, 0], [right, wrong], rtol=1e-12)


def test_uncertainty_shrinks_with_evidence_and_grows_back_with_forgetting():
    model = one_point_model(prior=0.5, half_life=30 * DAY)
    state = new_state(model, 1)
    never = decayed_belief(state, model, 1.7e9).uncertainty[0, 0]
    assert never == np.sqrt(0.25 / 3)  # the largest it can be: p = 0.5, no evidence
    spreads = []
    for _n in range(1, 6):
        state = apply_events(state, model, [0], [0], [Kind.ASSESSED], [0.5], [1.7e9])
        spreads.append(decayed_belief(state, model, 1.7e9).uncertainty[0, 0])
    assert never > spreads[0] and np.all(np.diff(spreads) < 0)
    later = [decayed_belief(state, model, 1.7e9 + d * DAY) for d in (30, 300)]
    assert later[0].evidence[0, 0] == state[0, EVIDENCE, 0] / 2
    # Relative to what is left of the mastery, old evidence weighs less and less.
    relative = [b.uncertainty[0, 0] / np.sqrt(b.mastery[0, 0] * (1 - b.mastery[0, 0])) for b in later]
    assert relative[0] < relative[1] < 1 / np.sqrt(3)


def test_learning_narrows_the_belief_by_its_rate_and_widens_it_by_the_steps_spread():
    """Every mastery K goes to K + (1 - K) r: the belief's variance shrinks by (1 - r)^2 and
    gains (RATE_SPREAD (1 - p) r)^2 for the step's own uncertainty. Training without a score
    moving the mean towards 0.5 used to widen the belief (0.17 -> 0.28 here): the engine grew
    less sure of a learner the more it trained them."""
    model = one_point_model(prior=0.1, learn=0.3)
    fresh = new_state(model, 1)
    before = decayed_belief(fresh, model, 1.7e9).uncertainty[0, 0]
    state = apply_events(fresh, model, [0], [0], [Kind.COMPLETED], [np.nan], [1.7e9])
    after = decayed_belief(state, model, 1.7e9)
    assert after.mastery[0, 0] == pytest.approx(0.1 + 0.9 * 0.3)
    variance = 0.7**2 * before**2 + (RATE_SPREAD * 0.9 * 0.3) ** 2
    assert after.uncertainty[0, 0] == pytest.approx(math.sqrt(variance), rel=1e-12)
    assert after.uncertainty[0, 0] < math.sqrt(0.37 * 0.63 / 3)  # the old spread at the new mean
    # A module that teaches everything leaves nothing uncertain: the belief is at 1.
    whole = apply_events(
        fresh, dataclasses.replace(model, learn=np.array([[1.0]])), [0], [0], [Kind.COMPLETED], [np.nan], [1.7e9]
    )
    assert whole[0, MASTERY, 0] == 1.0 and decayed_belief(whole, model, 1.7e9).uncertainty[0, 0] == 0.0


def test_apply_event_rejects_codes_out_of_range():
    model = one_point_model()
    state = new_state(model, 1)
    with pytest.raises(ValueError):
        apply_event(state, model, 0, 1, Kind.GRADED, 0.5, 1.7e9)
    with pytest.raises(ValueError):
        apply_event(state, model, 0, 0, Kind.GRADED, 1.5, 1.7e9)


def test_forgetting_halves_mastery_after_one_half_life():
    model = one_point_model(prior=0.5, half_life=10 * DAY)
    state = apply_events(new_state(model, 1), model, [0], [0], [Kind.VIEWED], [np.nan], [1.7e9])
    state = apply_events(state, model, [0], [0], [Kind.VIEWED], [np.nan], [1.7e9 + 10 * DAY])
    assert state[0, MASTERY, 0] == 0.25


@settings(max_examples=100, deadline=None)
@given(
    models(), st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from([0.0, 0.3, 0.6, 1.0]), st.floats(0.0, 0.3)
)
def test_recommend_matches_reference(model, seed, k, threshold, spread_threshold):
    rng = np.random.default_rng(seed)
    model = dataclasses.replace(model, assessment=rng.random(model.n_modules) < 0.3)
    n = 5
    state = new_state(model, n)
    state[:, MASTERY] = rng.random((n, model.n_points))
    state[:, EVIDENCE] = np.where(rng.random((n, model.n_points)) < 0.5, rng.uniform(0, 8, (n, model.n_points)), 0.0)
    state[:, LAST_SEEN] = np.where(rng.random((n, model.n_points)) < 0.5, 1.7e9, 0.0)
    targets = model.targets[rng.integers(0, 3, n)]
    now = 1.7e9 + rng.choice([0.0, 3600.0, 30 * DAY])  # just after the last event (repeats) or long after
    due = None
    if rng.random() < 0.6:  # some modules mandatory: overdue, due within the window or later, ties included
        when = now + rng.choice([-3.0, 0.0, 5.0, 5.0, 20.0], (n, model.n_modules)) * DAY
        due = np.where(rng.random((n, model.n_modules)) < 0.3, when, np.inf)
    recs = recommend(
        state,
        targets,
        model,
        now=now,
        k=k,
        prerequisite_threshold=threshold,
        uncertainty_threshold=spread_threshold,
        due=due,
        due_window=14 * DAY,
    )
    for i in range(n):
        cells = naive.belief(state[i, MASTERY], state[i, EVIDENCE], state[i, LAST_SEEN], model.half_life, now)
        assert_allclose(recs.mastery[i], [c[0] for c in cells], atol=1e-12)
        expected = naive.rank_for_model(
            model,
            cells,
            targets[i],
            state[i, MASTERY],
            state[i, LAST_SEEN],
            threshold,
            spread_threshold,
            k,
            min(2 * k, max(model.n_modules, k)),
            now,
            None if due is None else due[i],
            now + 14 * DAY,
        )
        got = [int(q) for q in recs.module[i] if q >= 0]
        assert len(got) == len(expected)
        assert all(q == -1 for q in recs.module[i, len(got) :])
        # Ties in value may come in either order; compare the values, then per module.
        assert_allclose(recs.gain_per_minute[i, : len(got)], [e[3] for e in expected], rtol=1e-9)
        by_module = {e[0]: e for e in expected}
        for slot, q in enumerate(got):
            if q not in by_module:  # a tie at the cut
                continue
            _, gain, information, _, action, _ = by_module[q]
            assert_allclose([recs.gain[i, slot], recs.information[i, slot]], [gain, information], rtol=1e-9, atol=1e-15)
            assert recs.action[i, slot] == action


@pytest.mark.parametrize("sd", [0.01, 0.1, 0.29])
def test_the_expected_shortfall_is_the_exact_one_within_its_approximation(sd):
    """The kernel's E[max(0, T - K)^2] (its normal tail by Abramowitz and Stegun, cut 3 sd either
    side of the target) is the exact one to a millionth of the belief's variance."""
    from engine.kernels.recommend import expected_shortfall

    for gap in np.linspace(-5 * sd, 5 * sd, 201):
        exact = naive.exact_expected_shortfall(gap, sd)
        assert abs(expected_shortfall(gap, sd) - exact) < 1e-3 * sd * sd
        assert expected_shortfall(gap, sd) == pytest.approx(naive.expected_shortfall(gap, sd), rel=1e-12, abs=1e-15)
        if abs(gap) < 3 * sd:
            assert abs(expected_shortfall(gap, sd) - exact) < 1e-6 * sd * sd


@pytest.mark.parametrize(("gap", "variance"), [(0.0, 0.01), (-0.05, 0.004), (-0.2, 0.02), (0.1, 0.0025)])
def test_the_revealed_shortfall_is_the_integral_of_the_shortfall(gap, variance):
    exact = naive.revealed_shortfall_by_integration(gap, variance)
    assert naive.revealed_shortfall(gap, variance) == pytest.approx(exact, rel=1e-6)


def test_a_quiz_is_offered_where_it_decides_not_for_its_learning():
    """Quiz (learn 0.05, 10 minutes) against a course (learn 0.2, 45 minutes) on one point, target 0.5."""
    model = Model(
        prior=np.array([0.55]),
        guess=np.array([0.2]),
        slip=np.array([0.1]),
        half_life=np.array([math.inf]),
        learn=np.array([[0.2], [0.05]]),
        coverage=np.array([[1.0], [1.0]]),
        minutes=np.array([45.0, 10.0]),
        requires=np.zeros((2, 1), bool),
        targets=np.array([[0.5]]),
        assessment=np.array([False, True]),
    )
    state = new_state(model, 3)
    state[1, MASTERY] = 0.3  # well below target: training comes first whatever the quiz says
    state[2, EVIDENCE] = 30.0  # just above target and well measured: nothing left to decide by a quiz
    recs = recommend(state, model.targets[[0, 0, 0]], model, now=1.7e9, k=2)
    # the course comes second: at 0.55 the belief (never measured) still allows a shortfall below 0.5
    assert list(recs.module[0]) == [1, 0] and recs.action[0, 0] == Action.ASSESS
    assert recs.information[0, 0] > 0 and recs.gain_per_minute[0, 0] == recs.information[0, 0] / 10
    assert list(recs.module[1]) == [0, -1] and recs.action[1, 0] == Action.LEARN
    # measured: no quiz, but 0.55 with 30 observations still leaves a shortfall below 0.5 to train away
    assert list(recs.module[2]) == [0, -1] and recs.action[2, 0] == Action.LEARN


def test_review_when_forgetting_pulled_a_reached_target_below():
    model = one_point_model(prior=0.1, half_life=30 * DAY, learn=0.3)
    state = new_state(model, 2)
    state[:, MASTERY, 0] = [0.9, 0.5]
    state[:, LAST_SEEN, 0] = 1.7e9
    recs = recommend(state, model.targets[[0, 0]], model, now=1.7e9 + 30 * DAY, k=1)
    assert list(recs.action[:, 0]) == [Action.REVIEW, Action.LEARN]


def test_shortfall_loss_counts_only_shortfall():
    loss = shortfall_loss(np.array([[0.5, 0.9]]), np.array([[0.8, 0.7]]))
    assert_allclose(loss.per_cell, [[0.09, 0.0]])
    assert_allclose(loss.gradient, [[-0.6, 0.0]])
    assert loss.total == loss.per_learner[0] == loss.per_point.sum()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(1, 5), st.integers(1, 3))
def test_objective_and_gradient_by_learner_point_and_group(seed, n, m, n_groups):
    rng = np.random.default_rng(seed)
    mastery, targets = rng.random((n, m)), rng.random((n, m)) * (rng.random((n, m)) < 0.7)
    group = rng.integers(0, n_groups, n)
    loss = shortfall_loss(mastery, targets)
    total = sum(max(0.0, targets[i, j] - mastery[i, j]) ** 2 for i in range(n) for j in range(m))
    assert_allclose(loss.total, total, rtol=1e-12)
    # The gradient against finite differences (away from the kink at K = T).
    h = 1e-7
    for i in range(n):
        for j in range(m):
            if abs(targets[i, j] - mastery[i, j]) > 1e-5:
                bumped = mastery.copy()
                bumped[i, j] += h
                assert_allclose(
                    (shortfall_loss(bumped, targets).total - loss.total) / h, loss.gradient[i, j], atol=1e-5
                )
    groups = loss.by_group(group, n_groups)
    for g in range(n_groups):
        members = group == g
        assert_allclose(groups.loss[g], loss.per_learner[members].sum(), atol=1e-12)
        assert_allclose(groups.gradient[g], loss.gradient[members].sum(axis=0), atol=1e-12)
        assert groups.learners[g] == members.sum()
    assert_allclose(groups.per_point.sum(axis=0), loss.per_point, atol=1e-12)
    assert_allclose(loss.gradient_per_point, groups.gradient.sum(axis=0), atol=1e-12)
