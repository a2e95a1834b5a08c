"""The cost plan's time on a big cohort (core/plan.py): `python -m bench.plan [--learners N]`.

Writes N demo learners' activity (about a dozen events each, skillgap/demo.py) to the event log
under a key prefix of its own, applies it with a stream worker, times `cost_plan` over the whole
tenant as the API runs it, prints one `name: value` line per figure with the load average, and
deletes its keys (only those under its prefix)."""

from __future__ import annotations

import argparse
import os
import time

from core.eventlog import append_events
from core.events import parse_event
from core.plan import cost_plan
from core.redis_server import connect
from core.services import build_services
from core.settings import Settings
from sidecar.worker import Worker
from skillgap.demo import demo_events

TENANT = "bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--minutes-per-week", type=float, default=300.0)
    args = parser.parse_args(argv)
    prefix = f"bench-plan-{os.getpid()}"
    settings = Settings.load(
        {"key_prefix": prefix, "redis_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}
    )
    client = connect(settings.redis_url)
    services = build_services(settings, client)
    try:
        now = time.time()
        learners = [f"u-{i:06d}" for i in range(args.learners)]
        raw = demo_events(services.catalog, learners, "bench-cohort", 7, now)
        events = [parse_event(e, tenant=TENANT, catalog=services.catalog, now=now) for e in raw]
        for start in range(0, len(events), 5000):
            append_events(client, services.keys, settings.partitions, events[start : start + 5000])
        started = time.perf_counter()
        Worker(services).run(burst=True)
        applied = time.perf_counter() - started
        started = time.perf_counter()
        plan = cost_plan(services.learners, settings, TENANT, None, None, args.minutes_per_week, time.time())
        took = time.perf_counter() - started
        total = plan.total()
        lines = [
            ("learners", len(plan.learners)),
            ("events", len(events)),
            ("worker_apply_s", round(applied, 2)),
            ("paths_per_learner", plan.draws),
            ("plan_s", round(took, 2)),
            ("plan_learners_per_s", round(len(plan.learners) / took)),
            ("adaptive_hours_per_learner_median", round(total["adaptive"]["minutes_per_learner"]["median"] / 60, 1)),
            (
                "course_order_hours_per_learner_median",
                round(total["course_order"]["minutes_per_learner"]["median"] / 60, 1),
            ),
            ("adaptive_reached_share", total["adaptive"]["reached_share"]),
            ("course_order_reached_share", total["course_order"]["reached_share"]),
            ("load_average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ]
        for name, value in lines:
            print(f"{name}: {value}", flush=True)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start : start + 500])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
