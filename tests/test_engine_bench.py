"""The benchmark's engine side (pyBKT is bench-only): its baseline ranks like the kernel, its
metrics are right, and a --quick run prints every engine figure."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bench.engine as bench
from engine.recommend import recommend


def test_numpy_baseline_ranks_like_the_kernel():
    model = bench.catalog_model()
    now = 1.8e9
    state, targets = bench.cohort(model, 300, np.random.default_rng(4), now)
    # k = 40: training a point near its target pays more than measuring it for most of a random
    # cohort, so assessments come after its first twenty modules.
    recs = recommend(state, targets, model, now=now, k=40, prerequisite_threshold=0.6, uncertainty_threshold=0.15)
    module, value = bench.recommend_numpy(state, targets, model, now, 40, 0.6, 0.15)
    assert_allclose(value, recs.gain_per_minute, rtol=1e-9, atol=1e-15)
    assert np.mean(module == recs.module) > 0.99  # equal values may swap places
    assert (recs.action == 2).any() and (recs.action == 0).any()  # assessments and teaching both ranked


def test_auc_counts_ordered_pairs_and_half_ties():
    rng = np.random.default_rng(1)
    correct = rng.integers(0, 2, 200).astype(float)
    predicted = np.round(rng.random(200), 1)
    pos, neg = predicted[correct == 1], predicted[correct == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert bench.auc(correct, predicted) == pytest.approx(pairs / (pos.size * neg.size))


@pytest.mark.slow
def test_quick_run_prints_every_engine_figure(capsys):
    assert bench.main(["--quick", "--no-pybkt"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    for scenario in ("standard", "multilearn_forgets"):
        assert float(lines[f"{scenario}_auc_engine"]) > 0.65
        assert float(lines[f"{scenario}_param_mae_engine"]) < 0.06
        assert float(lines[f"{scenario}_fit_engine_s"]) > 0
        assert float(lines[f"{scenario}_whole_process_fit_predict_engine_s"]) > 0
        assert float(lines[f"{scenario}_predict_engine_rows_per_s"].replace(",", "")) > 0
    assert lines["recommend_same_ranking_as_numpy"] == "True"
    assert float(lines["single_event_update_us"]) > 0
    assert float(lines["recommend_ratio_over_numpy"]) > 0
    assert lines["pybkt_backend"] == "skipped (--no-pybkt)"


def test_whole_processes_run_with_pythons_default_bytecode_caching(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("SKILLGAP_PROBE", "kept")
    env = bench.whole_process_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["SKILLGAP_PROBE"] == "kept"
