"""The catalog as the engine's arrays."""

from __future__ import annotations

import numpy as np

from core.catalog.model import Catalog
from core.settings import SECONDS_PER_DAY  # noqa: F401 (the day its importers count in)
from engine import Model
from engine.model import main_points


def engine_model(catalog: Catalog) -> Model:
    points = catalog.point_index
    n_points, n_modules = len(points), len(catalog.modules)
    coverage = np.zeros((n_modules, n_points))
    requires = np.zeros((n_modules, n_points), dtype=bool)
    for q, module in enumerate(catalog.modules):
        for point_id, weight in module.coverage.items():
            coverage[q, points[point_id]] = weight
    # A module requires the prerequisites of the points it mainly trains, not of a point it
    # touches in passing (m-causal-intro covers explainability at 0.5: it needs no LLM evaluation).
    for q, main in enumerate(main_points(coverage)):
        covered = set(np.flatnonzero(coverage[q] > 0).tolist())
        for j in np.flatnonzero(main):
            for prerequisite in catalog.knowledge_points[j].prerequisites:
                if points[prerequisite] not in covered:
                    requires[q, points[prerequisite]] = True
    learn_rate = np.array([m.learn_rate for m in catalog.modules])
    targets = np.zeros((len(catalog.roles), n_points))
    for r, role in enumerate(catalog.roles):
        for point_id, target in role.targets.items():
            targets[r, points[point_id]] = target
    kps = catalog.knowledge_points
    prerequisites = np.zeros((n_points, n_points), dtype=bool)
    for j, kp in enumerate(kps):
        for prerequisite in kp.prerequisites:
            prerequisites[j, points[prerequisite]] = True
    return Model(
        prior=np.array([kp.prior for kp in kps]),
        guess=np.array([kp.guess for kp in kps]),
        slip=np.array([kp.slip for kp in kps]),
        half_life=np.array([kp.half_life_days * SECONDS_PER_DAY for kp in kps]),
        learn=coverage * learn_rate[:, None],
        coverage=coverage,
        minutes=np.array([m.minutes for m in catalog.modules]),
        requires=requires,
        targets=targets,
        assessment=np.array([m.method == "quiz" for m in catalog.modules], dtype=bool),
        prerequisites=prerequisites,
    )


def own_points(catalog: Catalog, targets: np.ndarray) -> np.ndarray:
    """(R, M) bool: the points that set each role apart, which `engine.recommend(own_points=)`
    shows early in the plan: those the role targets and the default role (what every employee
    learns) does not; for the default role, all it targets. `targets` is `engine_model`'s (R, M)."""
    default = catalog.role_index[catalog.default_role]
    own = (targets > 0) & (targets[default] == 0)[None, :]
    own[default] = targets[default] > 0
    return own
