"""Benchmark of the engine against pyBKT, side by side in one run: `python -m bench.engine`.

Data are simulated from known parameters and written as pyBKT CSVs; both libraries fit from
the same file and predict held-out learners from the same file, end to end:

- fit: pyBKT's `Model(num_fits=1).fit(data_path=...)` (its fastest setting) against
  `skillgap fit --csv` (skillgap/commands/fit.py `fit_csv`, which also writes the JSON);
- predict: pyBKT's `predict(data_path=...)`, a DataFrame of every row with its
  correct_predictions and state_predictions, against the same in memory (`predictions_from_csv`:
  the file read, validated and grouped, both columns for every row in file order); and,
  apart, against the whole `skillgap predict`, which also writes its CSV (pyBKT writes none).

The libraries take turns and each figure is the best of several runs for both, except the
whole processes (`skillgap fit` + `skillgap predict` against pyBKT's fit and predict in one
fresh process, start-up included): the median of several rounds. Prints one
`name: value` line per figure. pyBKT is a bench-only dependency (`make bench` installs it
with its C++ core built); without it, only the engine's side runs. `--quick` shrinks
everything for a smoke test.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.fit import FittedParameters
from engine.mastery import apply_event, decayed_belief
from engine.model import EVIDENCE, LAST_SEEN, MASTERY, RANKING_READY_MASTERY, Kind, Model, new_state
from engine.recommend import recommend
from engine.simulate import SimulatedObservations, simulate_observations

DAY = 86_400.0


@dataclass(frozen=True)
class Scenario:
    name: str
    forgets: bool
    multilearn: bool


SCENARIOS = (Scenario("standard", False, False), Scenario("multilearn_forgets", True, True))
RESOURCE_COLUMN = "module"
# Each timing is the best of this many runs for both libraries, taking turns: the machine's
# two cores are shared, and a run that another process's burst slows is not the measure.
# Predictions take milliseconds on the engine's side, where one scheduling hiccup weighs.
FIT_REPEATS = 5
PREDICT_REPEATS = 9
# `skillgap fit` + `skillgap predict` as processes, against pyBKT's in one: the median of this
# many rounds, taking turns (a short process's time swings with the load: its best would flatter it).
WHOLE_PROCESS_ROUNDS = 5


def say(name: str, value: object) -> None:
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    print(f"{name}: {value}", flush=True)


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    return side_by_side(repeats, run=run)["run"]


def median_of(rounds: int, **runs: Callable[[], object] | None) -> dict[str, float]:
    """{name: median time}, the runs taking turns. A run given as None is left out."""
    times: dict[str, list[float]] = {name: [] for name, run in runs.items() if run}
    for _ in range(rounds):
        for name, spent in times.items():
            start = time.perf_counter()
            runs[name]()
            spent.append(time.perf_counter() - start)
    return {name: statistics.median(spent) for name, spent in times.items()}


def side_by_side(repeats: int, **runs: Callable[[], object] | None) -> dict[str, tuple[float, object]]:
    """{name: (best time, last result)}, the runs taking turns, so that a change in the
    machine's load falls on all of them alike. A run given as None is left out."""
    best = {name: (float("inf"), None) for name, run in runs.items() if run}
    for _ in range(repeats):
        for name in best:
            start = time.perf_counter()
            result = runs[name]()
            best[name] = (min(best[name][0], time.perf_counter() - start), result)
    return best


# ---------------------------------------------------------------- data


def truth(scenario: Scenario, n_points: int, n_resources: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    learn = rng.uniform(0.05, 0.3, (n_points, n_resources if scenario.multilearn else 1))
    return {
        "prior": rng.uniform(0.1, 0.5, n_points),
        "learn": learn,
        "forget": rng.uniform(0.01, 0.06, n_points) if scenario.forgets else np.zeros(n_points),
        "guess": rng.uniform(0.1, 0.3, n_points),
        "slip": rng.uniform(0.05, 0.15, n_points),
    }


def write_csv(path: Path, sim: SimulatedObservations, learner_offset: int) -> None:
    """pyBKT's columns, plus the resource column."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "user_id", "skill_name", "correct", RESOURCE_COLUMN])
        writer.writerows(
            zip(
                (sim.order + 1).tolist(),
                (sim.learner + learner_offset).tolist(),
                [f"kp-{p:02d}" for p in sim.point.tolist()],
                sim.correct.astype(np.int64).tolist(),
                [f"m-{r}" for r in sim.resource.tolist()],
            )
        )


def auc(correct: np.ndarray, predicted: np.ndarray) -> float:
    """Area under the ROC curve by average ranks (ties counted half)."""
    _, inverse, counts = np.unique(predicted, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    positives = correct == 1
    n1, n0 = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def rmse(correct: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((correct - predicted) ** 2)))


def recovery_error(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> tuple[float, float]:
    """(MAE over every fitted value, MAE over learning rates only). A value fitted per module
    where the truth has one per point (pyBKT's forgets) is compared module by module."""
    errors = []
    for name, true in expected.items():
        value = np.asarray(got[name], dtype=np.float64)
        if value.ndim > true.ndim:
            true = true[:, None]
        errors.append(np.abs(value - true).ravel())
    return float(np.concatenate(errors).mean()), float(errors[list(expected).index("learn")].mean())


# ---------------------------------------------------------------- the engine's side


def engine_fit(path: Path, scenario: Scenario, out: Path) -> tuple[FittedParameters, list[str], list[str]]:
    """`skillgap fit --csv` (parameters file written)."""
    from skillgap.commands.fit import fit_csv

    params, table = fit_csv(path, out, scenario.forgets, RESOURCE_COLUMN if scenario.multilearn else None)
    return params, table.skills, table.resources


def engine_predict(path: Path, params: Path, out: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(correct, predicted) of every row: `skillgap predict` without writing its CSV, or the
    whole command with `out`."""
    from skillgap.commands.fit import predict_csv, predictions_from_csv

    table, predictions = predictions_from_csv(path, params) if out is None else predict_csv(path, params, out)
    return table.correct, predictions.correct


def engine_params(params: FittedParameters, skills: list[str], resources: list[str], n_resources: int) -> dict:
    """Fitted parameters in the truth's layout (points kp-00.., resources m-0..)."""
    points = [skills.index(f"kp-{p:02d}") for p in range(len(skills))]
    learn = params.learn[points]
    if resources:
        learn = learn[:, [resources.index(f"m-{r}") for r in range(n_resources)]]
    return {
        "prior": params.prior[points],
        "learn": learn,
        "forget": params.forget[points],
        "guess": params.guess[points],
        "slip": params.slip[points],
    }


def whole_process_env() -> dict[str, str]:
    """The environment of both sides' whole processes: Python's default bytecode caching, as in
    an installed copy (pip compiles what it installs, pyBKT included; with PYTHONDONTWRITEBYTECODE
    set in the shell, every engine process would compile the project's own modules again)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def engine_processes(train: Path, test: Path, scenario: Scenario, folder: Path) -> None:
    """`skillgap fit` then `skillgap predict` as a user runs them: two processes, start-up included."""
    command = [sys.executable, "-m", "skillgap.cli"]
    fitting = ["fit", "--csv", str(train), "--out", str(folder / "whole-params.json")]
    fitting += ["--forgets"] * scenario.forgets + (["--multilearn", RESOURCE_COLUMN] if scenario.multilearn else [])
    subprocess.run([*command, *fitting], check=True, capture_output=True, env=whole_process_env())
    subprocess.run(
        [
            *command,
            "predict",
            "--csv",
            str(test),
            "--params",
            str(folder / "whole-params.json"),
            "--out",
            str(folder / "whole-predictions.csv"),
        ],
        check=True,
        capture_output=True,
        env=whole_process_env(),
    )


PYBKT_PROCESS = """
import sys
from pyBKT.models import Model
model = Model(seed={seed}, num_fits=1, parallel=True)
model.fit(data_path=sys.argv[1], **{kwargs!r})
model.predict(data_path=sys.argv[2])
"""


def pybkt_process(train: Path, test: Path, scenario: Scenario, seed: int) -> None:
    """pyBKT's fit and predict in one fresh process, start-up included (it writes no CSV)."""
    kwargs = {"forgets": scenario.forgets, **({"multilearn": RESOURCE_COLUMN} if scenario.multilearn else {})}
    script = PYBKT_PROCESS.format(seed=seed, kwargs=kwargs)
    subprocess.run(
        [sys.executable, "-c", script, str(train), str(test)], check=True, capture_output=True, env=whole_process_env()
    )


# ---------------------------------------------------------------- pyBKT's side


def pybkt_model():
    """pyBKT's Model class, after checking that its compiled C++ E-step is the one loaded."""
    try:
        from pyBKT.fit import E_step
        from pyBKT.models import Model as PyBKTModel
    except ImportError:
        return None, "not installed (make bench installs it)"
    if not str(getattr(E_step, "__file__", "")).endswith(".so"):
        sys.exit(
            "pyBKT's pure-Python fallback is loaded (its C++ build failed at install); "
            "`make bench` rebuilds it with --no-binary pyBKT --no-build-isolation"
        )
    return PyBKTModel, f"compiled ({Path(E_step.__file__).name})"


def pybkt_params(model, n_points: int, n_resources: int, scenario: Scenario) -> dict:
    out = {name: [] for name in ("prior", "learn", "forget", "guess", "slip")}
    for p in range(n_points):
        fitted = model.fit_model[f"kp-{p:02d}"]
        names = fitted["resource_names"]  # name -> 1-based index
        order = [names[f"m-{r}"] - 1 for r in range(n_resources)] if scenario.multilearn else [0]
        out["prior"].append(fitted["prior"])
        out["learn"].append(np.asarray(fitted["learns"])[order])
        out["forget"].append(np.asarray(fitted["forgets"])[order])
        out["guess"].append(np.asarray(fitted["guesses"])[0])
        out["slip"].append(np.asarray(fitted["slips"])[0])
    return {name: np.array(values) for name, values in out.items()}


# ---------------------------------------------------------------- recommendation


_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf ufunc (scipy's is not a dependency)


def revealed_shortfall(gap: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """E[max(0, T - p')^2], p' normal with mean T - gap and `variance` > 0 (engine/kernels/recommend.py)."""
    sd = np.sqrt(variance)
    z = gap / sd
    cdf = 0.5 * (1.0 + _erf(z / np.sqrt(2.0)).astype(np.float64))
    pdf = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return (gap * gap + variance) * cdf + gap * sd * pdf


def expected_shortfall(gap: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[max(0, T - K)^2], K normal with mean T - gap and sd `sd`, with the kernel's cut-offs
    at SHORTFALL_SPREADS sd either side of the target (engine/kernels/recommend.py)."""
    from engine.kernels.recommend import INV_SQRT_2PI, SHORTFALL_SPREADS, erfc_polynomial

    gap, sd = np.broadcast_arrays(np.asarray(gap, np.float64), np.asarray(sd, np.float64))
    out = np.where(gap >= SHORTFALL_SPREADS * sd, gap * gap + sd * sd, 0.0)
    near = (gap > -SHORTFALL_SPREADS * sd) & (gap < SHORTFALL_SPREADS * sd)
    g, s = gap[near], sd[near]
    z = g / s
    e = np.exp(-0.5 * z * z)
    tail = 0.5 * e * erfc_polynomial(np.abs(z))
    out[near] = (g * g + s * s) * np.where(z >= 0.0, 1.0 - tail, tail) + g * s * e * INV_SQRT_2PI
    return out


def recommend_numpy(state, targets, model: Model, now, k, prerequisite_threshold, uncertainty_threshold):
    """The recommender's plan written with whole-array numpy operations over (L, Q, M): the
    baseline the Numba kernel is compared to. Returns (module, value per minute)."""
    from engine.kernels.mastery import PRIOR_STRENGTH
    from engine.kernels.recommend import DECISIVE_SPREADS, REPEAT_SECONDS, REPEAT_SHARE, SHORTFALL_SPREADS
    from engine.recommend import POOL_PER_SLOT

    belief = decayed_belief(state, model, now)
    p, n, spread = belief.mastery, belief.evidence, belief.uncertainty
    threshold = prerequisite_threshold
    raised = np.array(targets, dtype=np.float64)
    order, starts, dependents = model.dependents
    for r in order:
        for j in dependents[starts[r] : starts[r + 1]]:
            need = np.where(raised[:, j] > p[:, j], np.minimum(threshold, raised[:, j]), 0.0)
            raised[:, r] = np.maximum(raised[:, r], need)
    last = state[:, LAST_SEEN, :]
    latest = last.max(axis=1)
    latest = np.where(latest >= now - REPEAT_SECONDS, latest, -1.0)
    covered = model.coverage > 0
    repeat = (latest[:, None] > 0) & ~np.any(covered[None] & (last[:, None, :] != latest[:, None, None]), axis=2)
    t = raised[:, None, :]
    kappa = PRIOR_STRENGTH + n[:, None, :]

    def values(planned):
        above = planned - raised
        decisive = (
            (raised > 0) & (spread >= uncertainty_threshold) & (above >= 0) & (above <= DECISIVE_SPREADS * spread)
        )
        pp = planned[:, None, :]
        measured = covered[None] & decisive[:, None, :]
        removed = (pp * (1 - pp) * (1 / (kappa + 1) - 1 / (kappa + model.coverage[None] + 1)))[measured]
        information = np.zeros(measured.shape)
        information[measured] = revealed_shortfall(np.broadcast_to(t - pp, measured.shape)[measured], removed)
        variance = information.sum(axis=2)
        share = np.where(model.requires[None], planned[:, None, :] / threshold, np.inf) if threshold > 0 else None
        ready = np.minimum(share.min(axis=2), 1.0) if threshold > 0 else np.ones((planned.shape[0], model.n_modules))
        rate = model.learn[None] * ready[:, :, None]
        sd = spread[:, None, :]
        teaches = (model.learn[None] > 0.0) & (t > 0.0) & (pp - t < SHORTFALL_SPREADS * sd)
        drop = expected_shortfall(t - pp, sd) - expected_shortfall(t - (pp + (1.0 - pp) * rate), sd)
        gain = np.where(teaches, drop, 0.0).sum(axis=2)
        value = np.where(model.assessment[None], np.where(repeat, 0.0, variance), gain) / model.minutes[None]
        return np.where(repeat & ~model.assessment[None], value * REPEAT_SHARE, value), ready

    value, _ = values(p)
    size = min(POOL_PER_SLOT * k, max(model.n_modules, k))
    pool = np.argsort(-value, axis=1, kind="stable")[:, :size]
    pool = np.where(np.take_along_axis(value, pool, axis=1) > 0.0, pool, -1)
    planned = p.copy()
    rows = np.arange(p.shape[0])
    module = np.full((p.shape[0], k), -1)
    per_minute = np.zeros((p.shape[0], k))
    for slot in range(k):
        value, ready = values(planned)
        in_pool = np.where(pool >= 0, np.take_along_axis(value, np.maximum(pool, 0), axis=1), 0.0)
        best = np.argmax(in_pool, axis=1)
        best_value = in_pool[rows, best]
        chosen = np.where(best_value > 0.0, pool[rows, best], -1)
        module[:, slot] = chosen
        per_minute[:, slot] = np.where(chosen >= 0, best_value, 0.0)
        pool[rows, best] = np.where(chosen >= 0, -1, pool[rows, best])
        teach = (chosen >= 0) & ~model.assessment[np.maximum(chosen, 0)]
        rate = model.learn[np.maximum(chosen, 0)] * ready[rows, np.maximum(chosen, 0)][:, None]
        planned = np.where(teach[:, None], planned + (1.0 - planned) * rate, planned)
    return module, per_minute


def cohort(model: Model, n_learners: int, rng: np.random.Generator, now: float):
    state = new_state(model, n_learners)
    state[:, MASTERY] = rng.random((n_learners, model.n_points))
    state[:, EVIDENCE] = rng.uniform(0.0, 6.0, (n_learners, model.n_points))
    state[:, LAST_SEEN] = now - rng.uniform(0.0, 200 * DAY, (n_learners, model.n_points))
    targets = model.targets[rng.integers(0, model.targets.shape[0], n_learners)]
    return state, targets


def catalog_model() -> Model:
    from core.catalog import engine_model, load_catalog
    from core.settings import Settings

    return engine_model(load_catalog(Settings.load().catalog_path))  # SKILLGAP_CATALOG_PATH: the image's


# ---------------------------------------------------------------- compile time


def warm_up() -> None:
    """Call every kernel the benchmark times once, on tiny inputs."""
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    sim = simulate_observations(**truth(SCENARIOS[1], 2, 2, rng), n_learners=5, attempts=(2, 4), rng=rng)
    write_csv(folder / "tiny.csv", sim, 0)
    for scenario in SCENARIOS:
        engine_fit(folder / "tiny.csv", scenario, folder / "params.json")
        engine_predict(folder / "tiny.csv", folder / "params.json", folder / "predictions.csv")
    model = catalog_model()
    state, targets = cohort(model, 3, rng, 1.7e9)
    recommend(state, targets, model, now=1.7e9)
    apply_event(state, model, 0, 0, int(Kind.GRADED), 0.5, 1.7e9)


def compile_seconds() -> float:
    """Time to compile every kernel from scratch: a child process with an empty Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import bench.engine as b; b.warm_up()"], env=env, check=True)
        return time.perf_counter() - start


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a measurement")
    parser.add_argument("--no-pybkt", action="store_true", help="the engine's side only")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    n_learners, n_test, n_points, n_resources, attempts = (
        (300, 100, 4, 3, (5, 15)) if args.quick else (5000, 1000, 20, 5, (10, 20))
    )
    rng = np.random.default_rng(args.seed)
    say("load_average_1min", os.getloadavg()[0])
    say("cores", os.cpu_count())
    say("omp_wait_policy", os.environ.get("OMP_WAIT_POLICY", "default"))  # both libraries' OpenMP
    PyBKTModel, backend = (None, "skipped (--no-pybkt)") if args.no_pybkt else pybkt_model()
    say("pybkt_backend", backend)

    say("numba_compile_s", "skipped (--quick)" if args.quick else compile_seconds())
    start = time.perf_counter()
    warm_up()
    say("numba_cache_load_s", time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as folder:
        for scenario in SCENARIOS:
            expected = truth(scenario, n_points, n_resources, rng)
            train, test = Path(folder) / f"{scenario.name}.csv", Path(folder) / f"{scenario.name}-test.csv"
            fitted_on = simulate_observations(**expected, n_learners=n_learners, attempts=attempts, rng=rng)
            write_csv(train, fitted_on, 0)
            held_out = simulate_observations(**expected, n_learners=n_test, attempts=attempts, rng=rng)
            write_csv(test, held_out, n_learners)
            prefix = scenario.name
            say(f"{prefix}_rows", f"{fitted_on.point.size:,} fit, {held_out.point.size:,} held out")

            def pybkt_fit():
                model = PyBKTModel(seed=args.seed, num_fits=1, parallel=True)
                kwargs = {"forgets": scenario.forgets}
                if scenario.multilearn:
                    kwargs["multilearn"] = RESOURCE_COLUMN
                model.fit(data_path=str(train), **kwargs)
                return model

            params_file = Path(folder) / f"{scenario.name}-params.json"
            predictions_file = Path(folder) / f"{scenario.name}-predictions.csv"
            fits = side_by_side(
                FIT_REPEATS, engine=lambda: engine_fit(train, scenario, params_file), pybkt=PyBKTModel and pybkt_fit
            )
            engine_s, (params, skills, resources) = fits["engine"]
            predictions = side_by_side(
                PREDICT_REPEATS,
                engine=lambda: engine_predict(test, params_file),
                engine_writing=lambda: engine_predict(test, params_file, predictions_file),
                pybkt=PyBKTModel and (lambda: fits["pybkt"][1].predict(data_path=str(test))),
            )
            predict_s, (correct, predicted) = predictions["engine"]
            writing_s, _ = predictions["engine_writing"]
            mae, mae_learn = recovery_error(expected, engine_params(params, skills, resources, n_resources))
            say(f"{prefix}_fit_engine_s", engine_s)
            say(f"{prefix}_predict_engine_rows_per_s", held_out.point.size / predict_s)
            say(f"{prefix}_predict_engine_writing_csv_rows_per_s", held_out.point.size / writing_s)
            say(f"{prefix}_auc_engine", auc(correct, predicted))
            say(f"{prefix}_rmse_engine", rmse(correct, predicted))
            say(f"{prefix}_param_mae_engine", mae)
            if scenario.multilearn:
                say(f"{prefix}_learn_mae_engine", mae_learn)
            whole = median_of(
                1 if args.quick else WHOLE_PROCESS_ROUNDS,
                engine=lambda: engine_processes(train, test, scenario, Path(folder)),
                pybkt=PyBKTModel and (lambda: pybkt_process(train, test, scenario, args.seed)),
            )
            say(f"{prefix}_whole_process_fit_predict_engine_s", whole["engine"])
            if PyBKTModel is None:
                continue
            pybkt_s, model = fits["pybkt"]
            # Both sides' whole processes (start-up, imports, CSV reading) beside the in-process ratio.
            say(f"{prefix}_whole_process_fit_predict_pybkt_s", whole["pybkt"])
            say(f"{prefix}_whole_process_ratio_pybkt_over_engine", whole["pybkt"] / whole["engine"])
            say(
                f"{prefix}_in_process_fit_predict_ratio_pybkt_over_engine",
                (pybkt_s + predictions["pybkt"][0]) / (engine_s + writing_s),
            )
            pybkt_predict_s, frame = predictions["pybkt"]
            got = pybkt_params(model, n_points, n_resources, scenario)
            mae_pybkt, mae_learn_pybkt = recovery_error(expected, got)
            say(f"{prefix}_fit_pybkt_s", pybkt_s)
            say(f"{prefix}_fit_ratio_pybkt_over_engine", pybkt_s / engine_s)
            say(f"{prefix}_predict_pybkt_rows_per_s", held_out.point.size / pybkt_predict_s)
            say(f"{prefix}_predict_ratio_engine_over_pybkt", pybkt_predict_s / predict_s)
            say(f"{prefix}_predict_ratio_engine_writing_csv_over_pybkt", pybkt_predict_s / writing_s)
            truth_correct = frame["correct"].to_numpy(dtype=float)
            pybkt_predicted = frame["correct_predictions"].to_numpy(dtype=float)
            say(f"{prefix}_auc_pybkt", auc(truth_correct, pybkt_predicted))
            say(f"{prefix}_rmse_pybkt", rmse(truth_correct, pybkt_predicted))
            say(f"{prefix}_param_mae_pybkt", mae_pybkt)
            if scenario.multilearn:
                # pyBKT 1.4.3's E-step reads the first resource's learn and forget for every
                # resource (E_step.cpp keeps `learn` from the previous loop turn): its
                # per-module rates are shown as released, and apart from the other parameters.
                say(f"{prefix}_learn_mae_pybkt", mae_learn_pybkt)
                spread = float(np.mean(got["learn"].max(axis=1) - got["learn"].min(axis=1)))
                true_spread = float(np.mean(expected["learn"].max(axis=1) - expected["learn"].min(axis=1)))
                say(f"{prefix}_learn_spread_across_modules_pybkt", spread)
                say(f"{prefix}_learn_spread_across_modules_truth", true_spread)
                say(f"{prefix}_pybkt_num_fits", 1)

    model = catalog_model()
    event_rng = np.random.default_rng(args.seed)
    state = new_state(model, 1000)
    n_events = 20_000 if args.quick else 200_000
    modules = event_rng.integers(0, model.n_modules, n_events).tolist()
    learners = event_rng.integers(0, 1000, n_events).tolist()
    scores = event_rng.random(n_events).tolist()

    def stream():
        for e in range(n_events):
            apply_event(state, model, learners[e], modules[e], 2, scores[e], 1.7e9 + e)

    stream_s, _ = best_of(3, stream)
    say("single_event_update_us", stream_s / n_events * 1e6)

    now = 1.8e9
    state, targets = cohort(model, 500 if args.quick else 5000, event_rng, now)
    kernel_s, recs = best_of(5, lambda: recommend(state, targets, model, now=now))
    numpy_s, (module, value) = best_of(
        3, lambda: recommend_numpy(state, targets, model, now, 5, RANKING_READY_MASTERY, 0.15)
    )
    same = np.allclose(value, recs.gain_per_minute, rtol=1e-9, atol=1e-15)
    say("recommend_same_ranking_as_numpy", bool(same))
    say("recommend_learners_per_s", state.shape[0] / kernel_s)
    say("recommend_numpy_learners_per_s", state.shape[0] / numpy_s)
    say("recommend_ratio_over_numpy", numpy_s / kernel_s)
    say("load_average_1min_end", os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
