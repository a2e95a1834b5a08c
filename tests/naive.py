"""Slow, loop-by-loop reference implementations of the engine's kernels (after stumpy's
tests/naive.py). Written from the model's definition, sharing no code with engine/."""

from __future__ import annotations

import math

# Per event kind: (share of the module's learning rate, weight of the score as evidence)
KIND_EFFECT = {0: (0.25, 0.0), 1: (1.0, 0.0), 2: (1.0, 1.0), 3: (0.0, 1.0), 4: (0.0, 0.3)}


def apply_events(state, prior, guess, slip, half_life, learn, coverage, events):
    """state: list of learners, each [mastery list, evidence list, last-seen list].
    events: (learner, module, kind, score or None, time) tuples."""
    state = [[list(row) for row in learner] for learner in state]
    for i, q, kind, score, t in events:
        learn_share, evidence_share = KIND_EFFECT[kind]
        mastery, evidence, last_seen = state[i]
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
                right_if_mastered = score * (1 - slip[j]) + (1 - score) * slip[j]
                right_if_not = score * guess[j] + (1 - score) * (1 - guess[j])
                joint_mastered = p * right_if_mastered**weight
                joint_not = (1 - p) * right_if_not**weight
                p = joint_mastered / (joint_mastered + joint_not)
                n += weight
            p = p + (1 - p) * learn[q][j] * learn_share
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


def rank_modules(cells, targets, peak, learn, coverage, minutes, requires, assessment, threshold, spread_threshold, k):
    """[(module, gain, information, value per minute, action, per-point gains)] best first, for one
    learner's belief `cells` [(mastery, evidence, uncertainty)] per point. Actions: 0 learn,
    1 review, 2 assess."""
    mastery = [c[0] for c in cells]
    scored = []
    for q in range(len(minutes)):
        if any(requires[q][j] and mastery[j] < threshold for j in range(len(mastery))):
            continue
        drops, variances = [], []
        for j, (p, n, spread) in enumerate(cells):
            drop = 0.0
            if learn[q][j] > 0 and targets[j] > p:
                after = p + (1 - p) * learn[q][j]
                drop = (targets[j] - p) ** 2 - max(0.0, targets[j] - after) ** 2
            drops.append(drop)
            variance = 0.0
            if coverage[q][j] > 0 and targets[j] > 0 and spread >= spread_threshold:
                variance = p * (1 - p) / (2 + n + 1) - p * (1 - p) / (2 + n + coverage[q][j] + 1)
            variances.append(variance)
        gain, information = sum(drops), sum(variances) if assessment[q] else 0.0
        if assessment[q]:
            action, value, per_point = 2, information / minutes[q], variances
        else:
            best = max(range(len(drops)), key=lambda j: (drops[j], -j))
            action = 1 if drops[best] > 0 and peak[best] >= targets[best] else 0
            value, per_point = gain / minutes[q], drops
        if value > 0:
            scored.append((q, gain, information, value, action, per_point))
    scored.sort(key=lambda item: (-item[3], item[0]))
    return scored[:k]


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
