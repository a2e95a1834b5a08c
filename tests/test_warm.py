"""engine.warm.warm_up compiles what the services run: after it, the workers' updates and
ranking, the readers' beliefs and raised targets, the cost plan and fitting on the default
catalog add no kernel signature (so nothing compiles at a worker's first batch or a first
request)."""

from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import numpy as np
import engine.kernels.fit, engine.kernels.mastery, engine.kernels.recommend, engine.plan, engine.simulate
from engine.warm import warm_up

def signatures():
    found = {}
    for module in (engine.kernels.fit, engine.kernels.mastery, engine.kernels.recommend, engine.plan, engine.simulate):
        for name, value in vars(module).items():
            if hasattr(value, "signatures") and hasattr(value, "py_func"):
                found[f"{module.__name__}.{name}"] = set(value.signatures)
    return found

warm_up()
before = signatures()

from core.catalog import engine_model, load_catalog, own_points
from core.mandatory import DueRules
from core.settings import Settings
from engine import Kind, apply_event, apply_events, decayed_belief, needed_targets, new_state
from engine.fit import fit, observations, predict
from engine.plan import Bounds, project
from sidecar.processing import recommend_as_of

settings = Settings.load()
catalog = load_catalog(settings.catalog_path)
model = engine_model(catalog)
n = len(catalog.roles)
roles = np.arange(n)
now = 1.75e9
state = new_state(model, n)
apply_events(state, model, roles, roles % model.n_modules, np.full(n, int(Kind.GRADED)), np.full(n, 0.5), np.full(n, now), in_place=True)
apply_event(state, model, 0, 1, int(Kind.COMPLETED), float("nan"), now)
rules = DueRules.of(catalog)
due = rules.due(roles, np.full(n, now - 86_400.0 * 20), np.full((n, len(rules.modules)), np.inf), model.n_modules)
own = own_points(catalog, model.targets)
for d, o in ((due, own), (None, own), (due, None), (None, None)):
    recommend_as_of(state, model.targets, model, np.full(n, now), settings, d, o)
belief = decayed_belief(state, model, now)
needed_targets(belief.mastery, model.targets, model, settings.prerequisite_threshold)
project(state, model.targets, model, now, Bounds(300.0, 3000.0, 20), draws=2, due=due, **settings.ranking_options())
data = observations([0, 0, 1], [0, 1, 0], [0, 0, 1], [1.0, 0.0, float("nan")], [1.0, 2.0, 1.0], n_points=model.n_points, n_resources=3 * model.n_modules)
predict(data, fit(data, forgets=True, max_iter=2))
after = signatures()
added = {name: sorted(map(str, after[name] - before.get(name, set()))) for name in after if after[name] - before.get(name, set())}
print("ADDED", added)
"""


def test_after_warm_up_the_services_paths_compile_nothing_new():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ADDED {}" in done.stdout, done.stdout[-3000:]
