"""The tool's subcommands: `skillgap keys ...`, `skillgap platform ...`, `skillgap ags ...`."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from urllib.parse import urlsplit

from core.errors import UserError
from core.services import open_services
from core.settings import Settings
from lti_tool.course_binding import CourseItem, item_id, item_type, item_url
from lti_tool.invites import invite_url
from lti_tool.registrations import validate_registration
from lti_tool.tool import build_tool


@contextmanager
def _tool(settings: Settings):
    with open_services(settings) as services:
        yield build_tool(services)


def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        old = tool.signing.current()
        new, deleted = tool.signing.rotate()
    print(f"new signing key {new.kid}")
    print(f"old key {old.kid} stays in the JWKS for {settings.lti_key_grace_days:g} days, then is deleted")
    for key in deleted:
        print(f"deleted key {key.kid} (grace period over)")
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        current = tool.signing.current().kid
        for key in tool.signing.published():
            state = (
                "signing"
                if key.kid == current
                else f"retires {time.strftime('%Y-%m-%d %H:%M', time.localtime(key.retire_at or 0))}"
            )
            print(f"{key.kid}  {state}")
    return 0


def _platform_add(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        # An InvalidRegistration is a UserError: the CLI prints its message.
        registration = validate_registration(
            issuer=args.issuer,
            client_id=args.client_id,
            auth_login_url=args.auth_url,
            auth_token_url=args.token_url,
            jwks_url=args.jwks_url,
            deployments=args.deployment or [],
            tenant=args.tenant,
            auth_audience=args.audience,
            name=args.name or "",
            product=args.product or "",
        )
        existing = tool.registrations.get(registration.issuer, registration.client_id)
        if existing is None:
            tool.registrations.save(registration)
        elif registration.endpoints == existing.endpoints:
            registration = tool.registrations.add_deployments(existing, list(registration.deployments))
        else:
            raise UserError(
                f"{registration.issuer} client {registration.client_id} is registered with other endpoints or tenant; "
                "registrations are never replaced: `skillgap platform remove` it first"
            )
    verb = "updated" if existing else "registered"
    print(
        f"{verb} {registration.issuer} client {registration.client_id} "
        f"(deployments: {', '.join(registration.deployments) or 'none: add one with --deployment'}) "
        f"for tenant {registration.tenant}"
    )
    return 0


DURATION = re.compile(r"(\d+)\s*([smhd]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_s(text: str) -> int:
    """7d, 12h, 30m, 90s or plain seconds."""
    match = DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 7d, 12h or 30m")
    return int(match.group(1)) * UNITS[match.group(2)]


def _platform_invite(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        token = tool.invites.create(args.tenant, args.expires)
    print(invite_url(settings, token))
    until = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(time.time() + args.expires))
    print(
        f"One-time Dynamic Registration URL for tenant {args.tenant!r}, valid until {until}: paste it into the "
        "LMS's tool registration dialog.",
        file=sys.stderr,
    )
    return 0


def _platform_list(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        registrations = tool.registrations.all()
    for r in registrations:
        print(f"{r.tenant}\t{r.issuer}\t{r.client_id}\tdeployments={','.join(r.deployments) or '-'}\t{r.source}")
    if not registrations:
        print("no platforms registered: use `skillgap platform add` or Dynamic Registration (/lti/register)")
    return 0


def _platform_remove(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        if not tool.registrations.remove(args.issuer, args.client_id):
            raise UserError(f"no registration for {args.issuer} client {args.client_id}")
    print(f"removed {args.issuer} client {args.client_id}")
    return 0


def _platform_link(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        if args.module not in tool.services.catalog.module_index:
            raise UserError(f"unknown module {args.module!r}: see config/catalog/modules.toml")
        if args.item:
            return _bind_item(tool, args)
        if not (args.issuer and args.resource_link):
            raise UserError("give --item and --course (a course item), or --issuer and --resource-link (an LTI link)")
        tenants = {r.tenant for r in tool.registrations.for_issuer(args.issuer)}
        if not tenants:
            raise UserError(f"no platform with issuer {args.issuer} is registered")
        for tenant in tenants:
            tool.module_links.set(tenant, args.issuer, args.resource_link, args.module)
    print(f"launches of resource link {args.resource_link} of {args.issuer} now count as module {args.module}")
    return 0


def _course_tenant(tool, cohort: str, tenant: str | None) -> str:
    """The tenant of the platform a course (`<context id>@<host>`) belongs to."""
    if tenant:
        return tenant
    host = cohort.rpartition("@")[2]
    tenants = {r.tenant for r in tool.registrations.all() if (urlsplit(r.issuer).netloc or r.issuer) == host}
    if len(tenants) != 1:
        found = ", ".join(sorted(tenants)) or "none"
        raise UserError(f"which tenant? platforms of {host}: {found}; give --tenant")
    return tenants.pop()


def _bind_item(tool, args: argparse.Namespace) -> int:
    if not args.course or "@" not in args.course:
        raise UserError("--course is the course as `skillgap xapi status` names it: <course id>@<LMS host>")
    tenant = _course_tenant(tool, args.course, args.tenant)
    item = item_id(args.item)
    binding = tool.binding
    if args.unbind:
        if not binding.unbind(tenant, args.course, item):
            raise UserError(f"{item} is not bound in course {args.course} of tenant {tenant}")
        print(f"{item} no longer counts for a module in course {args.course}")
        return 0
    kind = item_type(item)
    binding.bind(
        tenant, args.course, CourseItem(item, args.module, args.url or item_url(item), args.title or "", kind, "link")
    )
    print(
        f"statements about {item} (and about what is inside it) now count for module {args.module} "
        f"in course {args.course} of tenant {tenant}"
    )
    return 0


def _ags_push(args: argparse.Namespace, settings: Settings) -> int:
    with _tool(settings) as tool:
        while True:
            queued = tool.scores.refresh(tool.services.learners, time.time())
            posted, failed = tool.scores.post_due()
            print(
                f"queued {queued} changed scores; posted {posted}, failed {failed} (retried later); "
                f"{len(tool.scores.pending())} waiting",
                flush=True,
            )
            if not args.loop:
                return 0
            time.sleep(args.interval)


def _add(sub, name: str, help: str, handler: Callable) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="the LTI tool's signing keys").add_subparsers(
        dest="keys_command", required=True, metavar="COMMAND"
    )
    _add(keys, "rotate", "add a new signing key; the old one retires after the grace period", _keys_rotate)
    _add(keys, "list", "the keys in the JWKS", _keys_list)

    platform = commands.add_parser("platform", help="LMS platforms registered with the LTI tool")
    sub = platform.add_subparsers(dest="platform_command", required=True, metavar="COMMAND")
    add = _add(sub, "add", "register a platform by hand (or add deployments to one)", _platform_add)
    add.add_argument("--issuer", required=True, help="the platform's issuer (iss), e.g. https://moodle.example.com")
    add.add_argument("--client-id", required=True)
    add.add_argument("--auth-url", required=True, help="its OIDC authorization endpoint")
    add.add_argument("--token-url", required=True, help="its OAuth 2 token endpoint")
    add.add_argument("--jwks-url", required=True, help="its public keyset URL")
    add.add_argument("--deployment", action="append", help="a deployment id (repeat for several)")
    add.add_argument("--tenant", help="the tenant its learners belong to (default: the issuer's host)")
    add.add_argument("--audience", help="the token endpoint's audience, when it is not its URL")
    add.add_argument("--name")
    add.add_argument("--product", help="moodle, openedx, canvas...")
    invite = _add(sub, "invite", "a one-time Dynamic Registration URL for a tenant", _platform_invite)
    invite.add_argument("--tenant", required=True, help="the tenant the registered platform's learners belong to")
    invite.add_argument("--expires", type=duration_s, default=7 * 86_400, help="how long the URL works (default 7d)")
    _add(sub, "list", "registered platforms", _platform_list)
    remove = _add(sub, "remove", "forget a registration", _platform_remove)
    remove.add_argument("--issuer", required=True)
    remove.add_argument("--client-id", required=True)
    link = _add(
        sub, "link", "bind a course item (or an LTI resource link) to the catalog module it trains", _platform_link
    )
    link.add_argument("--module", required=True, help="a module id of the catalog")
    link.add_argument(
        "--item",
        help="the course item's IRI or view URL (Moodle .../mod/quiz/view.php?id=8, Open edX .../xblock/block-v1:...)",
    )
    link.add_argument(
        "--course", help="with --item: the course, <course id>@<LMS host> (as `skillgap xapi status` shows)"
    )
    link.add_argument("--tenant", help="with --item: the tenant (default: that of the LMS's registration)")
    link.add_argument("--url", help="with --item: where learners open it (default: the item's IRI)")
    link.add_argument("--title", help="with --item: its name in the course")
    link.add_argument("--unbind", action="store_true", help="with --item: remove the binding")
    link.add_argument("--issuer", help="with --resource-link: the platform's issuer")
    link.add_argument("--resource-link", help="an LTI resource link id whose launches count as the module")

    ags = commands.add_parser("ags", help="grades posted to the LMS (AGS)").add_subparsers(
        dest="ags_command", required=True, metavar="COMMAND"
    )
    push = _add(ags, "push", "queue changed progress scores and post those due", _ags_push)
    push.add_argument("--loop", action="store_true", help="keep running")
    push.add_argument("--interval", type=float, default=30.0, help="seconds between rounds with --loop")
