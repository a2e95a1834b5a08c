"""The demo cohort `make run` loads: learners joined on different days, so the dashboard's
mandatory-modules page shows some due soon and some overdue."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest

from core.catalog import load_catalog
from core.settings import Settings
from skillgap.demo import DAY, HISTORY_DAYS, demo_events

NOW = 1.8e9


@pytest.fixture(scope="module")
def events():
    catalog = load_catalog(Settings().catalog_path)
    return demo_events(catalog, [f"u-{i}" for i in range(120)], "demo-cohort", 7, NOW)


def test_learners_joined_on_different_days_of_the_history(events):
    first = defaultdict(lambda: NOW)
    for e in events:
        t = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        first[e["learner"]] = min(first[e["learner"]], t)
        assert NOW - HISTORY_DAYS * DAY <= t < NOW
    days_ago = sorted((NOW - t) / DAY for t in first.values())
    assert len(days_ago) == 120
    assert days_ago[0] < 15 and days_ago[-1] > 45  # some new, some there from the start
    assert sum(d < 30 for d in days_ago) >= 20 and sum(d >= 30 for d in days_ago) >= 20  # due soon and overdue


def test_each_learner_announces_a_role_on_their_first_event(events):
    seen = set()
    for e in sorted(events, key=lambda e: e["timestamp"]):
        if e["learner"] not in seen:
            assert "role" in e
            seen.add(e["learner"])
