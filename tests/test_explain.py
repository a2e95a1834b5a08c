"""Explanations are derived on read from the stored ranking and the learner's belief; they must
name exactly the points the engine valued the module for (tests/naive.py), and add up to it."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from core.catalog import engine_model, load_catalog
from core.explain import reason, recommendation_items
from core.settings import ROOT
from engine import EVIDENCE, LAST_SEEN, MASTERY, Action, new_state, recommend

CATALOG = load_catalog(ROOT / "config" / "catalog")
MODEL = engine_model(CATALOG)
NOW = 1.7e9 + 40 * 86_400.0
THRESHOLD = 0.15


def ranking_of(recs, row: int) -> dict[str, list]:
    """What a worker stores (sidecar/processing.py: rank)."""
    n = int((recs.module[row] >= 0).sum())
    return {
        "module": [CATALOG.modules[q].id for q in recs.module[row, :n]],
        "action": [Action(a).name.lower() for a in recs.action[row, :n]],
        "gain": recs.gain[row, :n].tolist(),
        "per_minute": recs.gain_per_minute[row, :n].tolist(),
        "information": recs.information[row, :n].tolist(),
    }


@pytest.mark.parametrize("seed", range(8))
def test_explanations_name_the_points_the_engine_valued(seed):
    rng = np.random.default_rng(seed)
    n, m = 6, MODEL.n_points
    state = new_state(MODEL, n)
    state[:, MASTERY] = rng.random((n, m))
    state[:, EVIDENCE] = np.where(rng.random((n, m)) < 0.5, rng.uniform(0, 6, (n, m)), 0.0)
    state[:, LAST_SEEN] = np.where(rng.random((n, m)) < 0.6, NOW - rng.uniform(0, 90 * 86_400.0, (n, m)), 0.0)
    targets = MODEL.targets[rng.integers(0, len(CATALOG.roles), n)]
    recs = recommend(state, targets, MODEL, now=NOW, k=6, prerequisite_threshold=0.3, uncertainty_threshold=THRESHOLD)
    for i in range(n):
        cells = naive.belief(state[i, MASTERY], state[i, EVIDENCE], state[i, LAST_SEEN], MODEL.half_life, NOW)
        reference = {
            entry[0]: entry
            for entry in naive.rank_for_model(
                MODEL,
                cells,
                targets[i],
                state[i, MASTERY],
                state[i, LAST_SEEN],
                0.3,
                THRESHOLD,
                6,
                12,
                NOW,
            )
        }
        items = recommendation_items(
            CATALOG, MODEL, ranking_of(recs, i), recs.mastery[i], recs.uncertainty[i], targets[i], THRESHOLD, 0.3
        )
        assert items
        for item in items:
            q = CATALOG.module_index[item["module"]]
            per_point = reference[q][5]
            valued = {CATALOG.knowledge_points[j].id for j, value in enumerate(per_point) if value > 0}
            if item["action"] == "assess":
                assert {measure["point"] for measure in item["measures"]} == valued
                assert all(measure["uncertainty"] >= THRESHOLD for measure in item["measures"])
            else:
                assert {close["point"] for close in item["closes"]} == valued
                sd = {c["point"]: recs.uncertainty[i, CATALOG.point_index[c["point"]]] for c in item["closes"]}
                drops = sum(
                    naive.expected_shortfall(c["target"] - c["mastery"], sd[c["point"]])
                    - naive.expected_shortfall(c["target"] - c["expected"], sd[c["point"]])
                    for c in item["closes"]
                )
                assert drops == pytest.approx(item["expected_gain"], abs=5e-4)  # stored values are rounded
            for language in ("en", "zh"):
                assert reason(item, CATALOG, language)
