"""`skillgap fit --from-log`: parameters fitted on events that went through the real intake
and stream are stored as a new version, recover the rates they were simulated with, and
become what the workers and readers use once activated."""

from __future__ import annotations

import numpy as np
import pytest

from core.eventlog import append_events
from core.events import parse_event
from core.params import activate, active_version, list_versions, store_parameters
from core.services import build_services
from engine.simulate import simulate_observations
from lms_helpers import cli_env
from sidecar.fit_from_log import NothingToFit, fit_from_log
from skillgap.cli import main
from test_catalog_check import write_catalog

CATALOG = {
    "catalog": """
id = "fitcheck"
version = "1"
name = { en = "Fit check", zh = "拟合检查" }
default_role = "staff"
[methods]
online = 0.2
lab = 0.3
quiz = 0.05
""",
    "knowledge_points": """
[[knowledge_points]]
id = "prompts"
name = { en = "Prompts", zh = "提示词" }
half_life_days = inf
[[knowledge_points]]
id = "rag"
name = { en = "RAG", zh = "检索增强" }
half_life_days = inf
""",
    "roles": """
[[roles]]
id = "staff"
name = { en = "Staff", zh = "员工" }
targets = { prompts = 0.8, rag = 0.8 }
""",
    "modules": """
[[modules]]
id = "m-prompts-course"
title = { en = "Prompt course", zh = "提示词课程" }
method = "online"
minutes = 30
coverage = { prompts = 1.0 }
[[modules]]
id = "m-prompts-lab"
title = { en = "Prompt lab", zh = "提示词实验" }
method = "lab"
minutes = 60
coverage = { prompts = 1.0 }
[[modules]]
id = "m-rag-course"
title = { en = "RAG course", zh = "检索增强课程" }
method = "online"
minutes = 30
coverage = { rag = 1.0 }
[[modules]]
id = "m-rag-lab"
title = { en = "RAG lab", zh = "检索增强实验" }
method = "lab"
minutes = 60
coverage = { rag = 1.0 }
""",
}
# Simulated truth per point: prior, guess, slip, and the learning rate of its course and lab.
TRUTH = {
    "prompts": {"prior": 0.25, "guess": 0.2, "slip": 0.1, "learn": {"m-prompts-course": 0.08, "m-prompts-lab": 0.3}},
    "rag": {"prior": 0.15, "guess": 0.15, "slip": 0.05, "learn": {"m-rag-course": 0.12, "m-rag-lab": 0.35}},
}
NOW = 1_790_000_000.0


@pytest.fixture
def fit_services(settings, redis_client, tmp_path):
    return build_services(settings.replace(catalog_path=write_catalog(tmp_path / "catalog", **CATALOG)), redis_client)


def simulated_events(services, n_learners=600, seed=3):
    """Graded events with 0/1 scores, drawn from TRUTH by the engine's BKT simulator."""
    points = list(TRUTH)
    modules = [list(TRUTH[p]["learn"]) for p in points]
    sim = simulate_observations(
        prior=np.array([TRUTH[p]["prior"] for p in points]),
        learn=np.array([list(TRUTH[p]["learn"].values()) for p in points]),
        forget=np.zeros(len(points)),
        guess=np.array([TRUTH[p]["guess"] for p in points]),
        slip=np.array([TRUTH[p]["slip"] for p in points]),
        n_learners=n_learners,
        attempts=(6, 12),
        rng=np.random.default_rng(seed),
    )
    return [
        parse_event(
            {
                "learner": f"l-{learner}",
                "module": modules[point][resource],
                "kind": "graded",
                "score": float(correct),
                "timestamp": NOW - 1e6 + 60.0 * order,
                "id": f"e-{order}",
            },
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        for learner, point, resource, correct, order in zip(
            sim.learner, sim.point, sim.resource, sim.correct, sim.order
        )
    ]


def post(services, events):
    s = services.settings
    append_events(services.redis, services.keys, s.partitions, events)


def test_fitting_on_the_log_recovers_the_simulated_rates(fit_services):
    events = simulated_events(fit_services)
    post(fit_services, events + events[:500])  # re-posted events count once
    result = fit_from_log(fit_services)
    assert result.events == len(events)
    document = result.document
    for point, truth in TRUTH.items():
        fitted = document["points"][point]
        assert fitted["prior"] == pytest.approx(truth["prior"], abs=0.05)
        assert fitted["guess"] == pytest.approx(truth["guess"], abs=0.04)
        assert fitted["slip"] == pytest.approx(truth["slip"], abs=0.04)
        for module, rate in truth["learn"].items():
            se = document["learn_sd"][module][point]
            assert abs(document["learn"][module][point] - rate) < max(4 * se, 0.03), (module, point)
            assert document["learners"][module] > 100
    # module effectiveness, most effective first: the labs teach more than the courses
    ranked = [row["module"] for row in result.effectiveness]
    assert ranked[:2] == ["m-rag-lab", "m-prompts-lab"]


def test_a_new_version_is_stored_and_the_old_one_stays(fit_services):
    post(fit_services, simulated_events(fit_services, n_learners=150))
    first = store_parameters(fit_services.redis, fit_services.keys, fit_services.catalog, {"schema": 1})
    activate(fit_services.redis, fit_services.keys, fit_services.catalog, first)
    result = fit_from_log(fit_services, min_learners=10)
    assert result.version == first + 1
    assert [v["version"] for v in list_versions(fit_services.redis, fit_services.keys)] == [first, result.version]
    assert active_version(fit_services.redis, fit_services.keys) == first  # not activated unless asked
    activate(fit_services.redis, fit_services.keys, fit_services.catalog, result.version)
    fit_services.recheck_parameters()
    model = fit_services.model
    q = fit_services.catalog.module_index["m-rag-lab"]
    j = fit_services.catalog.point_index["rag"]
    assert model.learn[q, j] == pytest.approx(result.document["learn"]["m-rag-lab"]["rag"])


def test_modules_with_too_few_learners_keep_their_rates(fit_services):
    post(fit_services, simulated_events(fit_services, n_learners=30))
    result = fit_from_log(fit_services, min_learners=1000)
    assert result.document["learn"] == {} and result.effectiveness == []


def test_an_empty_log_is_a_clear_error(fit_services):
    with pytest.raises(NothingToFit):
        fit_from_log(fit_services)


def test_the_command_reports_module_effectiveness_and_activates(fit_services, monkeypatch, capsys, tmp_path):
    post(fit_services, simulated_events(fit_services, n_learners=200))
    s = fit_services.settings
    cli_env(monkeypatch, s, SKILLGAP_CATALOG_PATH=str(s.catalog_path))
    out = tmp_path / "params.json"
    assert main(["fit", "--from-log", "--activate", "--min-learners", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "m-rag-lab" in printed.out and "rag" in printed.out
    assert "is active" in printed.err and out.exists()
    assert active_version(fit_services.redis, fit_services.keys) is not None
    assert main(["fit", "--from-log", "--multilearn", "x"]) == 2
    assert main(["fit", "--csv", "history.csv"]) == 2  # --out is required with --csv
