"""`skillgap tenants`: every tenant with what feeds it (LTI registrations, xAPI credentials),
who reads it (analyst tokens) and how many learners it has, so an admin sees which tenant an
LMS's data lands in and whether an analyst token can read it."""

from __future__ import annotations

import argparse
from collections import defaultdict

import orjson

from core.keys import Keys
from core.redis_server import open_redis
from core.settings import Settings


def tenant_summary(client, keys: Keys, partitions: int) -> dict[str, dict]:
    from lti_tool.redis_keys import LtiKeys
    from lti_tool.registrations import RegistrationStore
    from lti_tool.xapi.credentials import list_credentials

    found: dict[str, dict] = defaultdict(lambda: {"registrations": [], "credentials": [], "tokens": 0, "learners": 0})
    for r in RegistrationStore(client, LtiKeys(keys)).all():
        found[r.tenant]["registrations"].append(f"{r.issuer} (client {r.client_id})")
    for c in list_credentials(client, keys):
        found[c.tenant]["credentials"].append(f"{c.key} ({c.platform} {c.issuer})")
    for raw in client.hvals(keys.tokens):
        found[orjson.loads(raw)["tenant"]]["tokens"] += 1
    for tenant in list(found):
        pipe = client.pipeline(transaction=False)
        for partition in range(partitions):
            pipe.zcard(keys.learner_index(partition, tenant))
        found[tenant]["learners"] = sum(pipe.execute())
    return dict(sorted(found.items()))


def _tenants(args: argparse.Namespace, settings: Settings) -> int:
    with open_redis(settings) as client:
        summary = tenant_summary(client, Keys(settings.key_prefix), settings.partitions)
    if not summary:
        print("no tenants yet: register an LMS (`skillgap platform add` or /lti/register) or create a token")
    for tenant, about in summary.items():
        print(f"{tenant}: {about['learners']} learner(s), {about['tokens']} analyst token(s)")
        for registration in about["registrations"]:
            print(f"  LTI registration  {registration}")
        for credential in about["credentials"]:
            print(f"  xAPI credentials  {credential}")
        if not about["tokens"]:
            print(f"  no analyst token: skillgap token create --tenant {tenant}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tenants", help="tenants with their registrations, credentials, tokens and learners")
    parser.set_defaults(handler=_tenants)
