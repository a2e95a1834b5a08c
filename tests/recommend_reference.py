"""The recommender's kernel and wrapper as they were before the kernel was made faster (issue
15, commit 98173b9; the scalar helpers it calls are the engine's): tests/test_recommender.py
checks that engine.recommend gives the same plans, gains and beliefs bit for bit on random
cohorts. When the recommender's semantics change on purpose, change them here too (teaching
valued on the expected shortfall under the belief: issue 15, efficacy).

Numba's cache checks only this file's time, not the engine helpers it inlines: after a change
to engine/kernels/recommend.py or engine/kernels/mastery.py, edit or touch this file (or delete
tests/__pycache__/recommend_reference*.nb?), else the test compares with the helpers before."""

import numba
import numpy as np
from numba import get_thread_id, prange

from engine.jit import inline, parallel_kernel
from engine.kernels.mastery import decayed, uncertainty_of
from engine.kernels.recommend import (
    ASSESS,
    DECISIVE_SPREADS,
    LEARN,
    MANDATORY,
    REPEAT_SECONDS,
    REPEAT_SHARE,
    REVIEW,
    due_first,
    expected_drop,
    is_due,
    needs,
    readiness,
    revealed_shortfall,
    valued,
    variance_drop,
)
from engine.mastery import check_state
from engine.model import LAST_SEEN, MASTERY
from engine.recommend import DUE_WINDOW, POOL_PER_SLOT, Recommendations, catalog_arrays

LINE = 8


@inline
def module_value(i, q, planned, evidence, latest, belief, catalog, threshold, spread_threshold):
    """(value per minute, learning gain, information, action) of module q for learner i given
    the `planned` mastery and the `evidence` (both (M,)).

    A teaching module's gain is the drop of sum max(0, T - K)^2 over its points at its rate
    times the learner's readiness; it is a review when the point it helps most had reached
    its target before being forgotten (state's mastery is the peak before forgetting). An
    assessment's value is the shortfall it is expected to reveal (`revealed_shortfall` of the
    variance it removes) on points that matter (T > 0), whose
    uncertainty is at least `spread_threshold` and whose estimate is at the target or up to
    DECISIVE_SPREADS standard deviations above it. The module just taken (`latest` is the
    learner's last event time) is a repeat: an assessment is not worth one, a teaching module
    comes last.
    """
    spread, state, targets = belief
    learn, coverage, minutes, assessment, covered_starts, covered_points, required_starts, required_points = catalog
    ready = -1.0  # computed at the first point short of target: most modules of a learner have none
    gain = 0.0
    information = 0.0
    best_drop = 0.0
    action = ASSESS if assessment[q] else LEARN
    repeat = latest > 0.0
    for t in range(covered_starts[q], covered_starts[q + 1]):
        j = covered_points[t]
        p = planned[j]
        target = targets[i, j]
        if repeat and state[i, LAST_SEEN, j] != latest:
            repeat = False
        if assessment[q]:
            above = p - target
            if target > 0.0 and spread[i, j] >= spread_threshold and 0.0 <= above <= DECISIVE_SPREADS * spread[i, j]:
                information += revealed_shortfall(-above, variance_drop(p, evidence[j], coverage[q, j]))
        elif valued(p, target, spread[i, j]):
            if ready < 0.0:
                ready = readiness(q, planned, required_starts, required_points, threshold)
            drop = expected_drop(p, target, learn[q, j] * ready, spread[i, j])
            gain += drop
            if drop > best_drop:
                best_drop = drop
                action = REVIEW if state[i, MASTERY, j] >= target > p else LEARN
    value = (information if assessment[q] else gain) / minutes[q]
    if repeat:
        value = 0.0 if assessment[q] else value * REPEAT_SHARE
        action = ASSESS if assessment[q] else REVIEW
    return value, gain, information, action


@inline
def expect_learning(q, planned, catalog, threshold):
    """Move `planned` (M,) by the learning module q, put in the learner's plan, is expected to bring."""
    learn, _, _, assessment, covered_starts, covered_points, required_starts, required_points = catalog
    if not assessment[q]:
        ready = readiness(q, planned, required_starts, required_points, threshold)
        for t in range(covered_starts[q], covered_starts[q + 1]):
            j = covered_points[t]
            planned[j] += (1.0 - planned[j]) * learn[q, j] * ready


@parallel_kernel
def recommend_kernel(
    state,
    targets,
    half_life,
    catalog,
    need_order,
    dependent_starts,
    dependent_points,
    moves,
    due,
    due_limit,
    threshold,
    spread_threshold,
    now,
    planned,
    evidence,
    pool_module,
    pool_value,
    out_mastery,
    out_spread,
    out_target,
    out_module,
    out_gain,
    out_information,
    out_value,
    out_action,
):
    """For each learner (in parallel), a plan of up to k modules, and its belief as of `now`
    (out_mastery, out_spread; the evidence in per-thread scratch): forgetting is applied here,
    not in a pass of its own over the cohort.

    First the modules due by `due_limit` (`due` (L, Q), or (0, 0) for none), earliest first,
    as MANDATORY; then the `pool` (pool_module.shape[2] modules, at least k) best by value
    per minute on the learner's belief among the others, earlier modules first among equals;
    then the plan takes from the pool, slot by slot, the module of best value given the
    mastery the modules already in the plan are expected to bring: a pool module whose value
    the last module taken can change (`moves` (Q, Q), Model.moves) is valued again, and a
    module taken keeps the gain, information and action of its last valuation when that was
    on today's plan (the modules taken since move nothing it reads). Unused slots hold
    module -1.

    Scratch is a row per thread (get_thread_id), not per learner: scratch as large as the
    cohort was faulted in afresh on every call. `planned` and `evidence` are (threads, >= M);
    `pool_module` (threads, >= 2, size) holds modules then actions (-1: none kept),
    `pool_value` (threads, >= 3, size) values, gains and information. Rows are padded by
    the caller so two threads never write to one cache line. Modules cover and require a few points each, so both are walked sparsely
    (catalog's covered and required rows). The outputs are (L, k) arrays passed one by one:
    written in the parallel loop through a tuple, Numba 0.68's parfors lost the writes.
    """
    assessment = catalog[3]
    n_learners, n_points = out_mastery.shape
    n_modules = assessment.shape[0]
    k = out_module.shape[1]
    size = pool_module.shape[2]
    ranked = (out_spread, state, out_target)  # the belief, against the raised targets
    for i in prange(n_learners):
        scratch = get_thread_id()
        plan = planned[scratch]
        known = evidence[scratch]
        pool = pool_module[scratch, 0]
        pool_action = pool_module[scratch, 1]  # -1 until a round values the module again
        pool_values = pool_value[scratch, 0]
        pool_gain = pool_value[scratch, 1]
        pool_information = pool_value[scratch, 2]
        out_module[i, :] = -1
        out_value[i, :] = 0.0
        out_gain[i, :] = 0.0
        out_information[i, :] = 0.0
        out_action[i, :] = LEARN
        pool[:] = -1
        pool_action[:] = -1
        pool_values[:] = 0.0
        latest = 0.0
        for j in range(n_points):
            p, n = decayed(state, i, j, now, half_life)
            out_mastery[i, j] = p
            out_spread[i, j] = uncertainty_of(p, n)
            known[j] = n
            plan[j] = p
            if state[i, LAST_SEEN, j] > latest:
                latest = state[i, LAST_SEEN, j]
            out_target[i, j] = targets[i, j]  # read as is should a cycle leave a dependent unwalked
        if latest < now - REPEAT_SECONDS:
            latest = -1.0  # nothing taken just now: no module is a repeat
        needs(i, out_mastery, targets, out_target, need_order, dependent_starts, dependent_points, threshold)
        n_due = due_first(i, due, due_limit, out_module)
        for s in range(n_due):
            q = out_module[i, s]
            value, gain, information, _ = module_value(
                i, q, plan, known, latest, ranked, catalog, threshold, spread_threshold
            )
            out_value[i, s] = value
            out_gain[i, s] = gain
            out_information[i, s] = information
            out_action[i, s] = MANDATORY
            expect_learning(q, plan, catalog, threshold)
        if n_due == k:
            continue
        for q in range(n_modules):
            if n_due > 0 and is_due(due[i, q], due_limit):
                continue  # already first in the plan
            value, _, _, _ = module_value(i, q, plan, known, latest, ranked, catalog, threshold, spread_threshold)
            if value <= pool_values[size - 1]:
                continue
            slot = size - 1
            while slot > 0 and value > pool_values[slot - 1]:
                pool[slot] = pool[slot - 1]
                pool_values[slot] = pool_values[slot - 1]
                slot -= 1
            pool[slot] = q
            pool_values[slot] = value
        for s in range(n_due, k):
            best = -1
            best_value = 0.0
            for c in range(size):
                q = pool[c]
                if q < 0:
                    continue
                if s > n_due and moves[out_module[i, s - 1], q]:
                    pool_values[c], pool_gain[c], pool_information[c], pool_action[c] = module_value(
                        i, q, plan, known, latest, ranked, catalog, threshold, spread_threshold
                    )
                if pool_values[c] > best_value:
                    best, best_value = c, pool_values[c]
            if best < 0:
                break
            q = pool[best]
            pool[best] = -1
            if pool_action[best] >= 0:  # valued on today's plan: modules taken since move nothing it reads
                gain, information, action = pool_gain[best], pool_information[best], pool_action[best]
            else:
                _, gain, information, action = module_value(
                    i, q, plan, known, latest, ranked, catalog, threshold, spread_threshold
                )
            out_module[i, s] = q
            out_value[i, s] = best_value
            out_gain[i, s] = gain
            out_information[i, s] = information
            out_action[i, s] = action
            expect_learning(q, plan, catalog, threshold)


def recommend(state, targets, model, now, k=5, prerequisite_threshold=0.6, uncertainty_threshold=0.15, due=None):
    state = np.ascontiguousarray(check_state(state, model))
    n = state.shape[0]
    mastery = np.empty((n, model.n_points))
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    due = np.empty((0, 0)) if due is None else np.ascontiguousarray(due, dtype=np.float64)
    module = np.empty((n, k), dtype=np.int64)
    gain, information, per_minute = np.empty((n, k)), np.empty((n, k)), np.empty((n, k))
    action = np.empty((n, k), dtype=np.int8)
    uncertainty, target = np.empty_like(mastery), np.empty_like(mastery)
    pool = min(POOL_PER_SLOT * k, max(model.n_modules, k))
    threads = numba.config.NUMBA_NUM_THREADS
    spare = -(-LINE // pool)
    recommend_kernel(
        state,
        targets,
        model.half_life,
        catalog_arrays(model),
        *model.dependents,
        model.moves,
        due,
        float(now) + DUE_WINDOW,
        float(prerequisite_threshold),
        float(uncertainty_threshold),
        float(now),
        np.empty((threads, model.n_points + LINE)),
        np.empty((threads, model.n_points + LINE)),
        np.empty((threads, 2 + spare, pool), np.int64),
        np.empty((threads, 3 + spare, pool)),
        mastery,
        uncertainty,
        target,
        module,
        gain,
        information,
        per_minute,
        action,
    )
    return Recommendations(module, gain, per_minute, action, mastery, information, uncertainty, target)
