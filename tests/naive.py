"""Slow, loop-by-loop reference implementations of the engine's kernels (after stumpy's
tests/naive.py). Written from the model's definition, sharing no code with engine/."""

from __future__ import annotations

import math
import statistics

# Per event kind: (share of the module's learning rate, weight of the score as evidence)
KIND_EFFECT = {0: (0.25, 0.0), 1: (1.0, 0.0), 2: (1.0, 1.0), 3: (0.0, 1.0), 4: (0.0, 0.3)}
# Relative standard deviation of the learning a module brings one learner.
RATE_SPREAD = 0.5


def apply_events(state, prior, guess, slip, half_life, learn, coverage, events, requires=None, threshold=0.0):
    """state: list of learners, each [mastery list, evidence list, last-seen list].
    events: (learner, module, kind, score or None, time) tuples. A module teaches at its rate
    times min(1, lowest mastery at t among the points it requires / threshold)."""
    state = [[list(row) for row in learner] for learner in state]
    for i, q, kind, score, t in events:
        learn_share, evidence_share = KIND_EFFECT[kind]
        mastery, evidence, last_seen = state[i]
        if requires is not None and threshold > 0:
            ready = [1.0]
            for r in range(len(prior)):
                if requires[q][r]:
                    p = mastery[r]
                    if last_seen[r] > 0 and t > last_seen[r] and not math.isinf(half_life[r]):
                        p *= 0.5 ** ((t - last_seen[r]) / half_life[r])
                    ready.append(p / threshold)
            learn_share *= min(ready)
        for j in range(len(prior)):
            w = coverage[q][j]
            if w <= 0:
                continue
            p, n, last = mastery[j], evidence[j], last_seen[j]
            if last > 0 and t > last and not math.isinf(half_life[j]):
                keep = 0.5 ** ((t - last) / half_life[j])
                p, n = p * keep, n * keep
            weight = w * evidence_share if score is not None else 0.0
            if weight > 0:
                # Beta belief (mean p, 2 + n observations); an item is right with probability
                # guess + (1 - guess - slip) K: the exact posterior mean for a right and for a
                # wrong item, mixed by the score and scaled by the weight.
                d = 1 - guess[j] - slip[j]
                variance = p * (1 - p) / (2 + n + 1)
                if d > 0 and variance > 0:
                    p_right = guess[j] + d * p
                    after_right = (guess[j] * p + d * (variance + p * p)) / p_right
                    after_wrong = ((1 - guess[j]) * p - d * (variance + p * p)) / (1 - p_right)
                    p = min(1.0, max(0.0, p + weight * (score * (after_right - p) + (1 - score) * (after_wrong - p))))
                n += weight
            rate = learn[q][j] * learn_share
            if rate > 0:
                # Every learner's K moves to K + (1 - K) rate: the Beta belief's mean moves so, its
                # variance shrinks by (1 - rate)^2 and gains the step's own spread (RATE_SPREAD of
                # it); the evidence is what a Beta of that mean and variance holds (at least 0).
                variance = (1 - rate) ** 2 * p * (1 - p) / (2 + n + 1) + ((1 - p) * rate * RATE_SPREAD) ** 2
                p = p + (1 - p) * rate
                if 0 < p < 1:
                    n = max(p * (1 - p) / variance - 3, 0.0)
            mastery[j], evidence[j], last_seen[j] = p, n, max(last, t)
    return state


def belief(mastery, evidence, last_seen, half_life, now):
    """[(mastery, evidence, uncertainty)] per point as of `now`: the sd of a Beta belief
    with that mean and 2 + evidence observations."""
    out = []
    for p, n, last, h in zip(mastery, evidence, last_seen, half_life):
        if last > 0 and now > last and not math.isinf(h):
            keep = 0.5 ** ((now - last) / h)
            p, n = p * keep, n * keep
        out.append((p, n, math.sqrt(p * (1 - p) / (2 + n + 1))))
    return out


def needed_targets(mastery, targets, learn, coverage, requires, assessment, threshold):
    """The role's targets, raised on each point r that every teaching module mainly teaching
    (coverage at least 0.75 of its largest) a point j != r still short of its (raised) target
    requires, to min(threshold, that target); until nothing changes."""
    raised = list(targets)
    points = range(len(raised))

    def mainly(q, j):
        return not assessment[q] and learn[q][j] > 0 and coverage[q][j] >= 0.75 * max(coverage[q])

    changed = True
    while changed:
        changed = False
        for r in points:
            for j in points:
                modules = [q for q in range(len(learn)) if mainly(q, j)]
                needed = j != r and modules and all(requires[q][r] for q in modules)
                if needed and raised[j] > mastery[j] and min(threshold, raised[j]) > raised[r]:
                    raised[r] = min(threshold, raised[j])
                    changed = True
    return raised


def revealed_shortfall(gap, variance):
    """E[max(0, T - p')^2] for p' normal with mean T - gap and the given variance:
    variance ((z^2 + 1) Phi(z) + z phi(z)), z = gap / sd."""
    if variance <= 0:
        return max(gap, 0.0) ** 2
    sd = math.sqrt(variance)
    z = gap / sd
    normal = statistics.NormalDist()
    return variance * ((z * z + 1) * normal.cdf(z) + z * normal.pdf(z))


def expected_shortfall(gap, sd):
    """E[max(0, T - K)^2] for K normal with mean T - gap and standard deviation sd, taken as 0
    from 3 sd above the target and as gap^2 + sd^2 from 3 sd below it, the normal's tail by
    Abramowitz and Stegun 7.1.26 (as the kernel does; `exact_expected_shortfall` without it)."""
    if gap <= -3 * sd:
        return 0.0
    if gap >= 3 * sd:
        return gap * gap + sd * sd
    z = gap / sd
    x = abs(z) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    e = math.exp(-0.5 * z * z)
    tail = 0.5 * e * poly
    cdf = 1 - tail if z >= 0 else tail
    return (gap * gap + sd * sd) * cdf + gap * sd * e / math.sqrt(2 * math.pi)


def exact_expected_shortfall(gap, sd):
    """expected_shortfall with the normal's exact distribution and no cut-offs."""
    return revealed_shortfall(gap, sd * sd)


def revealed_shortfall_by_integration(gap, variance, steps=20_000):
    """The same by the midpoint rule over p' - T from -gap - 12 sd to 0 (no shortfall above T)."""
    sd = math.sqrt(variance)
    low = -gap - 12 * sd
    if low >= 0:
        return 0.0
    width = -low / steps
    total = 0.0
    for s in range(steps):
        x = low + (s + 0.5) * width
        total += x * x * math.exp(-0.5 * ((x + gap) / sd) ** 2)
    return total * width / (sd * math.sqrt(2 * math.pi))


def rank_modules(
    cells,
    targets,
    peak,
    last_seen,
    learn,
    coverage,
    minutes,
    requires,
    assessment,
    threshold,
    spread_threshold,
    k,
    pool,
    now,
    due=None,
    due_by=None,
):
    """[(module, gain, information, value per minute, action, per-point gains)] in plan order, for one learner's
    belief `cells` [(mastery, evidence, uncertainty)] per point. Actions: 0 learn, 1 review,
    2 assess, 3 mandatory. First the modules whose `due` time (per module) is at most `due_by`,
    earliest first (at most k, action 3); then the plan takes, slot by slot, the best of the
    `pool` modules best on the mastery after those, valued given the mastery the modules
    already planned bring."""
    mastery = [c[0] for c in cells]
    raised = needed_targets(mastery, targets, learn, coverage, requires, assessment, threshold)
    latest = max(last_seen)
    if latest < now - 86_400.0:  # nothing taken within a day of `now`: no repeat
        latest = -1.0
    points = range(len(mastery))

    def value(q, planned):
        ready = min([1.0] + [planned[r] / threshold for r in points if requires[q][r] and threshold > 0])
        repeat = latest > 0 and all(last_seen[j] == latest for j in points if coverage[q][j] > 0)
        gain = information = 0.0
        drops, variances = [], []
        for j in points:
            p, n, spread = planned[j], cells[j][1], cells[j][2]
            drop = 0.0
            if not assessment[q] and learn[q][j] > 0 and raised[j] > 0 and p - raised[j] < 3 * spread:
                rate = learn[q][j] * ready
                after = p + (1 - p) * rate
                drop = expected_shortfall(raised[j] - p, spread) - expected_shortfall(raised[j] - after, spread)
            drops.append(drop)
            gain += drop
            decisive = 0 <= p - raised[j] <= 1.5 * spread
            variance = 0.0
            if assessment[q] and coverage[q][j] > 0 and raised[j] > 0 and spread >= spread_threshold and decisive:
                removed = p * (1 - p) / (2 + n + 1) - p * (1 - p) / (2 + n + coverage[q][j] + 1)
                variance = revealed_shortfall(raised[j] - p, removed)
            variances.append(variance)
            information += variance
        if assessment[q]:
            return (0.0 if repeat else information / minutes[q]), 0.0, information, 2, variances
        covered = [j for j in points if coverage[q][j] > 0]
        best = max(covered, key=lambda j: (drops[j], -covered.index(j)))
        action = 1 if drops[best] > 0 and peak[best] >= raised[best] > planned[best] else 0
        per_minute = gain / minutes[q]
        return (per_minute * 1e-3 if repeat else per_minute), gain, 0.0, (1 if repeat else action), drops

    def teach(q, planned):
        ready = min([1.0] + [planned[r] / threshold for r in points if requires[q][r] and threshold > 0])
        return [p + (1 - p) * learn[q][j] * ready for j, p in enumerate(planned)]

    planned = list(mastery)
    plan = []
    mandatory = []
    if due is not None:
        mandatory = sorted(
            (q for q in range(len(minutes)) if due[q] <= due_by and not math.isinf(due[q])), key=lambda q: (due[q], q)
        )
    for q in mandatory[:k]:
        per_minute, gain, information, _, per_point = value(q, planned)
        plan.append((q, gain, information, per_minute, 3, per_point))
        if not assessment[q]:
            planned = teach(q, planned)
    alone = {q: value(q, planned)[0] for q in range(len(minutes)) if q not in mandatory}
    ranked = sorted((q for q in alone if alone[q] > 0), key=lambda q: (-alone[q], q))
    candidates = ranked[:pool]
    while candidates and len(plan) < k:
        scored = [(value(q, planned), q) for q in candidates]
        best = max(range(len(scored)), key=lambda c: (scored[c][0][0], -c))
        (per_minute, gain, information, action, per_point), q = scored[best]
        if per_minute <= 0:
            break
        plan.append((q, gain, information, per_minute, action, per_point))
        candidates.pop(best)
        if not assessment[q]:
            planned = teach(q, planned)
    return plan


def rank_for_model(
    model, cells, targets, peak, last_seen, threshold, spread_threshold, k, pool, now, due=None, due_by=None
):
    """rank_modules with the module arrays taken from an engine Model."""
    return rank_modules(
        cells,
        targets,
        peak,
        last_seen,
        model.learn.tolist(),
        model.coverage.tolist(),
        model.minutes,
        model.requires.tolist(),
        model.assessment.tolist(),
        threshold,
        spread_threshold,
        k,
        pool,
        now,
        due,
        due_by,
    )


def bkt_sequences(learner, point, resource, score, order):
    """{point: [[(resource, score or None), ...] per learner in first-seen order]}, rows by order."""
    rows = sorted(range(len(learner)), key=lambda e: (order[e], e))
    by_point = {}
    for e in rows:
        by_point.setdefault(point[e], {}).setdefault(learner[e], []).append(
            (resource[e], None if math.isnan(score[e]) else score[e])
        )
    return {p: list(seqs.values()) for p, seqs in by_point.items()}


def _emission(score, guess, slip):
    if score is None:
        return 1.0, 1.0
    return score * (1 - slip) + (1 - score) * slip, score * guess + (1 - score) * (1 - guess)


def bkt_predict(sequence, prior, learn, forget, guess, slip):
    """(P(correct), P(mastered)) before each row of one sequence."""
    out, m = [], prior
    for r, s in sequence:
        out.append((m * (1 - slip) + (1 - m) * guess, m))
        like_m, like_u = _emission(s, guess, slip)
        post = m * like_m / (m * like_m + (1 - m) * like_u)
        m = post * (1 - forget) + (1 - post) * learn[r]
    return out


def bkt_log_likelihood(sequence, prior, learn, forget, guess, slip):
    """log P(the scores of one sequence), normalising at every row (no underflow)."""
    total, m = 0.0, prior
    for r, s in sequence:
        like_m, like_u = _emission(s, guess, slip)
        evidence = m * like_m + (1 - m) * like_u
        total += math.log(evidence)
        post = m * like_m / evidence
        m = post * (1 - forget) + (1 - post) * learn[r]
    return total


def bkt_em_step(sequences, prior, learn, forget, guess, slip, fit_forget=True):
    """One EM iteration by explicit forward-backward with unnormalised messages.

    Returns (log-likelihood at the given parameters, (prior, learn, forget, guess, slip) after the M step)."""
    init = [0.0, 0.0]
    trans = [[0.0, 0.0, 0.0, 0.0] for _ in learn]  # per resource: UU, UM, MU, MM
    emit = [[0.0, 0.0], [0.0, 0.0]]  # [state][total, (right if U | wrong if M)]
    loglike = 0.0
    for seq in sequences:
        T = len(seq)

        def a(r):  # a(r)[i][j]: P(j at t+1 | i at t), 0 = U, 1 = M
            return [[1 - learn[r], learn[r]], [forget, 1 - forget]]

        b = [_emission(s, guess, slip)[::-1] for _, s in seq]  # b[t][state], U first
        alpha = [[(1 - prior) * b[0][0], prior * b[0][1]]]
        for t in range(1, T):
            m = a(seq[t - 1][0])
            alpha.append([sum(alpha[t - 1][i] * m[i][j] for i in range(2)) * b[t][j] for j in range(2)])
        beta = [[1.0, 1.0] for _ in range(T)]
        for t in range(T - 2, -1, -1):
            m = a(seq[t][0])
            beta[t] = [sum(m[i][j] * b[t + 1][j] * beta[t + 1][j] for j in range(2)) for i in range(2)]
        z = sum(alpha[T - 1])
        loglike += math.log(z)
        gamma = [[alpha[t][i] * beta[t][i] / z for i in range(2)] for t in range(T)]
        init[0] += gamma[0][0]
        init[1] += gamma[0][1]
        for t in range(T - 1):
            r = seq[t][0]
            m = a(r)
            for i in range(2):
                for j in range(2):
                    trans[r][2 * i + j] += alpha[t][i] * m[i][j] * b[t + 1][j] * beta[t + 1][j] / z
        for t, (_, s) in enumerate(seq):
            if s is None:
                continue
            like_m, like_u = _emission(s, guess, slip)
            emit[1][0] += gamma[t][1]
            emit[1][1] += gamma[t][1] * (1 - s) * slip / like_m
            emit[0][0] += gamma[t][0]
            emit[0][1] += gamma[t][0] * s * guess / like_u
    new_learn = [c[1] / (c[0] + c[1]) if c[0] + c[1] > 0 else old for c, old in zip(trans, learn)]
    stay = sum(c[3] for c in trans)
    drop = sum(c[2] for c in trans)
    new_forget = drop / (stay + drop) if fit_forget and stay + drop > 0 else forget
    new_guess = emit[0][1] / emit[0][0] if emit[0][0] > 0 else guess
    new_slip = emit[1][1] / emit[1][0] if emit[1][0] > 0 else slip
    return loglike, (init[1] / (init[0] + init[1]), new_learn, new_forget, new_guess, new_slip)


def plan_path(
    learner, target, model, now, minutes_per_week, horizon, max_steps, reach_share, reach_floor, threshold, choose
):
    """One learner's path to target (engine/plan.py) walked in real time: (minutes, reached,
    stalled, modules). `learner`: [mastery, evidence, last seen] lists; `choose(cells, peak,
    last_seen, t, last_module)` gives the next module or -1. Each module moves the clock by
    its minutes / minutes_per_week weeks and is a completion without a score at its end; the
    path is at target when its gap score is at most reach_share of its start or reach_floor."""
    week = 7 * 86_400.0
    state = [[list(row) for row in learner]]
    lists = (model.prior, model.guess, model.slip, model.half_life, model.learn.tolist(), model.coverage.tolist())

    def loss(t):
        cells = belief(*state[0], model.half_life, t)
        return sum(max(0.0, target[j] - c[0]) ** 2 for j, c in enumerate(cells)), cells

    goal = max(reach_share * loss(now)[0], reach_floor)
    t, minutes, modules, last = now, 0.0, [], -1
    for step in range(max_steps + 1):
        current, cells = loss(t)
        if current <= goal:
            return minutes, True, False, modules
        if minutes >= horizon or step == max_steps:
            break
        q = choose(cells, state[0][0], state[0][2], t, last)
        if q < 0:
            return minutes, False, True, modules
        t += model.minutes[q] / minutes_per_week * week
        state = apply_events(state, *lists, [(0, q, 1, None, t)], model.requires.tolist(), threshold)
        minutes += model.minutes[q]
        modules.append(q)
        last = q
    return minutes, False, False, modules
