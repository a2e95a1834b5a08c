"""The efficacy simulator's invariants in small worlds (engine/efficacy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Model, new_state
from engine.efficacy import (
    POLICIES,
    START,
    Learners,
    Spread,
    draw_world,
    honouring_due,
    mean_interval,
    never_trains,
    oracle,
    point_order,
    ratio_interval,
    run_efficacy,
    run_policy,
    skillgap,
    told_rates,
    true_loss,
)

DAY = 86_400.0


def chain_world(n_points: int = 4) -> Model:
    """Points in a chain (each builds on the one before); per point a short and a long module,
    then one quiz over every point; one role needs all points at 0.8, the other the first two."""
    m = n_points
    learn, coverage, minutes, requires = [], [], [], []
    for j in range(m):
        for rate, length in ((0.25, 30.0), (0.5, 120.0)):
            row = np.zeros(m)
            row[j] = 1.0
            coverage.append(row)
            learn.append(row * rate)
            minutes.append(length)
            need = np.zeros(m, bool)
            if j:
                need[j - 1] = True
            requires.append(need)
    coverage.append(np.ones(m))
    learn.append(np.zeros(m))  # measures only
    minutes.append(20.0)
    requires.append(np.zeros(m, bool))
    prerequisites = np.eye(m, k=-1, dtype=bool)
    targets = np.zeros((2, m))
    targets[0] = 0.8
    targets[1, :2] = 0.8
    q = len(minutes)
    return Model(
        prior=np.full(m, 0.1),
        guess=np.full(m, 0.2),
        slip=np.full(m, 0.1),
        half_life=np.full(m, 120 * DAY),
        learn=np.array(learn),
        coverage=np.array(coverage),
        minutes=np.array(minutes),
        requires=np.array(requires),
        targets=targets,
        assessment=np.arange(q) == q - 1,
        prerequisites=prerequisites,
    )


OPTIONS = {"k": 5, "prerequisite_threshold": 0.6, "uncertainty_threshold": 0.15}
ROLES = np.repeat([0, 1], 30)


def test_point_order_puts_prerequisites_first():
    model = chain_world(5)
    assert list(point_order(model)) == [0, 1, 2, 3, 4]
    prerequisites = np.zeros((5, 5), bool)
    prerequisites[0, 4] = prerequisites[2, 1] = prerequisites[1, 3] = True  # 0 builds on 4, 2 on 1, 1 on 3
    order = list(point_order(Model(**{**model.__dict__, "prerequisites": prerequisites})))
    assert order.index(4) < order.index(0) and order.index(3) < order.index(1) < order.index(2)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_oracle_needs_the_fewest_minutes(seed):
    report = run_efficacy(chain_world(), ROLES, seed, OPTIONS, cap_minutes=3000.0)
    means = {name: outcome.minutes.mean() for name, outcome in report.outcomes.items()}
    assert means["oracle"] == min(means.values())
    assert report.outcomes["oracle"].reached.mean() >= max(o.reached.mean() for o in report.outcomes.values())


def test_a_policy_that_never_trains_never_reaches():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(0))
    outcome = run_policy(model, world, never_trains, np.random.default_rng(1), cap_minutes=2000.0)
    short = outcome.start_loss > 0
    assert short.all()
    assert not outcome.reached.any()
    assert np.all(outcome.minutes == 2000.0)
    assert not outcome.stopped.any()
    assert np.all(outcome.picks == np.ceil(2000.0 / 20.0))


def test_a_policy_that_offers_nothing_stalls_every_learner_short_of_the_goal():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(0))
    outcome = run_policy(model, world, lambda *args: np.full(args[2].rows.shape[0], -1), np.random.default_rng(1))
    short = outcome.start_loss > 0
    assert np.array_equal(outcome.stopped, short)
    assert np.array_equal(outcome.stalled, short)  # the engine's estimate (the prior) is short too
    assert not outcome.reached[short].any()
    assert np.array_equal(outcome.loss_at[300], outcome.start_loss)


def test_loss_falls_over_checkpoints_and_reached_learners_are_at_their_goal():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(4))
    outcome = run_policy(model, world, oracle, np.random.default_rng(5), cap_minutes=4000.0)
    assert np.all(outcome.loss_at[600] <= outcome.loss_at[300] + 1e-12)
    assert np.all(outcome.loss_at[1200] <= outcome.loss_at[600] + 1e-12)
    assert np.all(outcome.loss_at[300] <= outcome.start_loss + 1e-12)
    assert outcome.reached.mean() > 0.9
    assert np.all(outcome.minutes[outcome.reached] <= 4000.0)


def test_the_true_world_differs_from_the_model_but_keeps_its_shape():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(0), Spread())
    assert not np.allclose(world.learn[~model.assessment], model.learn[~model.assessment])
    assert np.array_equal(world.learn > 0, model.learn > 0)
    assert np.all((world.start > 0) & (world.start < 1))
    # A role's head start: higher mean starting mastery where the role's target is higher.
    assert world.start[ROLES == 0, 3].mean() > world.start[ROLES == 1, 3].mean()
    assert true_loss(world.start, world.targets).shape == (ROLES.shape[0],)
    # Prerequisites slow learning by the catalog's graph: the modules of point 2 need point 1.
    assert np.array_equal(np.flatnonzero(world.requires[4]), [1]) and not world.requires[-1].any()


def test_every_policy_runs_and_skillgap_uses_the_engine():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(0))
    for name, policy in {**POLICIES, "skillgap": skillgap(**OPTIONS)}.items():
        outcome = run_policy(model, world, policy, np.random.default_rng(1), cap_minutes=1500.0)
        assert outcome.picks.sum() > 0, name
        assert np.all(outcome.minutes <= 1500.0), name


def test_skillgap_told_the_true_rates_updates_and_ranks_with_them():
    model = chain_world()
    world = draw_world(model, ROLES, np.random.default_rng(0))
    told = told_rates(model, world)
    assert np.array_equal(told.learn, world.learn) and not np.array_equal(told.learn, model.learn)
    assert np.array_equal(told.coverage, model.coverage) and np.array_equal(told.prior, model.prior)
    # Where the world's rates are the catalog's, being told them changes nothing, bit for bit.
    exact = draw_world(model, ROLES, np.random.default_rng(0), Spread(module_rate=0.0, assessment_learning=1.0))
    runs = [
        run_policy(m, exact, skillgap(**OPTIONS), np.random.default_rng(1), cap_minutes=1500.0)
        for m in (model, told_rates(model, exact))
    ]
    assert np.array_equal(runs[0].minutes, runs[1].minutes) and np.array_equal(runs[0].picks, runs[1].picks)
    # Where they differ, the told run reads them: its picks differ from the catalog's.
    picks = [
        run_policy(m, world, skillgap(**OPTIONS), np.random.default_rng(1), cap_minutes=1500.0).picks
        for m in (model, told)
    ]
    assert not np.array_equal(picks[0], picks[1])


def mandatory_for_the_second_role(model: Model, days: float) -> tuple[int, np.ndarray]:
    """The last point's short module (30 minutes), which no policy takes for the role that
    targets only the first two points, made mandatory for that role `days` after the learners
    start."""
    q = 2 * model.n_points - 2
    due = np.full((ROLES.shape[0], model.n_modules), np.inf)
    due[ROLES == 1, q] = START + days * DAY
    return q, due


def test_a_mandatory_module_binds_every_policy_within_the_window():
    model = chain_world()
    _, due = mandatory_for_the_second_role(model, days=3.0)
    # The window leaves room for a module begun before it opens (at most 2 days here) and the
    # mandatory one after it (half a day).
    report = run_efficacy(model, ROLES, 1, {**OPTIONS, "due_window": 2.75 * DAY}, cap_minutes=1500.0, due=due)
    for name, outcome in report.outcomes.items():
        assert not outcome.late.any(), name
        assert (outcome.minutes[ROLES == 1] > 3 * 60).sum() >= 5, name  # learners who trained past the due time
    # Left to itself a policy misses it: the count of late modules is one per learner of the
    # role who trained past the due time.
    world = draw_world(model, ROLES, np.random.default_rng(0))
    for policy, late in ((never_trains, (ROLES == 1).astype(int)), (honouring_due(never_trains, 2.75 * DAY), 0)):
        outcome = run_policy(model, world, policy, np.random.default_rng(1), cap_minutes=1500.0, due=due)
        assert np.array_equal(outcome.late, np.broadcast_to(late, ROLES.shape))


def test_honouring_due_puts_the_earliest_module_due_within_the_window_first():
    model = chain_world()
    world = draw_world(model, ROLES[:4], np.random.default_rng(0))
    now = np.full(4, START + 10 * DAY)
    due = np.full((4, model.n_modules), np.inf)
    due[0, [5, 3]] = now[0] + [DAY, 2 * DAY]  # both within the window: the earlier first
    due[1, 2] = now[1] - DAY  # overdue
    due[2, 6] = now[2] + 5 * DAY  # beyond the window: the policy's own pick
    learners = Learners(np.arange(4), new_state(model, 4), now, world.start[:4], np.full(4, -1), due)
    chosen = honouring_due(never_trains, 3 * DAY)(model, world, learners, np.random.default_rng(0))
    assessment = int(np.argmax(model.assessment))
    assert list(chosen) == [5, 2, assessment, assessment]


def test_skillgap_takes_a_module_due_as_the_workers_rank_it():
    model = chain_world()
    q, due = mandatory_for_the_second_role(model, days=5.0)
    world = draw_world(model, ROLES, np.random.default_rng(0))
    rows = np.flatnonzero(ROLES == 1)[:3]
    state = new_state(model, rows.shape[0])
    before = START + np.array([0.0, 3.0, 4.5]) * DAY  # 5, 2 and 0.5 days before it is due
    learners = Learners(rows, state, before, world.start[rows], np.full(3, -1), due[rows])
    chosen = skillgap(**OPTIONS, due_window=2.5 * DAY)(model, world, learners, np.random.default_rng(0))
    assert chosen[0] != q and list(chosen[1:]) == [q, q]


def test_intervals_cover_their_value():
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, 400)
    mean = mean_interval(x)
    assert mean.low < 10.0 < mean.high and mean.low < mean.value < mean.high
    ratio = ratio_interval(x, x * 2.0, rng)
    assert ratio.value == pytest.approx(0.5)
    assert ratio.low == pytest.approx(0.5) and ratio.high == pytest.approx(0.5)


def test_the_report_prints_every_policy_and_role():
    report = run_efficacy(chain_world(), ROLES, 1, OPTIONS, role_names=["all", "first-two"], cap_minutes=1500.0)
    names = dict(report.lines)
    for policy in ("course_order", "to_target", "random_eligible", "oracle", "skillgap", "skillgap_told_rates"):
        assert f"{policy}_minutes_mean" in names and f"{policy}_stalls" in names
        assert f"{policy}_loss_share_after_600_min" in names and f"{policy}_mandatory_late" in names
    assert "role.first-two.skillgap_over_course_order" in names
    assert "role.first-two.skillgap_told_rates_over_to_target" in names
    told, oracle_minutes = report.outcomes["skillgap_told_rates"].minutes, report.outcomes["oracle"].minutes
    assert names["skillgap_told_rates_over_oracle"] == pytest.approx(told.mean() / oracle_minutes.mean())
    assert names["learners"] == 60
    # Per role, the share of its learners each policy brought to the goal within the cap.
    for r, role in enumerate(("all", "first-two")):
        for policy, outcome in report.outcomes.items():
            assert names[f"role.{role}.{policy}_reach_rate"] == outcome.reached[ROLES == r].mean()


def test_the_default_catalogs_points_come_after_their_prerequisites():
    from core.catalog import engine_model, load_catalog
    from core.settings import Settings

    catalog = load_catalog(Settings().catalog_path)
    model = engine_model(catalog)
    place = {int(j): n for n, j in enumerate(point_order(model))}
    pairs = [
        (catalog.point_index[p.id], catalog.point_index[r]) for p in catalog.knowledge_points for r in p.prerequisites
    ]
    assert pairs and model.prerequisites.sum() == len(pairs)
    assert all(place[r] < place[j] for j, r in pairs)


def test_other_assumptions_replace_the_worlds_defaults_and_bad_ones_are_named(capsys):
    from bench.efficacy import assumed_spread, main

    spread = assumed_spread(["role_head_start=0", "half_life=0.6"])
    assert (spread.role_head_start, spread.half_life) == (0.0, 0.6)
    assert spread.prior == Spread().prior
    for bad, says in (
        ("speed=1", "NAME one of"),
        ("half_life", "NAME=VALUE"),
        ("prior=x", "not a number"),
        ("prior=-1", "negative"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["--assume", bad])
        assert stop.value.code == 2
        assert says in capsys.readouterr().err


def test_fresh_learners_first_three_are_printed_per_role_with_their_counts(capsys):
    """`python -m bench.efficacy --fresh-only`: issue 15's second target as the workers rank."""
    import bench.efficacy

    assert bench.efficacy.main(["--fresh-only"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    roles = [name for name in lines if name.startswith("fresh_first_three.")]
    assert len(roles) == 11 and all(len(lines[name].split()) == 3 for name in roles)
    assert int(lines["fresh_first_three_distinct_lists"]) == len({lines[name] for name in roles})
    assert int(lines["fresh_first_three_serving_their_role"]) == 11  # each says what a role module waits for


def test_several_seeds_print_each_ones_headline_and_the_means_of_every_figure(capsys):
    """`python -m bench.efficacy --seed 2026 7`: issue 15's targets are means over seeds."""
    import bench.efficacy

    assert bench.efficacy.main(["--seed", "3", "5", "--learners-per-role", "2"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    for seed in (3, 5):
        assert {f"seed.{seed}.{name}" for name in bench.efficacy.HEADLINE} <= set(lines)
    for name in ("skillgap_over_oracle", "skillgap_reach_below_oracle"):
        each = [float(lines[f"seed.{seed}.{name}"]) for seed in (3, 5)]
        assert float(lines[f"mean.{name}"]) == pytest.approx(sum(each) / 2, rel=1e-3)
    assert "mean.role.teacher.skillgap_over_to_target" in lines  # per role too, though not per seed
    assert not any(name.startswith("mean.") and name.endswith("_ci95") for name in lines)


def test_seed_means_average_the_numbers_every_report_has():
    from bench.efficacy import seed_means

    reports = [
        [("a", 1.0), ("b", 2), ("c_ci95", (0.1, 0.2)), ("only_here", 5.0)],
        [("a", 3.0), ("b", 4)],
    ]
    assert seed_means(reports) == [("a", 2.0), ("b", 3.0)]


def test_reach_below_the_oracle_is_the_difference_of_the_reach_rates():
    model = chain_world()
    lines = dict(run_efficacy(model, ROLES, 4, OPTIONS).lines)
    assert lines["skillgap_reach_below_oracle"] == pytest.approx(
        lines["oracle_reach_rate"] - lines["skillgap_reach_rate"]
    )


def test_python_m_engine_efficacy_runs_the_simulator_on_the_default_catalog():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "engine.efficacy", "--fresh-only"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "fresh_first_three_distinct_lists: " in done.stdout
