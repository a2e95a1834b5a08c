"""`skillgap token ...`."""

from __future__ import annotations

import argparse
import sys

from core.keys import Keys
from core.redis_server import open_redis
from core.settings import Settings
from core.tokens import create_token


def _create(args: argparse.Namespace, settings: Settings) -> int:
    with open_redis(settings) as client:
        token = create_token(client, Keys(settings.key_prefix), args.tenant, label=args.label or "")
    print(token)
    print(f"Bearer token for tenant {args.tenant!r}; it is stored hashed and cannot be shown again.", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="manage analyst API tokens")
    sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create a bearer token for a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument("--label", help="a note to recognise the token by")
    create.set_defaults(handler=_create)
