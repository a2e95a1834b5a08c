"""Versioned model parameters: what fitting produces and what the workers and replay use.

A parameter set is a JSON document keyed by catalog ids (schema 1):

    {"schema": 1, "catalog": "llm-upskilling", "created": 1790000000.0, "source": "fit --from-log",
     "points": {"kp-id": {"prior": 0.1, "guess": 0.2, "slip": 0.1, "half_life_days": 180}},
     "learn": {"module-id": {"kp-id": 0.31}},
     "learn_sd": {"module-id": {"kp-id": 0.02}},      optional: uncertainty of each rate
     "learners": {"module-id": 412}}                  optional: learners behind a module's rates

Anything it leaves out keeps the catalog's value; `half_life_days: null` means never forgotten.
Versions are numbered from 1 and never overwritten; one of them is active (none: the catalog's
defaults). `model_from_parameters` turns a document into the engine's Model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import orjson
import redis

from core.catalog import Catalog, engine_model
from core.errors import UserError
from core.keys import Keys
from core.settings import SECONDS_PER_DAY
from engine import Model

SCHEMA = 1
POINT_FIELDS = ("prior", "guess", "slip", "half_life_days")


class ParametersError(UserError, ValueError):
    """A parameter document or version that cannot be used; the message says where."""


@dataclass(frozen=True)
class ActiveParameters:
    version: int | None  # None: no fitted version is active, the catalog's defaults apply
    model: Model
    document: dict | None


def _probability(value: object, where: str, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ParametersError(f"{where} must be a number in [{low:g}, {high:g}], not {value!r}")
    return float(value)


def model_from_parameters(catalog: Catalog, document: dict) -> Model:
    """The catalog's Model with the document's values in place; raises ParametersError naming
    the first unknown id or out-of-range value."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ParametersError(f'parameters must be a JSON object with "schema": {SCHEMA}')
    if document.get("catalog", catalog.id) != catalog.id:
        raise ParametersError(f"parameters are for catalog {document['catalog']!r}, not {catalog.id!r}")
    base = engine_model(catalog)
    prior, guess, slip, half_life = (a.copy() for a in (base.prior, base.guess, base.slip, base.half_life))
    learn = base.learn.copy()
    for point, values in (document.get("points") or {}).items():
        if point not in catalog.point_index or not isinstance(values, dict):
            raise ParametersError(f"points: unknown knowledge point {point!r}")
        j = catalog.point_index[point]
        for name, value in values.items():
            where = f"points.{point}.{name}"
            if name == "half_life_days":
                if value is None:
                    half_life[j] = math.inf
                else:
                    half_life[j] = _probability(value, where, 1e-6, 1e9) * SECONDS_PER_DAY
            elif name == "prior":
                prior[j] = _probability(value, where)
            elif name == "guess":
                guess[j] = _probability(value, where, 0.0, 0.5)
            elif name == "slip":
                slip[j] = _probability(value, where, 0.0, 0.5)
            else:
                raise ParametersError(f"{where}: unknown field (expected: {', '.join(POINT_FIELDS)})")
    for module, rates in (document.get("learn") or {}).items():
        if module not in catalog.module_index or not isinstance(rates, dict):
            raise ParametersError(f"learn: unknown module {module!r}")
        q = catalog.module_index[module]
        for point, rate in rates.items():
            if point not in catalog.point_index:
                raise ParametersError(f"learn.{module}: unknown knowledge point {point!r}")
            j = catalog.point_index[point]
            if base.coverage[q, j] <= 0:
                raise ParametersError(f"learn.{module}.{point}: the module does not cover that point")
            learn[q, j] = _probability(rate, f"learn.{module}.{point}")
    # replace: every field the document does not fit (assessment, coverage, ...) stays the catalog's
    return replace(base, prior=prior, guess=guess, slip=slip, half_life=half_life, learn=learn)


def store_parameters(client: redis.Redis, keys: Keys, catalog: Catalog, document: dict) -> int:
    """Check and store a new version (it does not become active); returns its number."""
    model_from_parameters(catalog, document)
    document = {**document, "catalog": catalog.id, "created": document.get("created", time.time())}
    while True:
        version = int(client.incr(keys.parameters_counter))
        document["version"] = version
        if client.hsetnx(keys.parameters, str(version), orjson.dumps(document)):
            return version


def load_parameters(client: redis.Redis, keys: Keys, version: int) -> dict:
    raw = client.hget(keys.parameters, str(version))
    if raw is None:
        raise ParametersError(f"no parameter version {version}")
    return orjson.loads(raw)


def activate(client: redis.Redis, keys: Keys, catalog: Catalog, version: int) -> None:
    """Make a stored version the one workers and replay use (checked against this catalog)."""
    model_from_parameters(catalog, load_parameters(client, keys, version))
    client.set(keys.parameters_active, str(version))


def active_version(client: redis.Redis, keys: Keys) -> int | None:
    raw = client.get(keys.parameters_active)
    return int(raw) if raw else None


def active_parameters(client: redis.Redis, keys: Keys, catalog: Catalog) -> ActiveParameters:
    version = active_version(client, keys)
    if version is None:
        return ActiveParameters(None, engine_model(catalog), None)
    document = load_parameters(client, keys, version)
    return ActiveParameters(version, model_from_parameters(catalog, document), document)


def list_versions(client: redis.Redis, keys: Keys) -> list[dict]:
    """Every stored version, oldest first, with when and how it was made."""
    rows = []
    for raw in client.hvals(keys.parameters):
        document = orjson.loads(raw)
        rows.append({name: document.get(name) for name in ("version", "created", "source", "catalog")})
    return sorted(rows, key=lambda row: row["version"])


def module_effectiveness(catalog: Catalog, active: ActiveParameters) -> list[dict]:
    """Per module, the learning rate of each point it covers: fitted (with its uncertainty and
    the learners behind it) when a version is active, else the catalog's rate with none."""
    document = active.document or {}
    sds = document.get("learn_sd") or {}
    learners = document.get("learners") or {}
    fitted = document.get("learn") or {}
    rows = []
    for q, module in enumerate(catalog.modules):
        points = []
        for j in np.flatnonzero(active.model.coverage[q] > 0):
            point = catalog.knowledge_points[j].id
            sd = sds.get(module.id, {}).get(point)
            points.append(
                {
                    "point": point,
                    "learn_rate": round(float(active.model.learn[q, j]), 6),
                    "uncertainty": None if sd is None else float(sd),
                    "fitted": point in fitted.get(module.id, {}),
                }
            )
        rows.append(
            {
                "module": module.id,
                "method": module.method,
                "minutes": module.minutes,
                "learners": learners.get(module.id),
                "points": points,
            }
        )
    return rows
