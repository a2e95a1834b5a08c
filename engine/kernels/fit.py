"""Kernels of fitting: grouping observations into sequences, and EM (forward-backward)
for Bayesian Knowledge Tracing per knowledge point, with one learning rate per resource
(module) and a forgetting rate per point.

The hidden state of a (learner, point) is mastered (M) or not (U). Between a learner's
consecutive observations of a point, the resource r of the earlier one acts:
U -> M with probability learn[r], M -> U with probability forget (pyBKT's convention:
the resource of row t drives the transition to row t + 1). A score s in [0, 1] is soft
evidence with likelihoods s(1 - slip) + (1 - s) slip if mastered and s guess + (1 - s)(1 - guess)
if not; NaN marks an activity without a score, which moves the state but says nothing.
"""

import numpy as np
from numba import prange

from engine.jit import inline, kernel, parallel_kernel

FLOOR = 1e-6  # keeps every probability inside (0, 1), so no state becomes impossible
# The forward pass's messages are rescaled by a power of two (exact) when their mass falls
# below RESCALE_BELOW at the end of a block of rows. A row shrinks it by FLOOR at worst, so it
# stays above 1e-100 * FLOOR**8 = 1e-148 inside a block, and products of two such masses
# stay above the smallest double (2e-308); a rescaled mass is below 2**300 * 1e-100 < 1.
RESCALE_EVERY = 8
RESCALE_BELOW = 1e-100
RESCALE = 2.0**300
LOG_RESCALE = 300 * np.log(2.0)


@kernel
def check_rows(learner, point, resource, score):
    """One pass over the rows: (smallest and largest code of learner, point and resource,
    whether learner codes never decrease, whether every score is NaN or in [0, 1]).
    An empty resource array stands for resource 0 everywhere."""
    n = learner.shape[0]
    low = np.zeros(3, np.int64)
    high = np.full(3, -1, np.int64)
    if n == 0:
        return low, high, True, True
    low[0] = high[0] = learner[0]
    low[1] = high[1] = point[0]
    low[2] = high[2] = resource[0] if resource.shape[0] else 0
    ascending = True
    scores_ok = True
    for e in range(n):
        i, p = learner[e], point[e]
        low[0] = min(low[0], i)
        high[0] = max(high[0], i)
        low[1] = min(low[1], p)
        high[1] = max(high[1], p)
        if resource.shape[0]:
            low[2] = min(low[2], resource[e])
            high[2] = max(high[2], resource[e])
        if e and i < learner[e - 1]:
            ascending = False
        s = score[e]
        if s < 0.0 or s > 1.0:  # False for NaN
            scores_ok = False
    return low, high, ascending, scores_ok


@kernel
def sort_by_learner(learner, rows, n_learners):
    """The visiting order `rows` (empty: 0..n-1) made stable-sorted by learner (counting sort)."""
    n = learner.shape[0]
    identity = rows.shape[0] == 0
    counts = np.zeros(n_learners + 1, np.int64)
    for k in range(n):
        counts[learner[k if identity else rows[k]] + 1] += 1
    for i in range(n_learners):
        counts[i + 1] += counts[i]
    out = np.empty(n, np.int64)
    for k in range(n):
        e = k if identity else rows[k]
        out[counts[learner[e]]] = e
        counts[learner[e]] += 1
    return out


@kernel
def group_rows(learner, point, resource, score, rows, n_points):
    """Rows visited in the order `rows` (empty: 0..n-1), in which each learner's rows are
    contiguous, grouped stably by point (a counting sort), so that every (point, learner)
    sequence is contiguous and in visiting order.

    Returns (order, resource, score, starts, first, scored, partial, longest): row numbers in
    sequence order, their resource (0 when `resource` is empty) and score; sequence s is
    positions starts[s]:starts[s + 1]; sequences of point p are first[p]:first[p + 1];
    per point, rows with a score and rows with a partial one (neither 0 nor 1); the rows of
    the longest sequence.
    """
    n = point.shape[0]
    identity = rows.shape[0] == 0
    block = np.zeros(n_points + 1, np.int64)  # point p's rows go to block[p]:block[p + 1]
    for k in range(n):
        block[point[k if identity else rows[k]] + 1] += 1
    for p in range(n_points):
        block[p + 1] += block[p]
    position = block[:-1].copy()
    order = np.empty(n, np.int64)
    sequence_resource = np.zeros(n, np.int32)
    sequence_score = np.empty(n)
    # A point's sequence starts are kept in its own block until they are counted.
    sequence_start = np.empty(n, np.int64)
    sequences = np.zeros(n_points, np.int64)
    last_learner = np.full(n_points, -1, np.int64)
    scored = np.zeros(n_points, np.int64)
    partial = np.zeros(n_points, np.int64)
    for k in range(n):
        e = k if identity else rows[k]
        p = point[e]
        at = position[p]
        position[p] = at + 1
        order[at] = e
        if resource.shape[0]:
            sequence_resource[at] = resource[e]
        s = score[e]
        sequence_score[at] = s
        scored[p] += not np.isnan(s)
        partial[p] += s > 0.0 and s < 1.0
        if learner[e] != last_learner[p]:  # learners' rows are contiguous: a new sequence
            sequence_start[block[p] + sequences[p]] = at
            sequences[p] += 1
            last_learner[p] = learner[e]
    first = np.zeros(n_points + 1, np.int64)
    for p in range(n_points):
        first[p + 1] = first[p] + sequences[p]
    starts = np.empty(first[n_points] + 1, np.int64)
    for p in range(n_points):
        starts[first[p] : first[p + 1]] = sequence_start[block[p] : block[p] + sequences[p]]
    starts[first[n_points]] = n
    longest = 0
    for s in range(first[n_points]):
        longest = max(longest, starts[s + 1] - starts[s])
    return order, sequence_resource, sequence_score, starts, first, scored, partial, longest


@kernel
def is_sorted(values):
    for k in range(1, values.shape[0]):
        if values[k] < values[k - 1]:
            return False
    return True


@inline
def likelihoods(s, guess, slip):
    """(P(s | mastered), P(s | not mastered)); (1, 1) when there is no score."""
    if np.isnan(s):
        return 1.0, 1.0
    return s * (1.0 - slip) + (1.0 - s) * slip, s * guess + (1.0 - s) * (1.0 - guess)


@inline
def forward(lo, hi, resource, score, prior, learn, forget, guess, slip, predicted, filtered):
    """Forward pass over rows lo:hi (one sequence, in sequence order): P(M) before
    (`predicted[k - lo]`) and after (`filtered[k - lo]`) each row. Returns the log-likelihood.

    The messages are kept unnormalised (the mass in M and in U), so that the step from one
    row to the next has no division: the divisions that normalise them are off that chain
    of dependent operations, and the processor overlaps rows."""
    mass_m = prior
    mass_u = 1.0 - prior
    after = 1.0  # P(the rows so far), times 2**(300 r) after r rescalings (RESCALE)
    log_scale = 0.0
    for block in range(lo, hi, RESCALE_EVERY):
        for k in range(block, min(block + RESCALE_EVERY, hi)):
            like_m, like_u = likelihoods(score[k], guess, slip)
            seen_m = mass_m * like_m
            seen_u = mass_u * like_u
            before = mass_m + mass_u
            after = seen_m + seen_u
            inverse = 1.0 / (before * after)
            predicted[k - lo] = mass_m * after * inverse
            filtered[k - lo] = seen_m * before * inverse
            learn_r = learn[resource[k]]
            mass_m = seen_m * (1.0 - forget) + seen_u * learn_r
            mass_u = seen_m * forget + seen_u * (1.0 - learn_r)
        # Checked per block, not per row: LLVM would turn a per-row test into selects on the chain.
        if after < RESCALE_BELOW:
            mass_m *= RESCALE
            mass_u *= RESCALE
            after *= RESCALE
            log_scale -= LOG_RESCALE
    return np.log(after) + log_scale


@inline
def smoothed_transitions(f_m, next_m, g_next, forget, learn_r):
    """Posteriors of the transition from a row to the next one of its sequence, from P(M)
    after the row (f_m), before the next (next_m) and given the whole sequence at the next
    (g_next): (M -> M, M -> U, U -> M, U -> U), which sum to 1."""
    if 0.0 < next_m < 1.0:
        inverse = 1.0 / (next_m * (1.0 - next_m))
        per_m = (1.0 - next_m) * inverse  # 1 / next_m
        per_u = next_m * inverse  # 1 / (1 - next_m)
    else:  # a certain state: nothing flows into the other one
        per_m = next_m
        per_u = 1.0 - next_m
    ratio_m = g_next * per_m
    ratio_u = (1.0 - g_next) * per_u
    return (
        f_m * (1.0 - forget) * ratio_m,
        f_m * forget * ratio_u,
        (1.0 - f_m) * learn_r * ratio_m,
        (1.0 - f_m) * (1.0 - learn_r) * ratio_u,
    )


@kernel
def em_step(lo_seq, hi_seq, starts, resource, score, soft, params, fit_forget, predicted, filtered, out, trans):
    """One EM iteration for one point over sequences lo_seq:hi_seq: returns the
    log-likelihood at `params` (prior, forget, guess, slip, then learn per resource) and
    writes the parameters that maximise its expectation into `out`. `soft`: some scores are
    partial (neither 0, 1 nor NaN), which takes a slower path. `trans` (R, 2) receives the
    expected number of transitions out of U per resource and the learned share of them."""
    prior, forget, guess, slip = params[0], params[1], params[2], params[3]
    learn = params[4:]
    trans[:] = 0.0
    init_m = 0.0
    stay_m = 0.0
    drop_m = 0.0
    total_m = 0.0
    wrong_m = 0.0
    total_u = 0.0
    right_u = 0.0
    loglike = 0.0
    for s in range(lo_seq, hi_seq):
        lo = starts[s]
        hi = starts[s + 1]
        loglike += forward(lo, hi, resource, score, prior, learn, forget, guess, slip, predicted, filtered)
        g_m = filtered[hi - 1 - lo]  # P(M at row k | the whole sequence), smoothing backwards
        for k in range(hi - 1, lo - 1, -1):
            if k < hi - 1:
                r = resource[k]
                mm, mu, um, uu = smoothed_transitions(filtered[k - lo], predicted[k + 1 - lo], g_m, forget, learn[r])
                stay_m += mm
                drop_m += mu
                trans[r, 0] += um + uu
                trans[r, 1] += um
                g_m = mm + mu
            sc = score[k]
            if soft:
                if not np.isnan(sc):
                    # Expected share of the item answered wrong while M, or right while U.
                    like_m, like_u = likelihoods(sc, guess, slip)
                    total_m += g_m
                    wrong_m += g_m * (1.0 - sc) * slip / like_m
                    total_u += 1.0 - g_m
                    right_u += (1.0 - g_m) * sc * guess / like_u
            else:  # 0, 1 or NaN: the same sums, without branches
                scored = 0.0 if np.isnan(sc) else 1.0
                right = 0.0 if np.isnan(sc) else sc
                total_m += g_m * scored
                wrong_m += g_m * (scored - right)
                total_u += (1.0 - g_m) * scored
                right_u += (1.0 - g_m) * right
        init_m += g_m
    out[:] = params
    out[0] = min(max(init_m / (hi_seq - lo_seq), FLOOR), 1.0 - FLOOR)
    if fit_forget and stay_m + drop_m > 0.0:
        out[1] = min(max(drop_m / (stay_m + drop_m), FLOOR), 1.0 - FLOOR)
    if total_u > 0.0:
        out[2] = min(max(right_u / total_u, FLOOR), 1.0 - FLOOR)
    if total_m > 0.0:
        out[3] = min(max(wrong_m / total_m, FLOOR), 1.0 - FLOOR)
    for r in range(trans.shape[0]):
        if trans[r, 0] > 0.0:  # else the rate is not identified: it stays
            out[4 + r] = min(max(trans[r, 1] / trans[r, 0], FLOOR), 1.0 - FLOOR)
    return loglike


@kernel
def em_point(
    lo_seq, hi_seq, starts, resource, score, soft, params, fit_forget, max_iter, tol, predicted, filtered, trans
):
    """EM for one point, accelerated by SQUAREM (Varadhan and Roland 2008): after two EM
    steps from θ0 to θ1 to θ2, a jump along θ0 - 2α r + α² v (r = θ1 - θ0, v = θ2 - θ1 - r,
    α = -max(1, |r| / |v|)), kept (with one EM step from it) only if its log-likelihood is
    at least that of θ1; otherwise θ2. Plain EM's fixed point, in fewer E-steps.

    Stops when an E-step improves the log-likelihood by less than `tol` times its magnitude,
    with `params` the parameters it was measured at, or after `max_iter` E-steps, with
    `params` one M-step further (so max_iter=1 is one plain EM step). Returns
    (log-likelihood, E-steps); `trans` holds the last E-step's transition counts.
    """
    size = params.shape[0]
    step_1 = np.empty(size)
    step_2 = np.empty(size)
    jump = np.empty(size)
    last = -np.inf
    steps = 0
    while True:
        loglike = em_step(
            lo_seq, hi_seq, starts, resource, score, soft, params, fit_forget, predicted, filtered, step_1, trans
        )
        steps += 1
        if steps > 1 and loglike - last < tol * max(1.0, abs(loglike)):
            return loglike, steps
        if steps == max_iter:
            params[:] = step_1
            return loglike, steps
        last = loglike
        loglike = em_step(
            lo_seq, hi_seq, starts, resource, score, soft, step_1, fit_forget, predicted, filtered, step_2, trans
        )
        steps += 1
        if loglike - last < tol * max(1.0, abs(loglike)):
            params[:] = step_1
            return loglike, steps
        if steps == max_iter:
            params[:] = step_2
            return loglike, steps
        last = loglike
        r_norm = 0.0
        v_norm = 0.0
        for i in range(size):
            r = step_1[i] - params[i]
            v = step_2[i] - step_1[i] - r
            r_norm += r * r
            v_norm += v * v
        if v_norm == 0.0:
            params[:] = step_2
            continue
        alpha = -max(1.0, np.sqrt(r_norm / v_norm))
        for i in range(size):
            r = step_1[i] - params[i]
            v = step_2[i] - step_1[i] - r
            jump[i] = min(max(params[i] - 2.0 * alpha * r + alpha * alpha * v, FLOOR), 1.0 - FLOOR)
        if not fit_forget:
            jump[1] = params[1]  # 0, not FLOOR
        loglike = em_step(
            lo_seq, hi_seq, starts, resource, score, soft, jump, fit_forget, predicted, filtered, params, trans
        )
        steps += 1
        if loglike < last:  # the jump lost ground: θ2 instead
            params[:] = step_2
        else:
            last = loglike
        if steps == max_iter:
            return last, steps


@parallel_kernel
def em_kernel(
    starts,
    first,
    longest,
    resource,
    score,
    partial,
    params,
    fit_forget,
    max_iter,
    tol,
    out_loglike,
    out_iterations,
    out_counts,
):
    """EM for every point in parallel over rows in sequence order; `params` (P, 4 + R)
    is updated in place; partial[p]: rows of point p with a partial score; longest: the
    rows of the longest sequence (group_rows)."""
    n_points = first.shape[0] - 1
    for p in prange(n_points):
        if first[p + 1] == first[p]:
            out_loglike[p] = 0.0
            out_iterations[p] = 0
            continue
        predicted = np.empty(longest)  # one sequence's forward pass: it stays in cache
        filtered = np.empty(longest)
        ll, it = em_point(
            first[p],
            first[p + 1],
            starts,
            resource,
            score,
            partial[p] > 0,
            params[p],
            fit_forget,
            max_iter,
            tol,
            predicted,
            filtered,
            out_counts[p],
        )
        out_loglike[p] = ll
        out_iterations[p] = it


@kernel
def resource_learners(starts, first, resource, n_resources):
    """(P, R): how many learners' sequences (rows in sequence order) use resource r for a
    transition on point p."""
    n_points = first.shape[0] - 1
    out = np.zeros((n_points, n_resources), np.int64)
    last = np.full(n_resources, -1, np.int64)
    for p in range(n_points):
        last[:] = -1
        for s in range(first[p], first[p + 1]):
            for k in range(starts[s], starts[s + 1] - 1):
                r = resource[k]
                if last[r] != s:
                    last[r] = s
                    out[p, r] += 1
    return out


@parallel_kernel
def predict_kernel(order, starts, first, longest, resource, score, params, out, out_mastery):
    """P(correct) and P(mastered) of every row before it is seen, from the forward pass of
    its sequence (rows in sequence order), each written at its own index order[k]."""
    n_points = first.shape[0] - 1
    for p in prange(n_points):
        prior, forget, guess, slip = params[p, 0], params[p, 1], params[p, 2], params[p, 3]
        learn = params[p, 4:]
        predicted = np.empty(longest)
        filtered = np.empty(longest)
        for s in range(first[p], first[p + 1]):
            lo = starts[s]
            forward(lo, starts[s + 1], resource, score, prior, learn, forget, guess, slip, predicted, filtered)
            for k in range(lo, starts[s + 1]):
                m = predicted[k - lo]
                out[order[k]] = m * (1.0 - slip) + (1.0 - m) * guess
                out_mastery[order[k]] = m
