"""`skillgap moodle sync` and `skillgap catalog import-moodle`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.errors import UserError
from core.settings import Settings
from skillgap.commands.every import add_every, interval_s


def _client(args: argparse.Namespace, settings: Settings):
    from lti_tool.moodle.client import MoodleClient

    url = args.url or settings.moodle_url
    if not url:
        raise UserError("which Moodle? give --url or set SKILLGAP_MOODLE_URL")
    return MoodleClient(url, args.token or settings.moodle_token or "", settings.moodle_http_timeout_s)


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from lti_tool.moodle.sync import MoodleSync, parse_courses, sync_tenant

    courses = args.course or parse_courses(settings.moodle_courses)
    if not courses:
        raise UserError("which courses? give --course ID (repeatable) or set SKILLGAP_MOODLE_COURSES")
    client = _client(args, settings)
    with open_services(settings) as services:
        tenant = args.tenant or sync_tenant(services, client.url)
        sync = MoodleSync(services, client, tenant)
        while True:
            result = sync.sync(courses, progress=lambda line: print(line, file=sys.stderr, flush=True))
            print(
                f"{result.events} new event(s) from {result.courses} course(s) for tenant {tenant!r}; "
                f"{result.unchanged} unchanged since the last sync"
            )
            for activity in sorted(result.unmapped):
                print(
                    f"  bound to no module: {activity}  (skillgap platform link --tenant {tenant} "
                    f"--course COURSE@HOST --item '{activity}' --module MODULE)"
                )
            if args.every is None:
                return 0
            time.sleep(interval_s(args.every, settings.moodle_sync_interval_s))


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from core.catalog import load_catalog
    from core.identity import course_cohort
    from core.services import open_services
    from lti_tool.course_binding import CourseBinding
    from lti_tool.moodle.catalog_import import import_course
    from lti_tool.redis_keys import LtiKeys
    from lti_tool.registrations import platform_tenant

    client = _client(args, settings)
    found = import_course(
        client, args.course, load_catalog(settings.catalog_path), args.include_forums, args.include_lti
    )
    output = Path(args.output or f"moodle-course-{args.course}.toml")
    if output.exists() and not args.force:
        raise UserError(f"{output} exists; choose another --output or add --force")
    output.write_text(found.text, encoding="utf-8")
    with open_services(settings) as services:
        tenant = args.tenant or platform_tenant(services.redis, services.keys, client.url)
        cohort = course_cohort(client.url, str(args.course))
        binding = CourseBinding(services.redis, LtiKeys(services.keys))
        for item in found.known:
            binding.bind(tenant, cohort, item)
    print(
        f"{found.new} new module(s) written to {output}; {len(found.known)} already "
        f"in the catalog bound to their module in course {cohort} (tenant {tenant})."
    )
    if found.skipped:
        left = ", ".join(f"{n} {kind}" for kind, n in sorted(found.skipped.items()))
        print(f"Left out: {left} (--include-forums, --include-lti to keep forums and LTI links).")
    if found.new:
        print(
            "Next: set each module's coverage (and zh title), move the file into "
            f"{settings.catalog_path}, run `skillgap catalog check`, restart, and import again to bind them."
        )
    return 0


def register_catalog_import(catalog_commands: argparse._SubParsersAction) -> None:
    """`skillgap catalog import-moodle`, added to the catalog command's subcommands."""
    parser = catalog_commands.add_parser("import-moodle", help="write module entries from a Moodle course, to tag")
    parser.add_argument("--url", help="Moodle site address (default: SKILLGAP_MOODLE_URL)")
    parser.add_argument("--token", help="web-service token (default: SKILLGAP_MOODLE_TOKEN)")
    parser.add_argument("--course", type=int, required=True, help="Moodle course id")
    parser.add_argument("--output", help="file to write (default: moodle-course-ID.toml)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    parser.add_argument("--tenant", help="tenant of the course binding (default: that of the Moodle's registration)")
    parser.add_argument("--include-forums", action="store_true", help="offer forums as modules too")
    parser.add_argument("--include-lti", action="store_true", help="offer LTI links (other tools') as modules too")
    parser.set_defaults(handler=_import)


def register(commands: argparse._SubParsersAction) -> None:
    moodle = commands.add_parser("moodle", help="pull grades and completion from Moodle's web services")
    sub = moodle.add_subparsers(dest="moodle_command", required=True, metavar="COMMAND")
    sync = sub.add_parser("sync", help="turn new grades and completions of the courses into events")
    sync.add_argument(
        "--url",
        help="Moodle site address, as its LTI launches name it (default: SKILLGAP_MOODLE_URL)",
    )
    sync.add_argument("--token", help="web-service token (default: SKILLGAP_MOODLE_TOKEN)")
    sync.add_argument(
        "--course",
        type=int,
        action="append",
        help="course id (repeatable; default: SKILLGAP_MOODLE_COURSES)",
    )
    sync.add_argument(
        "--tenant",
        help="tenant the events belong to (default: SKILLGAP_MOODLE_TENANT, else the tenant of the Moodle's registration)",
    )
    add_every(sync, "keep syncing at this interval until stopped (no value: SKILLGAP_MOODLE_SYNC_INTERVAL_S)")
    sync.set_defaults(handler=_sync)
