"""Kernel of the recommender: for every learner, a plan of the modules that cut the expected
shortfall loss most per minute of training.

The kernels take the catalog as a tuple of arrays (built once by engine/recommend.py):
`catalog` = (learn, coverage, minutes, assessment, covered_starts, covered_points,
required_starts, required_points). recommend_kernel unpacks it once and passes the arrays to
the helpers one by one: a tuple of arrays unpacked in a helper of the hot loop cost reference
counting (atomic, on counters both threads share) at every call. Helpers only read arrays;
outputs are passed as arrays, see recommend_kernel."""

import math

import numpy as np
from numba import prange

from engine.jit import called, inline, kernel, parallel_kernel
from engine.kernels.mastery import PRIOR_STRENGTH, decayed, uncertainty_of
from engine.model import LAST_SEEN, MASTERY

LEARN, REVIEW, ASSESS, MANDATORY = 0, 1, 2, 3
# An assessment is worth taking on a point estimated at its target or up to this many standard
# deviations above it: there the result decides between "done" and "train more". Below the
# target, training comes next whatever the result.
DECISIVE_SPREADS = 1.5
# A module whose every point the learner's last event touched, within REPEAT_SECONDS of the
# ranking's time (the module just taken), keeps this share of its value: it comes after
# anything else that pays, as a repeat.
REPEAT_SHARE = 1e-3
REPEAT_SECONDS = 86_400.0
# A point estimated this many standard deviations of its belief above its target counts as
# at target (its expected shortfall is below 0.1% of the belief's variance); this many below,
# the normal tail beyond the target is as small and the shortfall is gap^2 + variance.
SHORTFALL_SPREADS = 3.0
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Learners per block of the parallel loop, each block with its own scratch.
BLOCK = 64
# drop_slope's margins: relative (rounding), and absolute in units of the belief's variance
# (expected_shortfall's closed forms beyond SHORTFALL_SPREADS, 3e-4 sd^2 at most, each side).
DROP_MARGIN = 1.0 + 1e-9
DROP_SLACK = 1e-3


@called
def expected_drop(p, target, rate, sd):
    """Drop of the expected shortfall E[max(0, T - K)^2] under the belief K ~ Normal(p, sd^2)
    when its mean moves to p + (1 - p) rate. The spread stays: how sure the engine is after a
    module depends on the evidence it brings, which a completion without a score does not
    (and the rate itself is an estimate). Far below the target this is the drop of
    max(0, T - p)^2 exactly; at or above it, the shortfall the belief still allows."""
    if rate <= 0.0:
        return 0.0
    after = p + (1.0 - p) * rate
    return expected_shortfall(target - p, sd) - expected_shortfall(target - after, sd)


@called
def drop_slope(p, target, sd):
    """A bound on how fast a `valued` point's expected shortfall falls per unit its mastery
    rises (0 for a point not valued), with `DROP_SLACK` over it: (slope, slack) such that the
    drop `expected_drop(p, target, rate, sd)` is at most (1 - p) rate slope + slack.

    E[max(0, T - K)^2] under K ~ Normal(p, sd^2) is convex in p with slope -2 E[max(0, T - K)]
    = -2 (gap Phi(z) + sd phi(z)), z = gap / sd (Phi here from `erfc_polynomial`, within 1e-7);
    expected_shortfall departs from it by at most 3e-4 sd^2 (its closed forms beyond
    SHORTFALL_SPREADS, its polynomial tail), on each side of the drop."""
    _, slope, slack = shortfall_and_slope(p, target, sd)
    return slope, slack


@called
def shortfall_and_slope(p, target, sd):
    """(`shortfall_of`, `drop_slope`) of a point in one go: the two share the normal's
    density and tail (an exp and a polynomial per point of every learner ranked)."""
    if not valued(p, target, sd):
        return 0.0, 0.0, 0.0
    gap = target - p
    e, cdf = normal_terms(gap, sd)
    slope = 2.0 * (gap * cdf + abs(gap) * 1e-7 + sd * e * INV_SQRT_2PI)
    if gap >= SHORTFALL_SPREADS * sd:
        shortfall = gap * gap + sd * sd  # expected_shortfall's closed form (valued: gap > -SHORTFALL_SPREADS sd)
    else:
        shortfall = shortfall_between(gap, sd, e, cdf)
    return shortfall, slope * DROP_MARGIN, DROP_SLACK * (sd * sd) + 1e-12


@inline
def expected_shortfall(gap, sd):
    """E[max(0, T - K)^2] for K normal with mean T - gap and standard deviation sd: 0 from
    SHORTFALL_SPREADS sd above the target, gap^2 + sd^2 from that far below it (the normal's
    tail is below 1e-3 there), else `revealed_shortfall`."""
    if gap <= -SHORTFALL_SPREADS * sd:
        return 0.0
    if gap >= SHORTFALL_SPREADS * sd:
        return gap * gap + sd * sd
    e, cdf = normal_terms(gap, sd)
    return shortfall_between(gap, sd, e, cdf)


@inline
def shortfall_between(gap, sd, e, cdf):
    """`expected_shortfall` within SHORTFALL_SPREADS sd of the target, given `normal_terms`."""
    return (gap * gap + sd * sd) * cdf + gap * sd * e * INV_SQRT_2PI


@inline
def normal_terms(gap, sd):
    """(exp(-z^2 / 2), Phi(z)) at z = gap / sd: the normal's density without its constant, and
    its distribution function from `erfc_polynomial` (no erf call)."""
    z = gap / sd
    e = math.exp(-0.5 * z * z)
    tail = 0.5 * e * erfc_polynomial(abs(z))  # the normal's tail beyond |z|
    return e, (1.0 - tail if z >= 0.0 else tail)


@inline
def erfc_polynomial(x):
    """erfc(x / sqrt(2)) / exp(-x^2 / 2) for x >= 0 (Abramowitz and Stegun 7.1.26, absolute
    error of erfc below 1.5e-7): with the exp the caller has for the normal's density, the
    normal's tail costs no erf call."""
    t = 1.0 / (1.0 + 0.3275911 * x * INV_SQRT_2)
    return t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))


@inline
def valued(p, target, sd):
    """Whether training a point estimated at p (belief sd) against `target` is worth anything:
    it matters (T > 0) and the belief allows a shortfall (p less than SHORTFALL_SPREADS sd above T)."""
    return target > 0.0 and p - target < SHORTFALL_SPREADS * sd


@called
def revealed_shortfall(gap, variance):
    """E[max(0, T - p')^2] where p' is the estimate after an assessment, normal around p = T - gap
    with the variance the assessment removes (the spread of the posterior mean before the result):
    the shortfall it is expected to reveal, which training would then close."""
    if variance <= 0.0:
        return gap * gap if gap > 0.0 else 0.0
    sd = math.sqrt(variance)
    z = gap / sd
    cdf = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (gap * gap + variance) * cdf + gap * sd * pdf


@called
def variance_drop(p, evidence, weight):
    """Drop of the belief's variance p(1 - p) / (kappa + 1) when an assessment adds `weight`
    observations (kappa = PRIOR_STRENGTH + evidence)."""
    kappa = PRIOR_STRENGTH + evidence
    return p * (1.0 - p) * (1.0 / (kappa + 1.0) - 1.0 / (kappa + weight + 1.0))


@inline
def readiness(q, planned, required_starts, required_points, threshold):
    """Share of its rate module q teaches a learner of `planned` mastery (M,): the weakest
    required point's mastery over `threshold`, at most 1 (a weak prerequisite slows learning
    rather than barring it)."""
    ready = 1.0
    if threshold > 0.0:
        for t in range(required_starts[q], required_starts[q + 1]):
            share = planned[required_points[t]] / threshold
            if share < ready:
                ready = share
    return ready


@inline
def needs(i, mastery, targets, out_target, need_order, dependent_starts, dependent_points, threshold):
    """Fill out_target[i]: the role's target, raised on a point that a module of a point still
    short of its (raised) target requires, to min(threshold, that target). Points come after
    their dependents, so needs pass down chains of prerequisites."""
    for t in range(need_order.shape[0]):
        r = need_order[t]
        target = targets[i, r]
        for d in range(dependent_starts[r], dependent_starts[r + 1]):
            j = dependent_points[d]
            above = out_target[i, j]
            if above > mastery[i, j]:
                need = threshold if threshold < above else above
                if need > target:
                    target = need
        out_target[i, r] = target


@inline
def module_value(
    i, q, planned, below, evidence, latest, spread, state, targets, learn, coverage, minutes, assessment,
    covered_starts, covered_points, required_starts, required_points, threshold, spread_threshold,
):  # fmt: skip
    """(value per minute, learning gain, information, action) of module q for learner i given
    the `planned` mastery, its expected shortfall per point `below` (`shortfalls`) and the
    `evidence` (all (M,)), against the belief (spread, state, targets) and the catalog's arrays.

    A teaching module's gain is the drop of the expected shortfall sum E[max(0, T - K)^2]
    under the belief (`expected_drop`) over its points at its rate times the learner's
    readiness; it is a review when the point it helps most had reached its target before
    being forgotten below it (state's mastery is the peak before forgetting). An
    assessment's value is the shortfall it is expected to reveal (`revealed_shortfall` of the
    variance it removes) on points that matter (T > 0), whose uncertainty is at least
    `spread_threshold` and whose estimate is at the target or up to DECISIVE_SPREADS standard
    deviations above it (`decisive`). The module just taken (`latest` is the learner's last
    event time) is a repeat: an assessment is not worth one, a teaching module comes last.
    """
    ready = -1.0  # computed at the first point valued: most modules of a learner have none
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
            if decisive(p, target, spread[i, j], spread_threshold):
                information += revealed_shortfall(-(p - target), variance_drop(p, evidence[j], coverage[q, j]))
        elif valued(p, target, spread[i, j]):
            if ready < 0.0:
                ready = readiness(q, planned, required_starts, required_points, threshold)
            rate = learn[q, j] * ready
            drop = 0.0
            if rate > 0.0:  # below[j] is expected_shortfall(target - p): computed once per point, not per module
                drop = below[j] - expected_shortfall(target - (p + (1.0 - p) * rate), spread[i, j])
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
def gain_bound(
    q, planned, below, slope, slack, learn, covered_starts, covered_points, required_starts, required_points,
    threshold,
):  # fmt: skip
    """A bound on teaching module q's gain given the `planned` mastery: a point's drop is at most
    its shortfall `below` and at most its `drop_slope` bound (`slope`, `slack` of a mastery at
    most `planned`: the slope falls as the mastery rises), at the module's rate times readiness."""
    ready = readiness(q, planned, required_starts, required_points, threshold)
    bound = 0.0
    for t in range(covered_starts[q], covered_starts[q + 1]):
        j = covered_points[t]
        bound += min(below[j], (1.0 - planned[j]) * learn[q, j] * ready * slope[j] + slack[j])
    return bound


@inline
def below_value(bound, value, minutes):
    """Whether a gain bounded by `bound` is surely worth less than `value` per minute over
    `minutes` (DROP_MARGIN covers the rounding of both sides)."""
    return bound * DROP_MARGIN < value * minutes * (2.0 - DROP_MARGIN)


@inline
def best_bounds(candidates, n_cand, bound, assessment, minutes, top, top_bound):
    """Fill `top` with the indexes of the teaching candidates (the first n_cand of `candidates`)
    of best `bound` per minute, best first (`top_bound`: theirs); return how many it holds."""
    n_top = 0
    for c in range(n_cand):
        q = candidates[c]
        if not assessment[q]:
            n_top = insert_best(top, top_bound, n_top, c, bound[c] / minutes[q])
    return n_top


@inline
def insert_best(items, values, held, item, value):
    """Put `item` of `value` among the first `held` of `items` (their `values` in decreasing
    order, earlier items first among equals; at most items.shape[0] kept) if it ranks there;
    return how many they hold now."""
    size = items.shape[0]
    if held == size and value <= values[size - 1]:
        return held
    slot = held if held < size else size - 1
    while slot > 0 and value > values[slot - 1]:
        items[slot] = items[slot - 1]
        values[slot] = values[slot - 1]
        slot -= 1
    items[slot] = item
    values[slot] = value
    return held + 1 if held < size else held


@inline
def decisive(p, target, spread, spread_threshold):
    """Whether an assessment's result on a point estimated at p decides between "done" and
    "train more" (see DECISIVE_SPREADS)."""
    above = p - target
    return target > 0.0 and spread >= spread_threshold and 0.0 <= above <= DECISIVE_SPREADS * spread


@inline
def expect_learning(
    i, q, planned, below, targets, spread, learn, assessment, covered_starts, covered_points, required_starts,
    required_points, threshold,
):  # fmt: skip
    """Move `planned` (M,) by the learning module q, put in learner i's plan, is expected to
    bring, and its expected shortfall `below` with it."""
    if not assessment[q]:
        ready = readiness(q, planned, required_starts, required_points, threshold)
        for t in range(covered_starts[q], covered_starts[q + 1]):
            j = covered_points[t]
            planned[j] += (1.0 - planned[j]) * learn[q, j] * ready
            below[j] = shortfall_of(planned[j], targets[i, j], spread[i, j])


@called
def shortfall_of(p, target, sd):
    """The expected shortfall of a point estimated at p (belief sd) where training it is valued, else 0."""
    return expected_shortfall(target - p, sd) if valued(p, target, sd) else 0.0


@inline
def is_due(d, limit):
    """Whether a module due at `d` is due by `limit` (inf: never due, whatever the window)."""
    return d <= limit and d < np.inf


@inline
def due_first(i, due, limit, out_module):
    """Fill the first slots of out_module[i] with the modules due by `limit`, earliest first
    (module order among equals), as many as fit; return how many."""
    k = out_module.shape[1]
    n_due = 0
    if due.shape[0] == 0:
        return 0
    for q in range(due.shape[1]):
        d = due[i, q]
        if not is_due(d, limit):
            continue
        if n_due == k and not d < due[i, out_module[i, k - 1]]:
            continue
        slot = n_due if n_due < k else k - 1
        while slot > 0 and d < due[i, out_module[i, slot - 1]]:
            out_module[i, slot] = out_module[i, slot - 1]
            slot -= 1
        out_module[i, slot] = q
        if n_due < k:
            n_due += 1
    return n_due


@inline
def serves(i, q, main_masks, own):
    """Whether module q mainly trains one of learner i's own points (bit sets, `Model.main_masks`)."""
    for w in range(main_masks.shape[1]):
        if main_masks[q, w] & own[i, w]:
            return True
    return False


@inline
def destination(
    i, planned, below, slope, slack, own, short, main_masks, covered_masks, spread, targets, learn, minutes,
    covered_starts, covered_points, required_starts, required_points, threshold, state, latest,
):  # fmt: skip
    """Where learner i's plan leads on their own points: of the teaching modules mainly training
    one (`main_masks`, `own`), not just taken and covering a point worth training (`short`), the
    one whose expected gain on the own points per minute, given the `planned` mastery (its rate
    times the learner's readiness, as `module_value`), is largest; -1 for none. `slope` and
    `slack` are `drop_slope` of a mastery at most `planned` (before the plan's items): a
    point's drop is at most (1 - p) rate slope + slack there too (the slope falls as p rises)."""
    best, best_value = -1, 0.0
    for q in range(main_masks.shape[0]):
        if not serves(i, q, main_masks, own) or is_repeat(i, q, state, latest, covered_starts, covered_points):
            continue
        worth = False
        for w in range(short.shape[0]):
            if covered_masks[q, w] & short[w]:
                worth = True
                break
        if not worth:
            continue  # no point it covers is worth training today, less so on the plan
        if best >= 0:  # skip it if its drop_slope bound (readiness at most 1) is below the best so far
            bound = 0.0
            for t in range(covered_starts[q], covered_starts[q + 1]):
                j = covered_points[t]
                if (own[i, j >> 6] >> np.uint64(j & 63)) & np.uint64(1):
                    bound += min(below[j], (1.0 - planned[j]) * learn[q, j] * slope[j] + slack[j])
            if bound * DROP_MARGIN < best_value * minutes[q] * (2.0 - DROP_MARGIN):
                continue
        ready = readiness(q, planned, required_starts, required_points, threshold)
        gain = 0.0
        for t in range(covered_starts[q], covered_starts[q + 1]):
            j = covered_points[t]
            if (own[i, j >> 6] >> np.uint64(j & 63)) & np.uint64(1) and learn[q, j] > 0.0:
                after = planned[j] + (1.0 - planned[j]) * learn[q, j] * ready
                gain += below[j] - shortfall_of(after, targets[i, j], spread[i, j])
        if gain / minutes[q] > best_value:
            best, best_value = q, gain / minutes[q]
    return best


@inline
def is_repeat(i, q, state, latest, covered_starts, covered_points):
    """Whether module q is the one just taken (`module_value`'s repeat): the learner's last
    event, at `latest` (-1: none just now), touched every point it covers."""
    if latest <= 0.0:
        return False
    for t in range(covered_starts[q], covered_starts[q + 1]):
        if state[i, LAST_SEEN, covered_points[t]] != latest:
            return False
    return True


@inline
def own_item(
    i, s, plan, below, slope, slack, known, latest, own, short, state, spread, targets, main_masks,
    covered_masks, learn, coverage, minutes, assessment, covered_starts, covered_points, required_starts,
    required_points, threshold, spread_threshold, out_module, out_value, out_gain, out_information, out_action,
):  # fmt: skip
    """Unless a module of learner i's plan before slot s mainly trains one of their own points,
    put in slot s the module that takes their own points furthest per minute on the plan so far
    (`destination`), valued there (`module_value`), and move the plan by it; the module, or -1.
    The slots before are checked here, once, not as each is filled: a check in the plan's loop
    slowed it by 2% for every learner. At most 30 arguments: beyond, CPython passes them as
    *args, which Numba cannot inline."""
    for t in range(s):
        if serves(i, out_module[i, t], main_masks, own):
            return -1  # the plan shows an own point already
    q = destination(
        i, plan, below, slope, slack, own, short, main_masks, covered_masks, spread, targets, learn, minutes,
        covered_starts, covered_points, required_starts, required_points, threshold, state, latest,
    )  # fmt: skip
    if q < 0:
        return -1
    value, gain, information, action = module_value(
        i, q, plan, below, known, latest, spread, state, targets, learn, coverage, minutes, assessment,
        covered_starts, covered_points, required_starts, required_points, threshold, spread_threshold,
    )  # fmt: skip
    out_module[i, s] = q
    out_value[i, s] = value
    out_gain[i, s] = gain
    out_information[i, s] = information
    out_action[i, s] = action
    expect_learning(
        i, q, plan, below, targets, spread, learn, assessment, covered_starts, covered_points, required_starts,
        required_points, threshold,
    )  # fmt: skip
    return q


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
    covered_masks,
    due,
    due_limit,
    main_masks,
    own,
    own_slot,
    threshold,
    spread_threshold,
    now,
    size,
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
    (out_mastery, out_spread): forgetting is applied here, not in a pass of its own over the
    cohort.

    First the modules due by `due_limit` (`due` (L, Q), or (0, 0) for none), earliest first,
    as MANDATORY; then a pool of the `size` (at least k) modules best by value per minute on
    the learner's belief among the others, earlier modules first among equals; then the plan
    takes from the pool, slot by slot, the module of best value given the mastery the modules
    already in the plan are expected to bring: a pool module whose value the last module taken
    can change (`moves` (Q, Q), Model.moves) is valued again, and a module taken keeps the
    gain, information and action of its last valuation when that was on today's plan (the
    modules taken since move nothing it reads). Unused slots hold module -1.

    The pool is filled by valuing only the modules that have a point worth training (teaching,
    `valued`) or a decisive point (assessment): the others are worth 0 and never enter it. The learner's
    points of each kind are bit sets of words like `covered_masks` (Q, words), the points each
    module covers (all bits for a module of no positive minutes, always valued). A teaching
    module is not valued either once its gain is bounded below the pool's least value
    (`drop_slope` per point, computed once per learner, against erf and exp per module and point;
    with the point's shortfall, whose exp and polynomial it shares, before the modules due: the
    slope falls as the mastery rises, so it bounds the drops on the plan after them too).
    The bounds come first, for every module worth valuing; the `size` teaching modules of best
    bound per minute are valued first, and the least of their values is one the pool's least
    will reach: in module order alone the pool's least rose slowly and a module was valued while
    it was low, valuing about twice the modules that could enter.
    The pool is then filled in module order as before, so ties fall the same way.

    The learner's own points (`own` (L, words) bit sets, those that set the role apart, or None)
    show early: unless a module before it mainly trains one, slot `own_slot` (or the first after
    the modules due) takes the module mainly training one (`main_masks`) that takes them furthest
    per minute on the plan so far (`own_item`), when one pays and is not the module just taken;
    the slots after it are valued given it, as after any other. With own None the kernel is
    compiled without that code.

    Learners go in blocks of BLOCK, each with its own scratch (planned mastery, evidence, the
    pool): no scratch as large as the cohort, no shared rows. The catalog's arrays are
    unpacked here once and passed to the helpers one by one. The outputs are (L, k) arrays
    passed one by one: written in the parallel loop through a tuple, Numba 0.68's parfors
    lost the writes.
    """
    learn, coverage, minutes, assessment, covered_starts, covered_points, required_starts, required_points = catalog
    n_learners, n_points = out_mastery.shape
    n_modules = assessment.shape[0]
    n_words = covered_masks.shape[1]
    k = out_module.shape[1]
    one = np.uint64(1)
    timed = True  # every module takes some minutes: values are numbers, the pool's first pass can be ordered
    for q in range(n_modules):
        if not minutes[q] > 0.0:
            timed = False
    for b in prange((n_learners + BLOCK - 1) // BLOCK):
        plan = np.empty(n_points)
        below = np.empty(n_points)  # expected shortfall of each point at the plan's mastery
        known = np.empty(n_points)
        slope = np.empty(n_points)  # drop_slope of the mastery before the plan (the pool's first pass)
        slack = np.empty(n_points)
        short = np.empty(n_words, np.uint64)
        sure = np.empty(n_words, np.uint64)  # decisive points
        pool = np.empty(size, np.int64)
        pool_action = np.empty(size, np.int64)  # -1 until a round values the module again
        pool_values = np.empty(size)
        candidates = np.empty(n_modules, np.int64)  # the pool's first pass
        candidate_bound = np.empty(n_modules)
        candidate_value = np.empty(n_modules)
        candidate_valued = np.empty(n_modules, np.bool_)
        top = np.empty(size, np.int64)  # the candidates of best bound per minute
        top_bound = np.empty(size)
        pool_gain = np.empty(size)
        pool_information = np.empty(size)
        for i in range(b * BLOCK, min(n_learners, (b + 1) * BLOCK)):
            for s in range(k):
                out_module[i, s] = -1
                out_value[i, s] = 0.0
                out_gain[i, s] = 0.0
                out_information[i, s] = 0.0
                out_action[i, s] = LEARN
            for c in range(size):
                pool[c] = -1
                pool_action[c] = -1
                pool_values[c] = 0.0
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
            for j in range(n_points):
                below[j], slope[j], slack[j] = shortfall_and_slope(plan[j], out_target[i, j], out_spread[i, j])
            n_due = due_first(i, due, due_limit, out_module)
            for s in range(n_due):
                q = out_module[i, s]
                value, gain, information, _ = module_value(
                    i, q, plan, below, known, latest, out_spread, state, out_target, learn, coverage, minutes,
                    assessment, covered_starts, covered_points, required_starts, required_points, threshold,
                    spread_threshold,
                )  # fmt: skip
                out_value[i, s] = value
                out_gain[i, s] = gain
                out_information[i, s] = information
                out_action[i, s] = MANDATORY
                expect_learning(
                    i,
                    q,
                    plan,
                    below,
                    out_target,
                    out_spread,
                    learn,
                    assessment,
                    covered_starts,
                    covered_points,
                    required_starts,
                    required_points,
                    threshold,
                )
            if n_due == k:
                continue
            for w in range(n_words):
                short[w] = 0
                sure[w] = 0
            for j in range(n_points):
                bit = one << np.uint64(j & 63)
                if valued(plan[j], out_target[i, j], out_spread[i, j]):
                    short[j >> 6] |= bit
                if decisive(plan[j], out_target[i, j], out_spread[i, j], spread_threshold):
                    sure[j >> 6] |= bit
            n_cand = 0  # the modules worth valuing, with a bound on their gain
            for q in range(n_modules):
                if n_due > 0 and is_due(due[i, q], due_limit):
                    continue  # already first in the plan
                worth = False
                for w in range(n_words):
                    if covered_masks[q, w] & (sure[w] if assessment[q] else short[w]):
                        worth = True
                        break
                if not worth:
                    continue  # worth 0: enters no pool
                candidates[n_cand] = q
                candidate_valued[n_cand] = False
                candidate_bound[n_cand] = np.inf  # an assessment is always valued
                if not assessment[q]:
                    candidate_bound[n_cand] = gain_bound(
                        q, plan, below, slope, slack, learn, covered_starts, covered_points, required_starts,
                        required_points, threshold,
                    )  # fmt: skip
                n_cand += 1
            floor = 0.0  # a value the pool's least will reach: the least value of `size` teaching candidates
            n_top = 0
            if timed and n_cand > size:
                n_top = best_bounds(candidates, n_cand, candidate_bound, assessment, minutes, top, top_bound)
            if n_top == size:
                floor = np.inf
                for c in top:
                    candidate_value[c], _, _, _ = module_value(
                        i, candidates[c], plan, below, known, latest, out_spread, state, out_target, learn,
                        coverage, minutes, assessment, covered_starts, covered_points, required_starts,
                        required_points, threshold, spread_threshold,
                    )  # fmt: skip
                    candidate_valued[c] = True
                    if candidate_value[c] < floor:
                        floor = candidate_value[c]
            for c in range(n_cand):
                q = candidates[c]
                if candidate_valued[c]:
                    value = candidate_value[c]
                else:
                    least = pool_values[size - 1]
                    limit = floor if floor > least else least
                    if limit > 0.0 and below_value(candidate_bound[c], limit, minutes[q]):
                        continue  # it would not enter the pool
                    value, _, _, _ = module_value(
                        i, q, plan, below, known, latest, out_spread, state, out_target, learn, coverage, minutes,
                        assessment, covered_starts, covered_points, required_starts, required_points, threshold,
                        spread_threshold,
                    )  # fmt: skip
                insert_best(pool, pool_values, size, q, value)  # the pool is full from the start: module -1 at 0
            lead = -1  # the slot that shows the learner's own points (own_item: if none before it does)
            if own is not None:  # None: compiled without (Numba prunes the branch), as before own points
                if own_slot < k:
                    lead = own_slot if own_slot > n_due else n_due
            for s in range(n_due, k):
                best = -1
                best_value = 0.0
                for c in range(size):
                    q = pool[c]
                    if q < 0:
                        continue
                    if s > n_due and moves[out_module[i, s - 1], q]:
                        pool_values[c], pool_gain[c], pool_information[c], pool_action[c] = module_value(
                            i, q, plan, below, known, latest, out_spread, state, out_target, learn, coverage, minutes,
                            assessment, covered_starts, covered_points, required_starts, required_points, threshold,
                            spread_threshold,
                        )  # fmt: skip
                    if pool_values[c] > best_value:
                        best, best_value = c, pool_values[c]
                if own is not None:  # pruned when None (see `lead`)
                    if s == lead:
                        q = own_item(
                            i, s, plan, below, slope, slack, known, latest, own, short, state, out_spread,
                            out_target, main_masks, covered_masks, learn, coverage, minutes, assessment,
                            covered_starts, covered_points, required_starts, required_points, threshold,
                            spread_threshold, out_module, out_value, out_gain, out_information, out_action,
                        )  # fmt: skip
                        if q >= 0:
                            for c in range(size):
                                if pool[c] == q:
                                    pool[c] = -1
                            continue
                if best < 0:
                    break
                q = pool[best]
                pool[best] = -1
                if pool_action[best] >= 0:  # valued on today's plan: modules taken since move nothing it reads
                    gain, information, action = pool_gain[best], pool_information[best], pool_action[best]
                else:
                    _, gain, information, action = module_value(
                        i, q, plan, below, known, latest, out_spread, state, out_target, learn, coverage, minutes,
                        assessment, covered_starts, covered_points, required_starts, required_points, threshold,
                        spread_threshold,
                    )  # fmt: skip
                out_module[i, s] = q
                out_value[i, s] = best_value
                out_gain[i, s] = gain
                out_information[i, s] = information
                out_action[i, s] = action
                expect_learning(
                    i,
                    q,
                    plan,
                    below,
                    out_target,
                    out_spread,
                    learn,
                    assessment,
                    covered_starts,
                    covered_points,
                    required_starts,
                    required_points,
                    threshold,
                )


@kernel
def needs_kernel(mastery, targets, need_order, dependent_starts, dependent_points, threshold, out_target):
    """out_target: every learner's targets raised where a prerequisite is needed (`needs`)."""
    for i in range(mastery.shape[0]):
        for j in range(mastery.shape[1]):
            out_target[i, j] = targets[i, j]
        needs(i, mastery, targets, out_target, need_order, dependent_starts, dependent_points, threshold)
