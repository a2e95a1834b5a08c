"""`skillgap fit --csv ...` and `skillgap predict ...`: pyBKT-format history in, fitted
parameters or predictions out. bench/engine.py times `fit_csv` (the whole command) and
`predictions_from_csv` (the command without writing its CSV) against pyBKT."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from bkt_csv.files import BktTable, CsvError, align, params_from_json, params_to_json, read_bkt_csv, write_predictions
from core.errors import UserError
from core.settings import Settings
from engine.fit import FittedParameters, Predictions, fit, observations, predict
from engine.jit import lean_cache_loads
from skillgap.compiling import notices_compiling

lean_cache_loads()  # these commands run as short processes


class Progress:
    """One line per stage on stderr, with the time it took."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.2f} s] {message}", file=sys.stderr, flush=True)


def quiet(message: str) -> None:
    """No progress output."""


def fit_csv(
    csv: Path,
    out: Path,
    forgets: bool,
    multilearn: str | None,
    max_iter: int = 200,
    progress: Callable[[str], None] = quiet,
) -> tuple[FittedParameters, BktTable]:
    """Fit parameters to a pyBKT CSV and write the parameters file."""
    progress(f"reading {csv}")
    table = read_bkt_csv(csv, resource_column=multilearn)
    resources = f", {len(table.resources):,} values of {multilearn}" if multilearn else ""
    progress(f"read {table.rows:,} rows: {len(table.skills):,} skills, {len(table.learners):,} learners{resources}")
    data = observations(table.learner, table.skill, table.resource, table.correct, table.order)
    progress(f"fitting {len(table.skills):,} skills (EM, {'with' if forgets else 'without'} forgetting)")
    params = fit(data, forgets=forgets, max_iter=max_iter)
    progress(f"fitted: {int(params.iterations.sum()):,} E-steps, log-likelihood {params.log_likelihood.sum():,.1f}")
    doc = params_to_json(params, table.skills, table.resources, forgets, multilearn)
    try:
        out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    except OSError as exc:
        raise CsvError(f"{out}: cannot write: {exc.strerror}") from None
    progress(f"wrote {out}")
    return params, table


# P(correct) and P(mastered) of rows whose skill has no fitted parameters (--unknown-skills default):
# nothing is known about such a skill, so neither outcome is favoured.
UNKNOWN_SKILL_DEFAULT = 0.5


def predictions_from_csv(
    csv: Path, params_file: Path, progress: Callable[[str], None] = quiet, unknown_skills: str = "error"
) -> tuple[BktTable, Predictions]:
    """The rows of a pyBKT CSV and, for each, P(correct) and P(mastered) before it is seen."""
    try:
        doc = orjson.loads(params_file.read_bytes())
    except OSError as exc:
        raise CsvError(f"{params_file}: cannot read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise CsvError(f"{params_file}: not JSON ({exc})") from None
    params, skills, resources, resource_column = params_from_json(doc, str(params_file))
    progress(f"reading {csv}")
    table = read_bkt_csv(csv, resource_column=resource_column)
    progress(f"read {table.rows:,} rows")
    point, resource = align(table, skills, resources, str(csv), unknown_skills)
    known = point >= 0
    if known.all():
        data = observations(
            table.learner,
            point,
            resource,
            table.correct,
            table.order,
            n_points=params.n_points,
            n_resources=params.learn.shape[1],
        )
        return table, predict(data, params)
    unknown = int((~known).sum())
    progress(
        f"{unknown:,} rows of {len(set(table.skill[~known].tolist())):,} skills without fitted parameters: "
        f"predicted with the default {UNKNOWN_SKILL_DEFAULT}"
    )
    data = observations(
        table.learner[known],
        point[known],
        None if resource is None else resource[known],
        table.correct[known],
        None if table.order is None else table.order[known],
        n_points=params.n_points,
        n_resources=params.learn.shape[1],
    )
    found = predict(data, params)
    correct, mastery = np.full(table.rows, UNKNOWN_SKILL_DEFAULT), np.full(table.rows, UNKNOWN_SKILL_DEFAULT)
    correct[known], mastery[known] = found.correct, found.mastery
    return table, Predictions(correct, mastery)


def predict_csv(
    csv: Path, params_file: Path, out: Path, progress: Callable[[str], None] = quiet, unknown_skills: str = "error"
) -> tuple[BktTable, Predictions]:
    """Write the rows of a pyBKT CSV with P(correct) and P(mastered) before each is seen."""
    table, predictions = predictions_from_csv(csv, params_file, progress, unknown_skills)
    write_predictions(
        out, table, {"correct_predictions": predictions.correct, "state_predictions": predictions.mastery}
    )
    progress(f"wrote {table.rows:,} predictions to {out}")
    return table, predictions


@notices_compiling
def _fit(args: argparse.Namespace, settings: Settings) -> int:
    if args.from_log:
        return _fit_from_log(args, settings)
    if not args.out:
        raise UserError("--out PARAMS.json is required with --csv")
    fit_csv(Path(args.csv), Path(args.out), args.forgets, args.multilearn, args.max_iter, Progress())
    return 0


def _fit_from_log(args: argparse.Namespace, settings: Settings) -> int:
    from core.params import activate
    from core.services import open_services
    from sidecar.fit_from_log import fit_from_log

    if args.multilearn:
        raise UserError("--multilearn is for --csv; from the log, every module gets its own rates")
    progress = Progress()
    with open_services(settings) as services:
        result = fit_from_log(
            services,
            forgets=args.forgets,
            min_learners=args.min_learners,
            max_iter=args.max_iter,
            progress=progress,
            archive_dir=Path(args.archive) if args.archive else settings.archive_dir,
        )
        progress(f"stored parameter version {result.version} ({result.events:,} events, {result.rows:,} rows)")
        if args.activate:
            activate(services.redis, services.keys, services.catalog, result.version)
            progress(f"version {result.version} is active; `skillgap replay` rebuilds mastery with it")
    if args.out:
        Path(args.out).write_bytes(orjson.dumps(result.document, option=orjson.OPT_INDENT_2))
    print(f"{'module':<28} {'knowledge point':<28} {'rate':>6} {'±se':>6} {'learners':>8} {'was':>6}")
    for row in result.effectiveness:
        print(
            f"{row['module']:<28} {row['point']:<28} {row['rate']:6.3f} {row['se']:6.3f} "
            f"{row['learners']:8d} {row['previous']:6.3f}"
        )
    if not args.activate:
        print(f"Activate it with: skillgap params activate {result.version}", file=sys.stderr)
    return 0


@notices_compiling
def _predict(args: argparse.Namespace, settings: Settings) -> int:
    predict_csv(Path(args.csv), Path(args.params), Path(args.out), Progress(), args.unknown_skills)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    fitting = commands.add_parser(
        "fit", help="fit mastery-model parameters to pyBKT-format history or to the event log"
    )
    source = fitting.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="pyBKT CSV: user_id, skill_name, correct[, order_id]")
    source.add_argument(
        "--from-log", action="store_true", help="fit on the retained event log and store a new parameter version"
    )
    fitting.add_argument(
        "--archive", metavar="DIR", help="with --from-log: also the archived entries (default: SKILLGAP_ARCHIVE_DIR)"
    )
    fitting.add_argument("--forgets", action="store_true", help="fit a forgetting rate per skill")
    fitting.add_argument("--multilearn", metavar="COLUMN", help="a learning rate per value of COLUMN (the module)")
    fitting.add_argument("--out", help="parameters file to write (JSON); required with --csv")
    fitting.add_argument("--max-iter", type=int, default=200, help="E-steps at most per skill")
    fitting.add_argument(
        "--min-learners",
        type=int,
        default=20,
        help="--from-log: keep a module's catalog rate unless this many learners used it",
    )
    fitting.add_argument("--activate", action="store_true", help="--from-log: make the new version the active one")
    fitting.set_defaults(handler=_fit)

    predicting = commands.add_parser("predict", help="P(correct) of each row before it is seen, with fitted parameters")
    predicting.add_argument("--csv", required=True, help="pyBKT CSV with the skills of the parameters file")
    predicting.add_argument("--params", required=True, help="parameters file written by `skillgap fit`")
    predicting.add_argument("--out", required=True, help="CSV to write: the input rows, in order, plus predictions")
    predicting.add_argument(
        "--unknown-skills",
        choices=("error", "default"),
        default="error",
        help=f"rows of skills the parameters do not know: stop (error), or predict them with "
        f"{UNKNOWN_SKILL_DEFAULT} and say how many rows (default)",
    )
    predicting.set_defaults(handler=_predict)
