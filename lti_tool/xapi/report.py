"""What an admin checks after pointing an LMS at SkillGap: are events arriving, per source,
which activities map to no catalog module, and how many statements wait for their learner."""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime

from core.recent import SOURCES, recent
from core.services import Services
from lti_tool.course_binding import item_type
from lti_tool.redis_keys import LtiKeys
from lti_tool.xapi.intake import drop_expired_waiting


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def intake_report(services: Services, tenant: str, limit: int = 10) -> dict:
    client, keys = services.redis, services.keys
    drop_expired_waiting(services, tenant, time.time())  # what waited too long is counted, not shown
    counts = {k.decode(): float(v) for k, v in client.hgetall(keys.xapi_counts(tenant)).items()}
    last = counts.pop("last_received", None)
    unmapped = client.zrevrange(keys.xapi_unmapped(tenant), 0, limit - 1, withscores=True)
    names = client.hmget(keys.xapi_unmapped_names(tenant), [a for a, _ in unmapped]) if unmapped else []
    courses = client.hmget(LtiKeys(keys).unmapped_courses(tenant), [a for a, _ in unmapped]) if unmapped else []
    return {
        "tenant": tenant,
        "last_statement_at": _iso(last) if last else None,
        "counts": {k: int(v) for k, v in sorted(counts.items())},
        "recent": {
            source: [
                {**event, "timestamp": _iso(event["timestamp"])}
                for event in recent(client, keys, tenant, source, limit)
            ]
            for source in SOURCES
        },
        "unmapped_activities": [
            {
                "activity": a.decode(),
                "type": item_type(a.decode()),
                "statements": int(n),
                "name": name.decode() if name else None,
                "course": course.decode() if course else None,
            }
            for (a, n), name, course in zip(unmapped, names, courses)
        ],
        "waiting_actors": client.scard(keys.xapi_waiting_actors(tenant)),
    }


def format_report(report: dict) -> str:
    """The report as plain lines for the terminal."""
    counts = report["counts"]
    lines = [f"Tenant {report['tenant']}: last xAPI statement {report['last_statement_at'] or 'never'}"]
    if counts:
        lines.append("Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for source, events in report["recent"].items():
        lines.append(f"\nLast events from {source}:" if events else f"\nNo events from {source} yet.")
        for e in events:
            score = f" score {e['score']:.2f}" if e.get("score") is not None else ""
            lines.append(f"  {e['timestamp']}  {e['learner']}  {e['kind']:<9} {e.get('module', '-')}{score}")
    unmapped = report["unmapped_activities"]
    lines.append(
        "\nCourse items whose statements count for no catalog module, by type (bind each to "
        "the module it trains with the command under it):"
        if unmapped
        else "\nEvery activity seen maps to a catalog module."
    )
    for kind in sorted({item["type"] for item in unmapped}):
        of_kind = [item for item in unmapped if item["type"] == kind]
        lines.append(f"  {kind}: {sum(item['statements'] for item in of_kind)} statement(s)")
        for item in of_kind:
            name = f"  ({item['name']})" if item["name"] else ""
            lines.append(f"    {item['statements']:>6}  {item['activity']}{name}")
            course = f" --course {shlex.quote(item['course'])}" if item["course"] else ""
            lines.append(
                f"            skillgap platform link --tenant {shlex.quote(report['tenant'])}{course} "
                f"--item {shlex.quote(item['activity'])} --module MODULE"
            )
    if report["waiting_actors"]:
        lines.append(
            f"\n{report['waiting_actors']} learner(s) have statements waiting for their first LTI launch "
            "(`skillgap xapi release --tenant T` applies those whose launch has since arrived)."
        )
    return "\n".join(lines)
