"""`skillgap fit --from-log`: fit the mastery model's parameters on the retained event log
and store them as a new parameter version (core/params.py); the old versions stay.

Each activity event becomes one row per knowledge point its module covers (engine/fit.py's
input): graded and assessed events carry their score as (soft) evidence; completions and
views only move the state. The resource of a row is its module, split by how much the event's
kind teaches (a view teaches a quarter of a completion, an assessment nothing), so that the
rate stored for a module is the one a completion of it earns, as the online model uses it.
Self-ratings are left out (the online model gives them a third of a grade's weight).
Duplicated events (one id posted twice) count once, as the workers apply them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.params import store_parameters
from core.services import Services
from core.settings import SECONDS_PER_DAY
from core.wire import decode_entries
from engine import Kind
from engine.fit import FittedParameters, fit, observations
from engine.model import KIND_LEARN
from sidecar.archive import history_chunks


class NothingToFit(UserError):
    """The log holds no activity the model could be fitted on."""


FULL, PARTIAL, NONE = 0, 1, 2  # how much an event's kind teaches: resource group of its rows


@dataclass(frozen=True)
class LogRows:
    learner: np.ndarray
    point: np.ndarray
    resource: np.ndarray  # group * Q + module
    score: np.ndarray  # NaN: no evidence
    time: np.ndarray
    events: int


@dataclass(frozen=True)
class LogFit:
    version: int
    rows: int
    events: int
    document: dict
    effectiveness: list[dict]  # per (module, point) with a fitted rate, most effective first


def _group(kind: int) -> int:
    share = KIND_LEARN[kind]
    return FULL if share >= 1.0 else PARTIAL if share > 0.0 else NONE


def log_rows(services: Services, progress: Callable[[str], None], archive_dir: Path | None = None) -> LogRows:
    """The retained log (after the archive's entries, with an `archive_dir`) as fitting rows,
    learners numbered in order of appearance."""
    catalog, model = services.catalog, services.model
    n_modules = model.n_modules
    covered = [np.flatnonzero(model.coverage[q] > 0) for q in range(n_modules)]
    learners: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str]] = set()
    columns: tuple[list, ...] = ([], [], [], [], [])
    events = 0
    for partition in range(services.settings.partitions):
        for chunk in history_chunks(services, partition, archive_dir):
            decoded = decode_entries(chunk, catalog)
            for code, event_id, kind, module, score, timestamp, _, _ in decoded.events:
                key = decoded.learners[code]
                if kind < 0 or kind == Kind.SELF_RATED or (key[0], event_id) in seen:
                    continue
                seen.add((key[0], event_id))
                events += 1
                learner = learners.setdefault(key, len(learners))
                evidence = score if kind in (Kind.GRADED, Kind.ASSESSED) else np.nan
                resource = _group(kind) * n_modules + module
                for j in covered[module]:
                    for column, value in zip(columns, (learner, j, resource, evidence, timestamp)):
                        column.append(value)
        progress(f"read partition {partition + 1}/{services.settings.partitions}: {events:,} events so far")
    learner, point, resource, score, when = columns
    return LogRows(
        np.array(learner, np.int64),
        np.array(point, np.int64),
        np.array(resource, np.int64),
        np.array(score, np.float64),
        np.array(when, np.float64),
        events,
    )


def _start(services: Services) -> FittedParameters:
    """Warm start from the parameters in use: what the catalog or the last fit believes."""
    model = services.model
    q = model.n_modules
    learn = np.full((model.n_points, 3 * q), 0.01)
    learn[:, :q] = model.learn.T
    learn[:, q : 2 * q] = model.learn.T * KIND_LEARN[Kind.VIEWED]
    return FittedParameters.initial(
        model.prior, np.clip(learn, 0.01, 0.99), np.full(model.n_points, 0.01), model.guess, model.slip
    )


def _median_gap(rows: LogRows) -> float:
    """Typical seconds between two rows of one learner on one point (for the half-life)."""
    order = np.lexsort((rows.time, rows.point, rows.learner))
    same = (np.diff(rows.learner[order]) == 0) & (np.diff(rows.point[order]) == 0)
    gaps = np.diff(rows.time[order])[same]
    gaps = gaps[gaps > 0]
    return float(statistics.median(gaps.tolist())) if gaps.size else SECONDS_PER_DAY


def parameters_document(
    services: Services,
    fitted: FittedParameters,
    rows: LogRows,
    forgets: bool,
    min_learners: int,
    min_observations: int,
) -> dict:
    """Fitted values where the log identifies them; the rest keeps what is in use."""
    catalog, model = services.catalog, services.model
    half_lives = fitted.half_life(_median_gap(rows)) / SECONDS_PER_DAY if forgets else None
    points: dict[str, dict] = {}
    for j, kp in enumerate(catalog.knowledge_points):
        if fitted.observations[j] < min_observations:
            continue
        values = {"prior": float(fitted.prior[j])}
        # Guess or slip past 0.5 means the data cannot tell mastered from not: keep ours.
        for name, value in (("guess", fitted.guess[j]), ("slip", fitted.slip[j])):
            if value <= 0.5:
                values[name] = float(value)
        if half_lives is not None:
            values["half_life_days"] = None if np.isinf(half_lives[j]) else float(half_lives[j])
        points[kp.id] = values
    learn: dict[str, dict[str, float]] = {}
    learn_sd: dict[str, dict[str, float]] = {}
    learners: dict[str, int] = {}
    for q, module in enumerate(catalog.modules):
        for j in np.flatnonzero(model.coverage[q] > 0):
            n = int(fitted.learners[j, q])
            rate = fitted.learn[j, q]
            if n < min_learners or not np.isfinite(rate):
                continue
            point = catalog.knowledge_points[j].id
            learn.setdefault(module.id, {})[point] = float(rate)
            learn_sd.setdefault(module.id, {})[point] = float(fitted.learn_se[j, q])
            learners[module.id] = max(learners.get(module.id, 0), n)
    return {
        "schema": 1,
        "source": "fit --from-log",
        "created": time.time(),
        "events": rows.events,
        "points": points,
        "learn": learn,
        "learn_sd": learn_sd,
        "learners": learners,
    }


def effectiveness(services: Services, document: dict) -> list[dict]:
    """Per fitted (module, point): the rate, its standard error, the learners behind it and
    the rate in use before; most effective first."""
    catalog, model = services.catalog, services.model
    rows = []
    for module_id, rates in document["learn"].items():
        q = catalog.module_index[module_id]
        for point, rate in rates.items():
            rows.append(
                {
                    "module": module_id,
                    "point": point,
                    "rate": rate,
                    "se": document["learn_sd"][module_id][point],
                    "learners": document["learners"][module_id],
                    "previous": float(model.learn[q, catalog.point_index[point]]),
                }
            )
    return sorted(rows, key=lambda row: row["rate"], reverse=True)


def fit_from_log(
    services: Services,
    forgets: bool = False,
    min_learners: int = 20,
    min_observations: int = 50,
    max_iter: int = 200,
    progress: Callable[[str], None] = lambda _: None,
    archive_dir: Path | None = None,
) -> LogFit:
    """Fit on the retained log (and the archive) and store the result as a new (inactive)
    parameter version."""
    rows = log_rows(services, progress, archive_dir)
    if rows.events == 0:
        raise NothingToFit("the retained log holds no activity to fit on")
    n_modules = services.model.n_modules
    data = observations(
        rows.learner,
        rows.point,
        rows.resource,
        rows.score,
        rows.time,
        n_points=services.model.n_points,
        n_resources=3 * n_modules,
    )
    progress(f"fitting {services.model.n_points} knowledge points on {rows.point.size:,} rows")
    fitted = fit(data, forgets=forgets, max_iter=max_iter, start=_start(services))
    document = parameters_document(services, fitted, rows, forgets, min_learners, min_observations)
    version = store_parameters(services.redis, services.keys, services.catalog, document)
    return LogFit(version, int(rows.point.size), rows.events, document, effectiveness(services, document))
