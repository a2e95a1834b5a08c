"""`skillgap token create|list|revoke`."""

from __future__ import annotations

import argparse
import sys
import time

from core.keys import Keys
from core.redis_server import open_redis
from core.settings import Settings
from core.tokens import create_token, list_tokens, revoke_token


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "never"


def _create(args: argparse.Namespace, settings: Settings) -> int:
    with open_redis(settings) as client:
        token = create_token(client, Keys(settings.key_prefix), args.tenant, name=args.name)
    print(token)
    print(
        f"Bearer token {args.name or '(unnamed)'} for tenant {args.tenant!r}; it is stored hashed and cannot be shown again.",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    with open_redis(settings) as client:
        tokens = list_tokens(client, Keys(settings.key_prefix), args.tenant)
    print("id\ttenant\tname\tcreated\tlast used")
    for t in tokens:
        print(f"{t.id}\t{t.tenant}\t{t.name or '-'}\t{_when(t.created)}\t{_when(t.last_used)}")
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    with open_redis(settings) as client:
        revoked = revoke_token(client, Keys(settings.key_prefix), args.id)
    print(f"revoked token {revoked.id} ({revoked.name or 'unnamed'}, tenant {revoked.tenant})")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="manage analyst API tokens")
    sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = sub.add_parser("create", help="create a bearer token for a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--name", "--label", dest="name", default="", help="what the token is for, shown by `token list`"
    )
    create.set_defaults(handler=_create)
    listing = sub.add_parser("list", help="tokens: id, tenant, name, created, last used")
    listing.add_argument("--tenant", help="only this tenant's")
    listing.set_defaults(handler=_list)
    revoke = sub.add_parser("revoke", help="revoke a token by the id `token list` shows")
    revoke.add_argument("id")
    revoke.set_defaults(handler=_revoke)
