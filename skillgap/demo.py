"""The demo cohort of `skillgap run`: simulated learners whose activity is POSTed to the
API's event intake, the same path an HR system or the LMS connectors use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import requests

from core.catalog import Catalog, engine_model
from engine import Kind
from engine.simulate import simulate_activity

DAY = 86_400.0
HISTORY_DAYS = 60.0
MIN_JOINED_DAYS = 5.0  # the newest learners joined this many days ago
POST_BATCH = 500


def demo_events(catalog: Catalog, learners: list[str], cohort: str, seed: int, now: float) -> list[dict]:
    """About a dozen activities per learner, as JSON events. Each learner's first event also
    names their role and a cohort of their role; the others name `cohort`. Learners joined on
    different days of the last 60 (their activity squeezed into the days since), so mandatory
    modules are due soon for some and overdue for others, as in a real company."""
    model = engine_model(catalog)
    rng = np.random.default_rng(seed)
    roles = [r.id for r in catalog.roles]
    learner_roles = np.arange(len(learners)) % len(roles)
    quiz = np.array([m.method == "quiz" for m in catalog.modules])
    activity = simulate_activity(model, learner_roles, 12, rng, now - HISTORY_DAYS * DAY, now - 60.0, quiz)
    joined_share = rng.uniform(MIN_JOINED_DAYS / HISTORY_DAYS, 1.0, len(learners))
    times = now - (now - activity.time) * joined_share[activity.learner]
    events = []
    announced: set[int] = set()
    for i, q, kind, score, t in zip(activity.learner, activity.module, activity.kind, activity.score, times):
        role = roles[learner_roles[i]]
        event = {
            "learner": learners[i],
            "cohort": cohort if i in announced else f"{role}-2026q4",
            "module": catalog.modules[q].id,
            "kind": Kind(kind).name.lower(),
            "timestamp": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"),
            "source": "demo",
        }
        if not np.isnan(score):
            event["score"] = float(score)
        if i not in announced:
            event["role"] = role
            announced.add(i)
        events.append(event)
    return events


def post_events(
    api_url: str, token: str, events: list[dict], progress: Callable[[int, int], None] | None = None
) -> int:
    """POST the events in batches; returns how many the API accepted."""
    accepted = 0
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        for start in range(0, len(events), POST_BATCH):
            response = session.post(f"{api_url}/v1/events", json=events[start : start + POST_BATCH], timeout=30)
            if response.status_code != 202:
                raise RuntimeError(f"the API refused demo events: {response.status_code} {response.text[:300]}")
            accepted += response.json()["accepted"]
            if progress:
                progress(accepted, len(events))
    return accepted
