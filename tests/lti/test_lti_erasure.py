"""Right to erasure: a learner who was in a course roster (NRPS), launched (aliases, an AGS grade
target, a live launch), sent xAPI statements and was processed by a worker is forgotten by
`skillgap forget-learner`; afterwards no key under the deployment's prefix holds any of their
ids, and replay and export bring nothing back, while the other learners stay."""

from __future__ import annotations

import base64
import io
import uuid

from edx_platform import INSTRUCTOR, LEARNER, Browser

from core.eventlog import export_events
from core.identity import learner_pseudonym
from lms_helpers import cli_env
from lti_tool.xapi.credentials import create_credentials
from sidecar.replay import replay
from skillgap.cli import main
from xapi_shapes import openedx_problem_check


def everything_stored(client, prefix: str) -> bytes:
    """Every key under the prefix and everything in it, whatever its type."""
    dump = []
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        kind = client.type(key).decode()
        dump.append(key)
        if kind == "string":
            dump.append(client.get(key) or b"")
        elif kind == "hash":
            dump.extend(b for pair in client.hgetall(key).items() for b in pair)
        elif kind == "list":
            dump.extend(client.lrange(key, 0, -1))
        elif kind == "set":
            dump.extend(client.smembers(key))
        elif kind == "zset":
            dump.extend(client.zrange(key, 0, -1))
        elif kind == "stream":
            dump.extend(b for _, fields in client.xrange(key) for pair in fields.items() for b in pair)
    return b"\n".join(dump)


def test_forget_learner_removes_every_trace(tool_server, registered, capsys, monkeypatch):
    services = tool_server.services
    registered.members = [
        {"user_id": "victim-7", "status": "Active", "roles": [LEARNER], "lis_person_sourcedid": "sis-victim-7"},
        {"user_id": "other-8", "status": "Active", "roles": [LEARNER], "lis_person_sourcedid": "sis-other-8"},
        {"user_id": "teacher-9", "status": "Active", "roles": [INSTRUCTOR]},
    ]
    Browser().launch(registered.begin("teacher-9", "staff"))  # the roster: enrolments and aliases
    victim_browser = Browser()
    victim_browser.launch(registered.begin("victim-7", custom={"xapi_account": "anon-victim-7"}))
    Browser().launch(registered.begin("other-8", custom={"xapi_account": "anon-other-8"}))
    credential, secret = create_credentials(services.redis, services.keys, "acme", "openedx", registered.issuer)
    auth = base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "X-Experience-API-Version": "1.0.3"}
    xapi = tool_server.app.test_client()
    for actor in ("anon-victim-7", "anon-other-8"):
        statement = openedx_problem_check(actor, str(uuid.uuid4()))
        assert xapi.post("/xapi/statements", json=statement, headers=headers).status_code == 200
    tool_server.drain()

    victim = learner_pseudonym(services.pseudonym_secret, registered.issuer, "victim-7")
    other = learner_pseudonym(services.pseudonym_secret, registered.issuer, "other-8")
    ids = [victim.encode(), b"victim-7", b"sis-victim-7", b"anon-victim-7"]
    stored = everything_stored(services.redis, services.keys.prefix)
    assert all(i in stored for i in ids)  # the scan finds them before
    assert services.learners.get("acme", victim) is not None

    cli_env(monkeypatch, services.settings)
    assert main(["forget-learner", "--tenant", "acme", "--lms-user", registered.issuer, "victim-7"]) == 0
    printed = capsys.readouterr().out
    assert f"forgot learner {victim}" in printed
    for kind in (
        "events in the log",
        "aliases",
        "AGS grade targets",
        "learner state",
        "processed-event marks",
        "xAPI statement records",
        "live launches",
    ):
        assert kind in printed, printed

    stored = everything_stored(services.redis, services.keys.prefix)
    assert [i for i in ids if i in stored] == []
    assert other.encode() in stored and b"anon-other-8" in stored  # the others stay

    replay(services, progress=lambda _: None)
    assert services.learners.get("acme", victim) is None and services.learners.get("acme", other) is not None
    out = io.BytesIO()
    export_events(services.redis, services.keys, services.settings.partitions, out)
    assert victim.encode() not in out.getvalue() and other.encode() in out.getvalue()
    assert [i for i in ids if i in everything_stored(services.redis, services.keys.prefix)] == []


def test_forget_learner_needs_one_learner(tool_server, capsys, monkeypatch):
    cli_env(monkeypatch, tool_server.services.settings)
    assert main(["forget-learner", "--tenant", "acme"]) == 2
    assert main(["forget-learner", "--tenant", "acme", "u-1", "--lms-user", "https://lms.example.com", "7"]) == 2
    assert main(["forget-learner", "--tenant", "acme", "u-nobody"]) == 0
    assert "nothing was stored" in capsys.readouterr().out
