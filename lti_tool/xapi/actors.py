"""Who a statement's actor is: the same pseudonymous learner as that person's LTI launches.

- Moodle (logstore_xapi, "identify users by id"): the account name is the Moodle user id, which
  Moodle's LTI launches send as `sub`, so the pseudonym is computed from the site URL and it.
- Open edX (event-routing-backends): the account name is an anonymous id that its LTI launches
  do not carry, so the actor is looked up in the alias table that launches fill
  (`core.identity.record_launch_identity`): by `xapi_account`, then by `sub` (older
  event-routing-backends used the LTI id), or by the keyed hash of the email for an `mbox` /
  `mbox_sha1sum` (the launch's `email` claim, where the platform shares it).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from core.identity import alias_field, learner_pseudonym, mbox_alias
from lti_tool.xapi.credentials import Credential

# Alias fields to try, in order, per kind of actor identifier.
ACCOUNT_ALIASES = ("xapi_account", "sub")


def alias_fields(actor: dict, issuer: str, secret: bytes) -> tuple[str, ...]:
    """The alias-table fields of platform `issuer` that may name this actor (none for a Group)."""
    if actor.get("objectType", "Agent") not in ("Agent", ["Agent"]):
        return ()
    if "account" in actor:
        name = actor["account"]["name"]
        return tuple(alias_field(issuer, kind, name) for kind in ACCOUNT_ALIASES)
    if "mbox" in actor:
        return (alias_field(issuer, "mbox", mbox_alias(secret, hashlib.sha1(actor["mbox"].encode()).hexdigest())),)
    if "mbox_sha1sum" in actor:
        return (alias_field(issuer, "mbox", mbox_alias(secret, actor["mbox_sha1sum"])),)
    return (alias_field(issuer, "openid", actor["openid"]),)


@lru_cache(maxsize=65_536)
def _pseudonym(secret: bytes, issuer: str, user_id: str) -> str:
    return learner_pseudonym(secret, issuer, user_id)


def direct_learner(actor: dict, credential: Credential, secret: bytes) -> str | None:
    """The learner an actor names by platform rule alone, without the alias table."""
    if credential.platform == "moodle" and "account" in actor:
        return _pseudonym(secret, credential.issuer, actor["account"]["name"])
    return None
