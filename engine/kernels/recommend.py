"""Kernel of the recommender: for every learner, the modules that cut the expected shortfall
loss most per minute of training."""

from numba import prange

from engine.jit import inline, parallel_kernel
from engine.kernels.mastery import PRIOR_STRENGTH

LEARN, REVIEW, ASSESS = 0, 1, 2


@inline
def shortfall_drop(p, target, rate):
    """Drop of max(0, T - K)^2 when K moves to K + (1 - K) rate."""
    before = target - p
    if rate <= 0.0 or before <= 0.0:
        return 0.0
    after = before - (1.0 - p) * rate
    return before * before - (after * after if after > 0.0 else 0.0)


@inline
def variance_drop(p, evidence, weight):
    """Drop of the belief's variance p(1 - p) / (kappa + 1) when an assessment adds `weight`
    observations (kappa = PRIOR_STRENGTH + evidence)."""
    kappa = PRIOR_STRENGTH + evidence
    return p * (1.0 - p) * (1.0 / (kappa + 1.0) - 1.0 / (kappa + weight + 1.0))


@inline
def information_on(i, q, j, mastery, evidence, spread, targets, coverage, spread_threshold):
    """What assessment module q tells about point j of learner i: the variance it removes,
    counted where the point matters (T > 0) and its uncertainty is at least the threshold."""
    if targets[i, j] > 0.0 and spread[i, j] >= spread_threshold:
        return variance_drop(mastery[i, j], evidence[i, j], coverage[q, j])
    return 0.0


@inline
def module_value(
    i, q, mastery, evidence, spread, peak, targets, learn, coverage, assessment, covered_starts, covered_points,
    spread_threshold,
):  # fmt: skip
    """(learning gain, information value, action) of module q for learner i, over the points
    q covers.

    The expected shortfall loss of a point is max(0, T - K)^2 plus the belief's variance where
    T > 0: training cuts the first term, an assessment the second. An assessment module is
    valued by what it measures on points whose uncertainty is at least `spread_threshold`.
    """
    gain = 0.0
    information = 0.0
    best_drop = 0.0
    action = LEARN
    for t in range(covered_starts[q], covered_starts[q + 1]):
        j = covered_points[t]
        drop = shortfall_drop(mastery[i, j], targets[i, j], learn[q, j])
        gain += drop
        if drop > best_drop:
            best_drop = drop
            action = REVIEW if peak[i, j] >= targets[i, j] else LEARN
        if assessment[q]:
            information += information_on(i, q, j, mastery, evidence, spread, targets, coverage, spread_threshold)
    if assessment[q]:
        action = ASSESS
    return gain, information, action


@parallel_kernel
def recommend_kernel(
    mastery, evidence, spread, peak, targets, learn, coverage, minutes, assessment,
    covered_starts, covered_points, required_starts, required_points, threshold, spread_threshold,
    out_module, out_gain, out_information, out_value, out_action,
):  # fmt: skip
    """For each learner (in parallel), the k best modules by value per minute.

    Value is the learning gain for teaching modules and the information value for assessments.
    Modules whose required points are below `threshold` are skipped; a teaching module is a
    review when the point it helps most had reached its target before being forgotten (`peak`
    is mastery before forgetting). Unused slots hold module -1. Modules cover and require a
    few points each, so both are walked sparsely (Model.covered, Model.required).
    """
    n_learners = mastery.shape[0]
    n_modules = learn.shape[0]
    k = out_module.shape[1]
    for i in prange(n_learners):
        out_module[i, :] = -1
        out_value[i, :] = 0.0
        out_gain[i, :] = 0.0
        out_information[i, :] = 0.0
        out_action[i, :] = LEARN
        for q in range(n_modules):
            available = True
            for t in range(required_starts[q], required_starts[q + 1]):
                if mastery[i, required_points[t]] < threshold:
                    available = False
                    break
            if not available:
                continue
            gain, information, action = module_value(
                i, q, mastery, evidence, spread, peak, targets, learn, coverage, assessment,
                covered_starts, covered_points, spread_threshold,
            )  # fmt: skip
            value = (information if assessment[q] else gain) / minutes[q]
            if value <= out_value[i, k - 1]:
                continue
            # Insert, keeping earlier modules first among equal values.
            slot = k - 1
            while slot > 0 and value > out_value[i, slot - 1]:
                out_module[i, slot] = out_module[i, slot - 1]
                out_value[i, slot] = out_value[i, slot - 1]
                out_gain[i, slot] = out_gain[i, slot - 1]
                out_information[i, slot] = out_information[i, slot - 1]
                out_action[i, slot] = out_action[i, slot - 1]
                slot -= 1
            out_module[i, slot] = q
            out_value[i, slot] = value
            out_gain[i, slot] = gain
            out_information[i, slot] = information
            out_action[i, slot] = action
