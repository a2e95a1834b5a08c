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


def decayed(mastery, last_seen, half_life, now):
    return [cell[0] for cell in belief(mastery, [0.0] * len(mastery), last_seen, half_life, now)]


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


def rank_modules(mastery, targets, learn, minutes, requires, threshold, k):
    """[(module, gain, gain per minute)] best first, for one learner's (decayed) mastery."""
    scored = []
    for q in range(len(minutes)):
        if any(requires[q][j] and mastery[j] < threshold for j in range(len(mastery))):
            continue
        gain = 0.0
        for j in range(len(mastery)):
            if learn[q][j] <= 0 or targets[j] <= mastery[j]:
                continue
            after = mastery[j] + (1 - mastery[j]) * learn[q][j]
            gain += (targets[j] - mastery[j]) ** 2 - max(0.0, targets[j] - after) ** 2
        if gain > 0:
            scored.append((q, gain, gain / minutes[q]))
    scored.sort(key=lambda item: (-item[2], item[0]))
    return scored[:k]
