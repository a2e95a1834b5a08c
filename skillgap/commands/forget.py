"""`skillgap forget-learner`: the right to erasure of one person (core/erasure.py, lti_tool/erasure.py and, for
snapshots and the archive, sidecar/history_erasure.py)."""

from __future__ import annotations

import argparse

from core.errors import UserError
from core.events import LEARNER_PATTERN, TENANT_PATTERN
from core.identity import learner_pseudonym
from core.services import open_services
from core.settings import Settings
from lti_tool.erasure import forget_learner
from lti_tool.tool import build_tool
from sidecar.history_erasure import forget_in_history


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    if not TENANT_PATTERN.match(args.tenant):
        raise UserError(f"tenant {args.tenant!r} is not a tenant id")
    if (args.learner is None) == (args.lms_user is None):
        raise UserError("name the learner: a learner id, or --lms-user ISSUER USER")
    with open_services(settings) as services:
        lms_user = tuple(args.lms_user) if args.lms_user else None
        learner = args.learner or learner_pseudonym(services.pseudonym_secret, lms_user[0], lms_user[1])
        if not LEARNER_PATTERN.match(learner):
            raise UserError(f"{learner!r} is not a learner id")
        erased = forget_learner(build_tool(services), args.tenant, learner, lms_user)
        forget_in_history(
            services.redis, services.keys, settings.partitions, settings.archive_dir, args.tenant, learner, erased
        )
    print(f"forgot learner {learner} of tenant {args.tenant}:")
    for kind, count in sorted(erased.counts.items()):
        print(f"  {count:6d}  {kind}")
    if not erased.counts:
        print("  nothing was stored for this learner")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    forget = commands.add_parser("forget-learner", help="erase every trace of one learner (right to erasure)")
    forget.add_argument("--tenant", required=True)
    forget.add_argument("learner", nargs="?", help="the learner id (as the API names it)")
    forget.add_argument(
        "--lms-user",
        nargs=2,
        metavar=("ISSUER", "USER"),
        help="or the LMS's issuer (as `skillgap platform list` shows it) and its user id",
    )
    forget.set_defaults(handler=_forget)
