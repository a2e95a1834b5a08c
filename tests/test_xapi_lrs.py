"""Beside the company's LRS, a real one (Ralph): every accepted statement is forwarded at
least once, with retries and dead letters; `skillgap xapi pull` reads an LRS's statements
into the intake, page by page and idempotently by statement id."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from core.services import build_services
from lms_helpers import cli_env, events_on_stream, xapi_headers
from lti_tool import create_app
from lti_tool.xapi.credentials import create_credentials
from lti_tool.xapi.forward import Forwarder
from lti_tool.xapi.lrs import Lrs
from lti_tool.xapi.pull import pull
from ralph_lrs import PASSWORD, USERNAME, ralph_lrs
from skillgap.cli import main
from skillgap.processes import free_port
from xapi_shapes import MOODLE, moodle_module_viewed, moodle_quiz_submitted


@pytest.fixture(scope="module")
def ralph(tmp_path_factory):
    with ralph_lrs(tmp_path_factory.mktemp("ralph")) as lrs:
        yield lrs


def _services(services, **settings):
    return build_services(services.settings.replace(**settings), services.redis)


@pytest.fixture
def forwarding(services, ralph):
    """Services forwarding to Ralph, with retries due at once."""
    return _services(
        services,
        xapi_forward_url=ralph.url,
        xapi_forward_username=USERNAME,
        xapi_forward_password=PASSWORD,
        xapi_forward_retry_base_s=0.001,
        xapi_forward_attempts=3,
    )


def _lrs(url: str) -> Lrs:
    return Lrs(url, USERNAME, PASSWORD, 10.0)


def _post(services, statements):
    headers = xapi_headers(services, "moodle", MOODLE)
    response = create_app(services=services).test_client().post("/xapi/statements", json=statements, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def _counts(services, tenant="acme"):
    raw = services.redis.hgetall(services.keys.xapi_counts(tenant))
    return {k.decode(): int(float(v)) for k, v in raw.items()}


def _user() -> str:
    return uuid.uuid4().hex[:12]


# --- forwarding --------------------------------------------------------------------------


def test_every_accepted_statement_reaches_the_lrs_with_the_id_it_was_given(forwarding, ralph):
    sent = [
        moodle_quiz_submitted(user_id=_user()),
        moodle_module_viewed(user_id=_user()),
        {**moodle_module_viewed(user_id=_user()), "id": str(uuid.uuid4())},
    ]
    ids = _post(forwarding, sent)
    assert Forwarder(forwarding, _lrs(ralph.url)).run(burst=True)
    stored = {s["id"]: s for s in ralph.statements()}
    assert all(statement_id in stored for statement_id in ids)
    assert stored[ids[0]]["actor"] == sent[0]["actor"] and stored[ids[0]]["result"] == sent[0]["result"]
    assert _counts(forwarding)["forwarded"] == 3
    assert forwarding.redis.xlen(forwarding.keys.xapi_forward) == 0  # delivered, deleted


def test_a_repeated_statement_is_forwarded_once(forwarding, ralph):
    statement = moodle_quiz_submitted(user_id=_user())
    (first,) = _post(forwarding, [statement])
    assert _post(forwarding, [statement]) == [first]
    Forwarder(forwarding, _lrs(ralph.url)).run(burst=True)
    assert _counts(forwarding)["forwarded"] == 1
    assert [s["id"] for s in ralph.statements()].count(first) == 1


def test_statements_wait_while_the_lrs_is_down_and_go_when_it_is_back(forwarding, ralph):
    ids = _post(forwarding, [moodle_module_viewed(user_id=_user()), moodle_quiz_submitted(user_id=_user())])
    down = Forwarder(forwarding, _lrs(f"http://127.0.0.1:{free_port()}/xAPI/"), consumer="c1")
    down.step()  # nothing listens there: the batch stays pending
    counts = _counts(forwarding)
    assert counts["forward_retried"] == 2 and "forwarded" not in counts
    time.sleep(0.01)
    Forwarder(forwarding, _lrs(ralph.url), consumer="c2").run(burst=True)
    assert set(ids) <= {s["id"] for s in ralph.statements()}
    assert _counts(forwarding)["forwarded"] == 2


def test_a_statement_the_lrs_holds_with_other_content_is_a_conflict(forwarding, ralph):
    statement = {**moodle_quiz_submitted(user_id=_user()), "id": str(uuid.uuid4())}
    assert ralph.post([{**statement, "result": {"completion": False}}]).status_code == 200
    _post(forwarding, [statement, moodle_module_viewed(user_id=_user())])
    Forwarder(forwarding, _lrs(ralph.url)).run(burst=True)
    counts = _counts(forwarding)
    assert (counts["forward_conflict"], counts["forwarded"]) == (1, 1)
    assert forwarding.redis.xlen(forwarding.keys.xapi_forward_dead) == 0


def test_a_statement_the_lrs_refuses_is_a_dead_letter_and_the_rest_go_through(forwarding, ralph):
    """logstore_xapi's `objectType: ["Agent"]` is accepted here (a counted deviation); an LRS
    may refuse it."""
    listed = moodle_quiz_submitted(user_id=_user(), actor={"objectType": ["Agent"], "mbox": "mailto:kim@example.com"})
    assert 400 <= ralph.post([{**listed, "id": str(uuid.uuid4())}]).status_code < 500  # Ralph refuses it
    good = moodle_module_viewed(user_id=_user())
    dead_id, good_id = _post(forwarding, [listed, good])
    Forwarder(forwarding, _lrs(ralph.url)).run(burst=True)
    counts = _counts(forwarding)
    assert (counts["forward_dead_letter"], counts["forwarded"]) == (1, 1)
    ((_, fields),) = forwarding.redis.xrange(forwarding.keys.xapi_forward_dead)
    assert dead_id.encode() in fields[b"statement"] and b"refused" in fields[b"reason"]
    assert good_id in {s["id"] for s in ralph.statements()}


def test_after_its_last_attempt_a_statement_is_a_dead_letter(forwarding):
    _post(forwarding, [moodle_module_viewed(user_id=_user())])
    down = Forwarder(forwarding, _lrs(f"http://127.0.0.1:{free_port()}/xAPI/"))
    for _ in range(5):
        down.step()
        time.sleep(0.01)
    counts = _counts(forwarding)
    assert (counts["forward_retried"], counts["forward_dead_letter"]) == (3, 1)
    assert forwarding.redis.xlen(forwarding.keys.xapi_forward) == 0


def test_nothing_is_queued_for_forwarding_without_a_forward_url(services):
    _post(services, [moodle_module_viewed()])
    assert services.redis.exists(services.keys.xapi_forward) == 0


# --- pulling -------------------------------------------------------------------------------


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


# Ralph's file system backend reads `since` as the statements' timestamp, not their stored
# time: the statements pulled here carry a timestamp of now.
def test_pull_reads_every_page_into_the_intake_once(services, ralph, monkeypatch, settings, capsys):
    credential, _ = create_credentials(services.redis, services.keys, "acme", "moodle", MOODLE)
    since = _iso(time.time())
    users = [_user() for _ in range(5)]
    statements = [
        {**moodle_quiz_submitted(user_id=u, timestamp=_iso(time.time())), "id": str(uuid.uuid4())} for u in users
    ]
    assert ralph.post(statements).status_code == 200
    counts = pull(services, _lrs(ralph.url), ralph.url, credential, since, page_size=2)
    assert (counts["pulled"], counts["events"]) == (5, 5)
    assert {e["id"] for e in events_on_stream(services)} == {s["id"] for s in statements}

    cli_env(
        monkeypatch,
        settings,
        SKILLGAP_XAPI_PULL_USERNAME=USERNAME,
        SKILLGAP_XAPI_PULL_PASSWORD=PASSWORD,
    )
    assert main(["xapi", "pull", "--lrs", ralph.url, "--key", credential.key, "--since", since]) == 0
    assert "5 statement(s) read" in capsys.readouterr().out
    assert len(events_on_stream(services)) == 5  # taken again: repeats, no new event
    assert _counts(services)["repeated"] == 5

    later = {**moodle_module_viewed(user_id=users[0], timestamp=_iso(time.time())), "id": str(uuid.uuid4())}
    assert ralph.post([later]).status_code == 200
    assert main(["xapi", "pull", "--lrs", ralph.url, "--key", credential.key]) == 0  # from the cursor
    assert "1 statement(s) read" in capsys.readouterr().out
    assert later["id"] in {e["id"] for e in events_on_stream(services)}


def test_pulled_statements_that_are_invalid_or_conflict_are_counted_and_skipped(services, ralph):
    credential, _ = create_credentials(services.redis, services.keys, "acme", "moodle", MOODLE)
    since = _iso(time.time())
    known = {**moodle_quiz_submitted(user_id=_user(), timestamp=_iso(time.time())), "id": str(uuid.uuid4())}
    _post(services, [known])  # taken here first
    changed = {**known, "result": {**known["result"], "success": False}}
    odd = {
        **moodle_module_viewed(user_id=_user(), timestamp=_iso(time.time())),
        "id": str(uuid.uuid4()),
        "verb": {"id": "http://id.tincanapi.com/verb/viewed", "display": {"a12345": "viewed"}},
    }  # not an RFC 5646 tag
    fine = {**moodle_module_viewed(user_id=_user(), timestamp=_iso(time.time())), "id": str(uuid.uuid4())}
    for statement in (changed, odd, fine):
        assert ralph.post([statement]).status_code == 200, statement
    counts = pull(services, _lrs(ralph.url), ralph.url, credential, since)
    assert (counts["pulled"], counts["pull_conflict"], counts["pull_invalid"]) == (3, 1, 1)
    assert fine["id"] in {e["id"] for e in events_on_stream(services)}


def test_pull_from_an_lrs_that_refuses_the_credentials_says_so(services, ralph, monkeypatch, settings, capsys):
    credential, _ = create_credentials(services.redis, services.keys, "acme", "moodle", MOODLE)
    cli_env(monkeypatch, settings)
    code = main(
        ["xapi", "pull", "--lrs", ralph.url, "--key", credential.key, "--username", USERNAME, "--password", "wrong"]
    )
    assert code != 0 and "401" in capsys.readouterr().err
