"""`skillgap xapi-credentials ...` and `skillgap xapi ...`: credentials for an LMS's xAPI
sender, the admin's check that its statements arrive, and the company's own LRS beside the
intake (`forward`, `pull`)."""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from core.errors import UserError
from core.keys import Keys
from core.redis_server import open_redis
from core.settings import Settings
from skillgap.commands.every import add_every, interval_s


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from lti_tool.registrations import platform_tenant
    from lti_tool.xapi.credentials import create_credentials

    with open_redis(settings) as client:
        keys = Keys(settings.key_prefix)
        credential, secret = create_credentials(
            client,
            keys,
            args.tenant or platform_tenant(client, keys, args.issuer),
            args.platform,
            args.issuer,
            args.label or "",
        )
    print(f"key:    {credential.key}\nsecret: {secret}")
    print(
        f"xAPI credentials for tenant {credential.tenant!r} ({credential.platform} at {credential.issuer}). "
        "The secret is stored hashed and cannot be shown again.\n"
        "Endpoint for the LMS: https://<this tool's address>/xapi/",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from lti_tool.xapi.credentials import list_credentials

    with open_redis(settings) as client:
        found = list_credentials(client, Keys(settings.key_prefix), args.tenant)
    for c in found:
        print(f"{c.key}  {c.tenant}  {c.platform}  {c.issuer}  {c.label}")
    if not found:
        print(
            "no xAPI credentials" + (f" for tenant {args.tenant!r}" if args.tenant else ""),
            file=sys.stderr,
        )
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    from lti_tool.xapi.credentials import revoke_credentials

    with open_redis(settings) as client:
        if not revoke_credentials(client, Keys(settings.key_prefix), args.key):
            raise UserError(f"no xAPI key {args.key!r}")
    print(f"revoked {args.key} (a running tool may accept it for {settings.xapi_credentials_cache_s:g} s more)")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from lti_tool.xapi.report import format_report, intake_report

    with open_services(settings) as services:
        report = intake_report(services, args.tenant, args.limit)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json else format_report(report))
    return 0


def _release(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from lti_tool.xapi.intake import release_waiting

    with open_services(settings) as services:
        released = release_waiting(services, args.tenant)
    print(f"{released} waiting statement(s) put on the event log")
    return 0


def _forward(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from lti_tool.xapi.forward import Forwarder, build_lrs

    with open_services(settings) as services:
        lrs = build_lrs(services)
        if lrs is None:
            raise UserError("where to? set SKILLGAP_XAPI_FORWARD_URL (and its username and password)")
        forwarder = Forwarder(services, lrs)
        print(f"forwarding accepted statements to {settings.xapi_forward_url}", file=sys.stderr)
        forwarder.run(burst=args.burst)
    return 0


def _pull(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from lti_tool.xapi.credentials import find_credential
    from lti_tool.xapi.lrs import Lrs, LrsError
    from lti_tool.xapi.pull import pull

    lrs = Lrs(
        args.lrs,
        args.username or settings.xapi_pull_username,
        args.password or settings.xapi_pull_password,
        settings.xapi_http_timeout_s,
    )
    with open_services(settings) as services:
        credential = find_credential(services.redis, services.keys, args.key)
        if credential is None:
            raise UserError(f"no xAPI key {args.key!r} (`skillgap xapi-credentials list`)")
        since = args.since
        while True:
            try:
                counts = pull(services, lrs, args.lrs, credential, since)
            except LrsError as exc:
                if args.every is None:
                    raise UserError(str(exc)) from None
                print(exc, file=sys.stderr, flush=True)
            else:
                print(
                    f"{counts['pulled']} statement(s) read from {args.lrs} for tenant {credential.tenant!r}: "
                    f"{counts['events']} event(s), {counts['repeated']} already taken, "
                    f"{counts['pull_invalid']} invalid, {counts['pull_conflict']} conflicting",
                    flush=True,
                )
            if args.every is None:
                return 0
            since = None  # from where this pull stopped
            time.sleep(interval_s(args.every, settings.xapi_pull_interval_s))


def register(commands: argparse._SubParsersAction) -> None:
    creds = commands.add_parser("xapi-credentials", help="manage the xAPI credentials an LMS sends statements with")
    sub = creds.add_subparsers(dest="xapi_credentials_command", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create a key and secret for one LMS")
    create.add_argument("--tenant", help="default: the tenant of the LMS's LTI registration (its host when none)")
    create.add_argument(
        "--platform",
        choices=("moodle", "openedx"),
        default="moodle",
        help="whose rules map xAPI actors to learners (default: moodle)",
    )
    create.add_argument(
        "--issuer", required=True, help="the LMS's address as its LTI launches name it, e.g. https://moodle.example.com"
    )
    create.add_argument("--label", help="a note to recognise the key by")
    create.set_defaults(handler=_create)
    listing = sub.add_parser("list", help="list keys (never secrets)")
    listing.add_argument("--tenant")
    listing.set_defaults(handler=_list)
    revoke = sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key")
    revoke.set_defaults(handler=_revoke)

    xapi = commands.add_parser("xapi", help="check the xAPI intake")
    sub = xapi.add_subparsers(dest="xapi_command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", help="last events per source, unmapped activities, waiting statements")
    status.add_argument("--tenant", required=True)
    status.add_argument("--limit", type=int, default=10, help="how many events and activities to show")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)
    release = sub.add_parser("release", help="apply waiting statements of learners who have since launched")
    release.add_argument("--tenant", required=True)
    release.set_defaults(handler=_release)
    forward = sub.add_parser("forward", help="forward accepted statements to SKILLGAP_XAPI_FORWARD_URL (an LRS)")
    forward.add_argument("--burst", action="store_true", help="stop when nothing is left to send")
    forward.set_defaults(handler=_forward)
    pulling = sub.add_parser("pull", help="read an LRS's statements into the intake")
    pulling.add_argument("--lrs", required=True, help="the LRS's xAPI base, e.g. https://lrs.example.com/xapi/")
    pulling.add_argument(
        "--key", required=True, help="the xAPI key whose tenant, platform and issuer the statements take"
    )
    pulling.add_argument(
        "--since",
        help="ISO 8601 time: statements stored after it (default: where the last pull from this LRS stopped, else all)",
    )
    pulling.add_argument("--username", help="default: SKILLGAP_XAPI_PULL_USERNAME")
    pulling.add_argument("--password", help="default: SKILLGAP_XAPI_PULL_PASSWORD")
    add_every(pulling, "pull again every SECONDS (default: SKILLGAP_XAPI_PULL_INTERVAL_S)")
    pulling.set_defaults(handler=_pull)
