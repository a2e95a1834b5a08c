"""Kernels of the mastery update: Bayesian Knowledge Tracing with soft evidence,
coverage weights, per-module learning rates and forgetting over real time."""

import numpy as np
from numba import prange

from engine.jit import inline, kernel, parallel_kernel
from engine.model import EVIDENCE, LAST_SEEN, MASTERY

# Pseudo-observations the prior counts for in the uncertainty (a uniform Beta(1, 1) at p = 0.5).
PRIOR_STRENGTH = 2.0
# Relative standard deviation of the learning a module brings one learner: its rate is the
# catalog's (or a fit's) estimate, and learners differ in pace (`learnt`).
RATE_SPREAD = 0.5


@inline
def forget_factor(elapsed, half_life):
    """Share of mastery (and of evidence) that survives `elapsed` seconds unused."""
    if elapsed <= 0.0 or half_life == np.inf:
        return 1.0
    return 2.0 ** (-elapsed / half_life)


@inline
def decayed(state, i, j, now, half_life):
    """(mastery, evidence) of learner i's point j as of `now`, forgetting applied since it was last touched."""
    last = state[i, LAST_SEEN, j]
    f = forget_factor(now - last, half_life[j]) if last > 0.0 else 1.0
    return state[i, MASTERY, j] * f, state[i, EVIDENCE, j] * f


@inline
def observe(p, evidence, score, weight, guess, slip):
    """Mean of the belief about mastery after a score in [0, 1] seen with evidence weight `weight`.

    The belief is a Beta with mean p and PRIOR_STRENGTH + `evidence` observations (engine/mastery.py);
    an item is right with probability guess + (1 - guess - slip) K. For one item (weight 1,
    score 0 or 1) the posterior mean is exact: p + d Var / P(right) when right, p - d Var /
    P(wrong) when wrong (d = 1 - guess - slip, Var the Beta's variance). A partial score mixes
    the two in proportion, and a weight below 1 scales the step. Repeated scores s settle the
    mean at (s - guess) / d, the mastery that explains them (BKT's two-state likelihood drove
    it to 1 for any s above 0.5).
    """
    spread = 1.0 - guess - slip
    variance = p * (1.0 - p) / (PRIOR_STRENGTH + evidence + 1.0)
    if spread <= 0.0 or variance <= 0.0:
        return p
    right = guess + spread * p
    q = p + weight * spread * variance * (score / right - (1.0 - score) / (1.0 - right))
    return min(max(q, 0.0), 1.0)


@inline
def learnt(p, evidence, rate):
    """(mean, evidence) of the belief after learning at `rate`: K -> K + (1 - K) rate moves
    every learner's mastery, so the belief's mean moves so and its spread narrows by 1 - rate
    (those further below gain more); the step (1 - p) rate is itself uncertain by RATE_SPREAD
    of it, which adds its square to the variance. The evidence is what a Beta belief (mean and
    variance as engine/mastery.py reads them) of the new mean and variance holds, at least 0."""
    after = p + (1.0 - p) * rate
    mass = after * (1.0 - after)
    if mass <= 0.0:
        return after, evidence
    keep = 1.0 - rate
    noise = (1.0 - p) * rate * RATE_SPREAD
    variance = keep * keep * p * (1.0 - p) / (PRIOR_STRENGTH + evidence + 1.0) + noise * noise
    return after, max(mass / variance - PRIOR_STRENGTH - 1.0, 0.0)


@inline
def uncertainty_of(p, evidence):
    """Standard deviation of the Beta belief with mean p and PRIOR_STRENGTH + evidence observations."""
    return np.sqrt(p * (1.0 - p) / (PRIOR_STRENGTH + evidence + 1.0))


@inline
def apply_event_kernel(
    state,
    i,
    q,
    kind,
    s,
    t,
    update,
    threshold,
):
    """One event on learner row i of `state` (L, 3, M), in place: per point module q covers
    (`covered_points[covered_starts[q]:covered_starts[q + 1]]`), forget since last touched,
    weigh the score as evidence, then learn at the module's rate times the learner's readiness
    (the weakest required point's mastery at t over `threshold`, at most 1). `update`: the
    read-only arrays (what each kind earns, then the model's parameters) as
    engine/mastery.py's `_update_arrays` bundles them."""
    (
        kind_learn,
        kind_evidence,
        learn,
        coverage,
        covered_starts,
        covered_points,
        guess,
        slip,
        half_life,
        required_starts,
        required_points,
    ) = update
    learn_share = kind_learn[kind]
    evidence_share = 0.0 if np.isnan(s) else kind_evidence[kind]
    if learn_share > 0.0 and threshold > 0.0:
        ready = 1.0
        for c in range(required_starts[q], required_starts[q + 1]):
            r = required_points[c]
            p = state[i, MASTERY, r]
            if state[i, LAST_SEEN, r] > 0.0:
                p *= forget_factor(t - state[i, LAST_SEEN, r], half_life[r])
            if p < threshold * ready:
                ready = p / threshold
        learn_share *= ready
    for c in range(covered_starts[q], covered_starts[q + 1]):
        j = covered_points[c]
        p = state[i, MASTERY, j]
        n = state[i, EVIDENCE, j]
        last = state[i, LAST_SEEN, j]
        if last > 0.0:
            f = forget_factor(t - last, half_life[j])
            p *= f
            n *= f
        weight = coverage[q, j] * evidence_share
        if weight > 0.0:
            p = observe(p, n, s, weight, guess[j], slip[j])
            n += weight
        rate = learn[q, j] * learn_share
        if rate > 0.0:
            p, n = learnt(p, n, rate)
        state[i, MASTERY, j] = p
        state[i, EVIDENCE, j] = n
        state[i, LAST_SEEN, j] = max(last, t)


@kernel
def apply_one_kernel(state, i, q, kind, s, t, kinds, points, learn, coverage, covered, required, threshold):
    """apply_event_kernel for a call from Python (the streaming path), with the update's arrays
    packed into fewer (engine/mastery.py's `_one_event_arrays`): Numba's dispatcher types every
    argument at every call, and a tuple of arrays slower than the arrays one by one."""
    starts = learn.shape[0] + 1
    update = (
        kinds[0],
        kinds[1],
        learn,
        coverage,
        covered[:starts],
        covered[starts:],
        points[0],
        points[1],
        points[2],
        required[:starts],
        required[starts:],
    )
    apply_event_kernel(state, i, q, kind, s, t, update, threshold)


@kernel
def apply_events_kernel(
    state,
    learner,
    module,
    kind,
    score,
    time,
    update,
    threshold,
):
    """Apply events in order to `state` (L, 3, M) in place."""
    for e in range(learner.shape[0]):
        apply_event_kernel(
            state,
            learner[e],
            module[e],
            kind[e],
            score[e],
            time[e],
            update,
            threshold,
        )


@parallel_kernel
def decay_kernel(state, now, half_life, out_mastery, out_evidence, out_uncertainty):
    """Mastery, evidence and uncertainty as of `now`, forgetting applied since each point was last touched."""
    for i in prange(state.shape[0]):
        for j in range(state.shape[2]):
            p, n = decayed(state, i, j, now, half_life)
            out_mastery[i, j] = p
            out_evidence[i, j] = n
            out_uncertainty[i, j] = uncertainty_of(p, n)
