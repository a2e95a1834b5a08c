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


@kernel
def group_rows(learner, point, n_learners, n_points):
    """Stable order of rows by (point, learner): two counting sorts, learner then point.

    Returns (order, sequence_start, point_first_sequence): rows order[start[s]:start[s+1]]
    form sequence s; sequences of point p are first[p]:first[p+1].
    """
    n = learner.shape[0]
    counts = np.zeros(n_learners + 1, np.int64)
    for e in range(n):
        counts[learner[e] + 1] += 1
    for i in range(n_learners):
        counts[i + 1] += counts[i]
    by_learner = np.empty(n, np.int64)
    for e in range(n):
        by_learner[counts[learner[e]]] = e
        counts[learner[e]] += 1
    counts = np.zeros(n_points + 1, np.int64)
    for e in range(n):
        counts[point[e] + 1] += 1
    for p in range(n_points):
        counts[p + 1] += counts[p]
    point_row_start = counts.copy()
    order = np.empty(n, np.int64)
    for k in range(n):
        e = by_learner[k]
        order[counts[point[e]]] = e
        counts[point[e]] += 1
    starts = np.empty(n + 1, np.int64)
    first = np.zeros(n_points + 1, np.int64)
    n_sequences = 0
    for p in range(n_points):
        first[p] = n_sequences
        for k in range(point_row_start[p], point_row_start[p + 1]):
            if k == point_row_start[p] or learner[order[k]] != learner[order[k - 1]]:
                starts[n_sequences] = k
                n_sequences += 1
    first[n_points] = n_sequences
    starts[n_sequences] = n
    return order, starts[: n_sequences + 1].copy(), first


@inline
def likelihoods(s, guess, slip):
    """(P(s | mastered), P(s | not mastered)); (1, 1) when there is no score."""
    if np.isnan(s):
        return 1.0, 1.0
    return s * (1.0 - slip) + (1.0 - s) * slip, s * guess + (1.0 - s) * (1.0 - guess)


@inline
def forward(lo, hi, resource, score, prior, learn, forget, guess, slip, predicted, filtered):
    """Forward pass over rows lo:hi (one sequence, in sequence order): P(M) before
    (`predicted`) and after (`filtered`) each row. Returns the log-likelihood."""
    loglike = 0.0
    scale = 1.0  # product of the evidence terms, folded into loglike before it underflows
    p = prior
    for k in range(lo, hi):
        predicted[k] = p
        like_m, like_u = likelihoods(score[k], guess, slip)
        c = p * like_m + (1.0 - p) * like_u
        post = p * like_m / c
        scale *= c
        if scale < 1e-200:
            loglike += np.log(scale)
            scale = 1.0
        filtered[k] = post
        p = post * (1.0 - forget) + (1.0 - post) * learn[resource[k]]
    return loglike + np.log(scale)


@kernel
def em_point(
    lo_seq, hi_seq, starts, resource, score,
    params, n_resources, fit_forget, max_iter, tol, predicted, filtered, counts_out,
):  # fmt: skip
    """EM for one point over sequences lo_seq:hi_seq. `params` holds prior, forget, guess,
    slip, then learn per resource, and is updated in place.

    Returns (log-likelihood, iterations). `counts_out` (n_resources, 2) receives the final
    expected number of transitions out of U per resource and the learned share of them.
    """
    trans = np.zeros((n_resources, 2))  # per resource: expected U -> U, U -> M
    learn = params[4:]
    last = -np.inf
    loglike = -np.inf
    iterations = 0
    for it in range(max_iter):
        prior, forget, guess, slip = params[0], params[1], params[2], params[3]
        trans[:] = 0.0
        init_m = 0.0
        stay_m = 0.0
        drop_m = 0.0
        total_m = 0.0
        wrong_m = 0.0
        total_u = 0.0
        right_u = 0.0
        n_seq = 0.0
        loglike = 0.0
        for s in range(lo_seq, hi_seq):
            lo = starts[s]
            hi = starts[s + 1]
            loglike += forward(lo, hi, resource, score, prior, learn, forget, guess, slip, predicted, filtered)
            g_m = filtered[hi - 1]
            for k in range(hi - 1, lo - 1, -1):
                if k < hi - 1:
                    # Two-slice posteriors of the transition k -> k + 1 (smoothing backwards).
                    f_m = filtered[k]
                    r = resource[k]
                    next_m = predicted[k + 1]
                    ratio_m = g_m / next_m if next_m > 0.0 else 0.0
                    ratio_u = (1.0 - g_m) / (1.0 - next_m) if next_m < 1.0 else 0.0
                    mm = f_m * (1.0 - forget) * ratio_m
                    mu = f_m * forget * ratio_u
                    um = (1.0 - f_m) * learn[r] * ratio_m
                    uu = (1.0 - f_m) * (1.0 - learn[r]) * ratio_u
                    stay_m += mm
                    drop_m += mu
                    trans[r, 0] += uu
                    trans[r, 1] += um
                    g_m = mm + mu
                sc = score[k]
                if sc == 1.0:
                    total_m += g_m
                    total_u += 1.0 - g_m
                    right_u += 1.0 - g_m
                elif sc == 0.0:
                    total_m += g_m
                    total_u += 1.0 - g_m
                    wrong_m += g_m
                elif not np.isnan(sc):
                    # Soft evidence: expected share of the item answered wrong (M) or right (U).
                    like_m, like_u = likelihoods(sc, guess, slip)
                    total_m += g_m
                    wrong_m += g_m * (1.0 - sc) * slip / like_m
                    total_u += 1.0 - g_m
                    right_u += (1.0 - g_m) * sc * guess / like_u
            init_m += g_m
            n_seq += 1.0
        iterations = it + 1
        if it > 0 and loglike - last < tol * max(1.0, abs(loglike)):
            break
        last = loglike
        params[0] = min(max(init_m / n_seq, FLOOR), 1.0 - FLOOR)
        if fit_forget and stay_m + drop_m > 0.0:
            params[1] = min(max(drop_m / (stay_m + drop_m), FLOOR), 1.0 - FLOOR)
        if total_u > 0.0:
            params[2] = min(max(right_u / total_u, FLOOR), 1.0 - FLOOR)
        if total_m > 0.0:
            params[3] = min(max(wrong_m / total_m, FLOOR), 1.0 - FLOOR)
        for r in range(n_resources):
            out_u = trans[r, 0] + trans[r, 1]
            if out_u > 0.0:
                learn[r] = min(max(trans[r, 1] / out_u, FLOOR), 1.0 - FLOOR)
    for r in range(n_resources):
        counts_out[r, 0] = trans[r, 0] + trans[r, 1]
        counts_out[r, 1] = trans[r, 1]
    return loglike, iterations


@parallel_kernel
def em_kernel(
    starts, first, resource, score, params, fit_forget, max_iter, tol,
    out_loglike, out_iterations, out_counts,
):  # fmt: skip
    """EM for every point in parallel over rows in sequence order; `params` (P, 4 + R)
    is updated in place."""
    n_points = first.shape[0] - 1
    n_resources = params.shape[1] - 4
    n = score.shape[0]
    predicted = np.empty(n)
    filtered = np.empty(n)
    for p in prange(n_points):
        if first[p + 1] == first[p]:
            out_loglike[p] = 0.0
            out_iterations[p] = 0
            continue
        ll, it = em_point(
            first[p], first[p + 1], starts, resource, score, params[p], n_resources,
            fit_forget, max_iter, tol, predicted, filtered, out_counts[p],
        )  # fmt: skip
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
def predict_kernel(order, starts, first, resource, score, params, out):
    """P(correct) of every row before it is seen; rows in sequence order, each written at
    its own index order[k]."""
    n_points = first.shape[0] - 1
    for p in prange(n_points):
        prior, forget, guess, slip = params[p, 0], params[p, 1], params[p, 2], params[p, 3]
        for s in range(first[p], first[p + 1]):
            m = prior
            for k in range(starts[s], starts[s + 1]):
                out[order[k]] = m * (1.0 - slip) + (1.0 - m) * guess
                like_m, like_u = likelihoods(score[k], guess, slip)
                post = m * like_m / (m * like_m + (1.0 - m) * like_u)
                m = post * (1.0 - forget) + (1.0 - post) * params[p, 4 + resource[k]]
