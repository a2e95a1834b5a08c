"""Kernel of the recommender: rank modules by shortfall-loss reduction per minute."""

import numpy as np
from numba import prange

from engine.jit import parallel_kernel

LEARN, REVIEW = 0, 1


@parallel_kernel
def recommend_kernel(
    mastery, peak, targets, learn, minutes, requires, threshold,
    out_module, out_gain, out_value, out_action,
):  # fmt: skip
    """For each learner, the k modules that cut sum_j max(0, T_j - K_j)^2 most per minute.

    Modules whose required points are below `threshold` are skipped. A module is a
    review when the point it helps most had reached its target before being forgotten
    (`peak` is mastery before forgetting). Unused slots hold module -1.
    """
    n_learners, n_points = mastery.shape
    n_modules = learn.shape[0]
    k = out_module.shape[1]
    for i in prange(n_learners):
        value = np.full(n_modules, -1.0)
        gain = np.zeros(n_modules)
        action = np.zeros(n_modules, dtype=np.int8)
        for q in range(n_modules):
            available = True
            for j in range(n_points):
                if requires[q, j] and mastery[i, j] < threshold:
                    available = False
                    break
            if not available:
                continue
            total = 0.0
            best_point_gain = 0.0
            for j in range(n_points):
                rate = learn[q, j]
                before = targets[i, j] - mastery[i, j]
                if rate <= 0.0 or before <= 0.0:
                    continue
                after = targets[i, j] - (mastery[i, j] + (1.0 - mastery[i, j]) * rate)
                point_gain = before * before - (after * after if after > 0.0 else 0.0)
                total += point_gain
                if point_gain > best_point_gain:
                    best_point_gain = point_gain
                    action[q] = REVIEW if peak[i, j] >= targets[i, j] else LEARN
            if total > 0.0:
                gain[q] = total
                value[q] = total / minutes[q]
        for slot in range(k):
            best = -1
            best_value = 0.0
            for q in range(n_modules):
                if value[q] > best_value:
                    best = q
                    best_value = value[q]
            out_module[i, slot] = best
            if best < 0:
                out_gain[i, slot] = 0.0
                out_value[i, slot] = 0.0
                out_action[i, slot] = LEARN
            else:
                out_gain[i, slot] = gain[best]
                out_value[i, slot] = best_value
                out_action[i, slot] = action[best]
                value[best] = -1.0
