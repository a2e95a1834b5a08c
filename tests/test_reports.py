"""The heatmap's mean shortfall per role and knowledge point (core.reports), the one computation the
tool's instructor page and the analyst dashboard both draw."""

from __future__ import annotations

import numpy as np

from core.reports import GapReport
from engine import shortfall_loss


def report(roles: list[str], mastery: list[list[float]], targets: list[list[float]]) -> GapReport:
    mastery_a, targets_a = np.array(mastery, dtype=float), np.array(targets, dtype=float)
    return GapReport(
        tenant="acme",
        cohort=None,
        learners=[f"l{i}" for i in range(len(roles))],
        roles=roles,
        cohorts=[() for _ in roles],
        mastery=mastery_a,
        targets=targets_a,
        loss=shortfall_loss(mastery_a, targets_a),
    )


def test_role_shortfall_is_the_mean_over_a_roles_learners_of_the_shortfall_only():
    heat = report(
        ["nurse", "admin", "nurse"],
        # points: 0 targeted by nurses only, 1 by nobody, 2 by everyone
        mastery=[[0.2, 0.5, 0.9], [0.0, 0.1, 0.3], [0.6, 0.0, 0.4]],
        targets=[[0.8, 0.0, 0.7], [0.0, 0.0, 0.8], [0.8, 0.0, 0.7]],
    ).role_shortfall()
    assert heat.roles == ["admin", "nurse"] and heat.learners == [1, 2]
    assert heat.points == [0, 2]  # a point no learner has a target on is no row
    (admin0, nurse0), (admin2, nurse2) = heat.cells
    assert admin0 is None  # the role has no target there: no cell, not a 0
    assert np.isclose(nurse0, (0.6 + 0.2) / 2)
    assert np.isclose(admin2, 0.5)
    assert np.isclose(nurse2, (0.0 + 0.3) / 2)  # above target counts 0, not negative


def test_role_shortfall_of_no_learners_is_empty():
    heat = report([], np.zeros((0, 3)).tolist(), np.zeros((0, 3)).tolist()).role_shortfall()
    assert heat.roles == [] and heat.points == [] and heat.cells == []
